#!/usr/bin/env bash
# `hamster serve -disks A,B`: one shard store per disk, objects spread over
# both by blob id, every object readable from the disk its manifest names,
# after a restart too; a disk that vanishes turns reads of its objects into
# clean errors, not wrong bytes.
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
[ $((n1 + n2)) -eq 16 ] || fail "expected 16 shard files, found $n1 + $n2"
[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] || fail "objects not spread over both disks ($n1, $n2)"
[ -f "$d1/hamster-disk" ] && [ -f "$d2/hamster-disk" ] || fail "disk identity missing"
cmp -s "$d1/hamster-disk" "$d2/hamster-disk" && fail "both disks have the same identity"
pass "16 objects spread over two disks ($n1 + $n2)"

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

# Start with only the first disk: objects on the missing one fail cleanly
# with 503 ServiceUnavailable (the disk may come back), never wrong bytes.
stop_pid "$SERVE_PID"
start_serve "$data" "$port" -disks "$d1"
ok=0; bad=0
for i in $(seq 1 16); do
  if s3 s3api get-object --bucket spread --key "o$i" "$E2E_TMP/back" >/dev/null 2>"$E2E_TMP/get.err"; then
    cmp -s "$E2E_TMP/back" "$E2E_TMP/o$i" || fail "o$i returned wrong bytes"
    ok=$((ok + 1))
  else
    grep -q ServiceUnavailable "$E2E_TMP/get.err" || fail "o$i: $(cat "$E2E_TMP/get.err")"
    bad=$((bad + 1))
  fi
done
[ "$ok" -eq "$n1" ] && [ "$bad" -eq "$n2" ] || fail "with one disk: $ok readable, $bad refused"
pass "a missing disk fails its objects cleanly ($bad refused, $ok intact)"
stop_pid "$SERVE_PID"
echo "test_disks: all passed"
