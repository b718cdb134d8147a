#!/usr/bin/env bash
# Runs every test of Illust Only from a fresh machine: set-up, build, then each suite in turn.
# Suites: native Catch2 (ctest), fuzz smoke, Python, node:test (wasm core, CLI, model), e2e (Playwright in
# Chromium; the extension and the demo also in firefox-esr through puppeteer-core, tests/e2e/*-firefox.test.mjs).
# ILLUST_ONLY_DATA points at the real images (default ../shared/data); tests that need them say so when
# it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
export ILLUST_ONLY_DATA="${ILLUST_ONLY_DATA:-$(cd .. && pwd)/shared/data}"
[[ -d $ILLUST_ONLY_DATA ]] || echo "test: NOTE real-image data not found at $ILLUST_ONLY_DATA: tests that need it will skip"

bash tools/setup.sh
npm run build

failed=()
suite() { local name=$1; shift; echo; echo "=== $name ==="; if "$@"; then echo "=== $name: passed"; else echo "=== $name: FAILED"; failed+=("$name"); fi; }

suite native bash -c 'cmake -S . -B build/native -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null && cmake --build build/native && ctest --test-dir build/native --output-on-failure'
[[ -f tools/fuzz-smoke.sh ]] && suite fuzz-smoke bash tools/fuzz-smoke.sh
suite python /usr/bin/python3 -m unittest discover -s tests/python -t . -v
shopt -s nullglob
node_tests=(tests/node/*.test.mjs); ((${#node_tests[@]})) && suite node node --test --test-concurrency=1 "${node_tests[@]}"
e2e_tests=(tests/e2e/*.test.mjs); ((${#e2e_tests[@]})) && suite e2e node --test --test-concurrency=1 "${e2e_tests[@]}"

echo
if ((${#failed[@]})); then echo "test: FAILED suites: ${failed[*]}"; exit 1; fi
echo "test: all suites passed"
