#!/usr/bin/env bash
# The test command (npm test): type-check, then every test file under test/ with Node's test runner.
# Node 20's runner does not expand globs, so the files are listed here.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc --noEmit
mapfile -t files < <(find test -name '*.test.ts' | sort)
exec node --import tsx --test --test-concurrency=1 "${files[@]}"
