#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is missing, build with gcc,
# run every ctest test (unit, golden, e2e, compat, sim); run the unit tests
# under valgrind; build with clang under AddressSanitizer + UndefinedBehavior-
# Sanitizer and run the unit and e2e tests again; build the libFuzzer
# targets (clang) and run each for a bounded time on its seed corpus.  Long
# soaks are separate targets (see docs/).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

deploy/install-deps.sh --test
bash tests/compat/install.sh   # the S3 clients, FUSE where absent, npm ci

echo "== build (gcc)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
echo "== tests (gcc)"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== unit tests under valgrind (gcc build)"
tests/valgrind-unit.sh build

echo "== build (clang, ASan + UBSan)"
CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHM_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests (clang, ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -L 'unit|e2e'

echo "== build (clang, libFuzzer targets)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DHM_FUZZ=ON -DHM_TESTS=ON >/dev/null
cmake --build build-fuzz -j"$jobs" --target hm_fuzz
echo "== fuzz (bounded runs, label fuzz)"
ctest --test-dir build-fuzz --output-on-failure -j"$jobs" -L fuzz
