#!/usr/bin/env bash
# Run every unit test binary of a build under valgrind memcheck: any invalid
# access, use of uninitialised memory or definite leak fails the run.
# Usage: tests/valgrind-unit.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
src=$(cd "$(dirname "$0")/.." && pwd)
export HM_SOURCE_DIR=$src HM_BUILD_DIR=$build HM_GOLDEN_DIR=$src/tests/golden
export CK_FORK=no                       # one process, so leaks are attributed
export HAMSTER_KV_MAP_BYTES=$((256 << 20))  # valgrind cannot map 64 GiB
export HM_TEST_NAMES_KEYS=2000          # test_meta_names: 10,000 keys take too long here
failed=0; ran=0
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  log="$build/valgrind-$name.log"
  ran=$((ran + 1))
  if timeout 600 valgrind -q --error-exitcode=99 --leak-check=full \
       --errors-for-leak-kinds=definite --show-leak-kinds=definite \
       "$t" >"$log" 2>&1; then
    echo "valgrind ok: $name"
  else
    echo "valgrind FAILED: $name (log: $log)"; tail -30 "$log"; failed=$((failed + 1))
  fi
done
echo "valgrind: $((ran - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
