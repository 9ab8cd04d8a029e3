#!/usr/bin/env bash
# `hamster serve -disks A,B`: one shard store per disk; two disks give the
# 1+1 profile, so every object has a shard on each, reads back after a
# restart, and still reads back whole when one disk is gone.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
data="$E2E_TMP/data"
d1="$E2E_TMP/disk-a"; d2="$E2E_TMP/disk-b"
start_serve "$data" "$port" -disks "$d1,$d2"

s3 s3 mb s3://spread >/dev/null
for i in $(seq 1 16); do
  head -c $((64 << 10)) /dev/urandom > "$E2E_TMP/o$i"
  s3 s3api put-object --bucket spread --key "o$i" --body "$E2E_TMP/o$i" >/dev/null
done
n1=$(find "$d1/shards" -type f | wc -l); n2=$(find "$d2/shards" -type f | wc -l)
[ "$n1" -eq 16 ] && [ "$n2" -eq 16 ] || fail "expected 16 shard files on each disk (1+1), found $n1 + $n2"
[ -f "$d1/hamster-disk" ] && [ -f "$d2/hamster-disk" ] || fail "disk identity missing"
cmp -s "$d1/hamster-disk" "$d2/hamster-disk" && fail "both disks have the same identity"
pass "16 objects, a shard of each on both disks ($n1 + $n2)"

check_all() {
  for i in $(seq 1 16); do
    s3 s3api get-object --bucket spread --key "o$i" "$E2E_TMP/back" >/dev/null
    cmp -s "$E2E_TMP/back" "$E2E_TMP/o$i" || fail "o$i differs"
  done
}
check_all
stop_pid "$SERVE_PID"
start_serve "$data" "$port" -disks "$d1,$d2"
check_all
pass "every object reads back, after a restart too"

# One disk gone: the node starts degraded (the disk is not re-created) and
# every object reads back whole from the other.
stop_pid "$SERVE_PID"
mv "$d2" "$E2E_TMP/disk-b.away"
start_serve "$data" "$port" -disks "$d1,$d2"
[ -e "$d2" ] && fail "the missing disk was re-created"
check_all
pass "with one of two disks gone every object reads back whole"
stop_pid "$SERVE_PID"
echo "test_disks: all passed"
