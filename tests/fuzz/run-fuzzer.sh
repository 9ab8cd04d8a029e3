#!/usr/bin/env bash
# Run one libFuzzer target for a bounded time on a copy of its seed corpus.
#   run-fuzzer.sh <fuzzer> <seed corpus dir> <work dir> <seconds>
# The work dir gets corpus/ (seeds plus what the run finds) and any
# crash-*/leak-*/timeout-* artifact.  Exits non-zero when the fuzzer found
# a crash, a leak, a timeout or ran out of memory.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus"
cp -r "$seeds"/. "$work/corpus/"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus"
