// Command xcrypto decodes a PKCS#12 bundle with golang.org/x/crypto/pkcs12 and
// describes the decoded key and certificate for Python tests to check.
//
// Standard input is a JSON object {"password": "...", "pfx": "<base64>"}. Standard
// output is one JSON object describing the result. A decode failure is reported in
// that object with exit status 0, because it is an expected outcome for the
// tests. Exit status 2 means the input itself could not be read. The password and
// private key are never written out.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/crypto/pkcs12"
)

type request struct {
	Password string `json:"password"`
	PFX      []byte `json:"pfx"`
}

type result struct {
	OK                         bool   `json:"ok"`
	Error                      string `json:"error,omitempty"`
	KeyType                    string `json:"key_type,omitempty"`
	KeyBits                    int    `json:"key_bits,omitempty"`
	PublicKeySHA256            string `json:"public_key_sha256,omitempty"`
	CertificateSHA256          string `json:"certificate_sha256,omitempty"`
	CertificateSubject         string `json:"certificate_subject,omitempty"`
	CertificatePublicKeySHA256 string `json:"certificate_public_key_sha256,omitempty"`
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "invalid request on standard input:", err)
		os.Exit(2)
	}

	var res result
	key, cert, err := pkcs12.Decode(req.PFX, req.Password)
	if err != nil {
		res.Error = err.Error()
	} else {
		res = describe(key, cert)
	}

	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "failed to write the result:", err)
		os.Exit(2)
	}
}

// describe summarises a decoded key and certificate by type, size and SHA-256
// fingerprints, which identify them without revealing the private key.
func describe(key interface{}, cert *x509.Certificate) result {
	res := result{OK: true}

	switch k := key.(type) {
	case *rsa.PrivateKey:
		res.KeyType = "RSA"
		res.KeyBits = k.N.BitLen()
	case *ecdsa.PrivateKey:
		res.KeyType = "ECDSA"
		res.KeyBits = k.Curve.Params().BitSize
	default:
		res.KeyType = fmt.Sprintf("%T", key)
	}

	// Every private key type in the standard library implements crypto.Signer,
	// which gives the public half for a fingerprint.
	if signer, ok := key.(crypto.Signer); ok {
		res.PublicKeySHA256 = spkiFingerprint(signer.Public())
	}

	if cert != nil {
		digest := sha256.Sum256(cert.Raw)
		res.CertificateSHA256 = hex.EncodeToString(digest[:])
		res.CertificateSubject = cert.Subject.String()
		res.CertificatePublicKeySHA256 = spkiFingerprint(cert.PublicKey)
	}
	return res
}

// spkiFingerprint returns the hex SHA-256 of a public key's SubjectPublicKeyInfo
// DER, or "" when the key cannot be marshalled.
func spkiFingerprint(public crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(public)
	if err != nil {
		return ""
	}
	digest := sha256.Sum256(der)
	return hex.EncodeToString(digest[:])
}
