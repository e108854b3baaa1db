#!/usr/bin/env bash
# Lints and type-checks the project's JavaScript: ESLint (tests/eslint.config.mjs) on the demo,
# the shared views, the extension, the wasm loader, the build scripts and the tests, and
# TypeScript's checker on their JSDoc types (`tsc --checkJs`, tests/tsconfig.json). Both come
# from npm under tests/ (scripts/setup.sh installs them). Exits non-zero on any finding.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=tests/node_modules/.bin
[ -x "$bin/eslint" ] && [ -x "$bin/tsc" ] || { echo "lint-js: eslint or tsc is missing: run scripts/setup.sh" >&2; exit 1; }
status=0
"$bin/eslint" -c tests/eslint.config.mjs --max-warnings 0 web extension crate/js tests scripts || status=1
"$bin/tsc" -p tests || status=1
files=$(git ls-files -co --exclude-standard -- 'web/*.js' 'web/ui/*.js' 'extension/*.js' 'extension/*.mjs' 'crate/js/*.js' 'tests/*.mjs' 'scripts/*.mjs' | wc -l)
if [ "$status" = 0 ]; then
  echo "lint-js: eslint and tsc --checkJs clean on $files files" >&2
else
  echo "lint-js: findings above" >&2
fi
exit $status
