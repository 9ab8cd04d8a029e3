#!/usr/bin/env bash
# Disk identity, never a silent format (docs/adr/0011-disk-identity.md):
# serve with three disks, stop, move one away; the restart serves degraded,
# names the lost disk by path and id in its log, in `hamster status` and in
# /health/ready, and does not re-create it.  A disk labelled for another
# cluster is refused; `hamster disk replace` formats a new one and the next
# start serves it.
source "$(dirname "$0")/lib.sh"

B=$HM_BUILD_DIR
port=$(free_port); mport=$(free_port); rpc=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
cd "$E2E_TMP"
serve() { start_serve data "$port" -listen "127.0.0.1:$rpc" -metrics "127.0.0.1:$mport" \
            -disks "$1"; }

serve d0,d1,d2
for d in d0 d1 d2; do [ -f $d/hamster-disk ] || fail "$d not formatted at first start"; done
s3 s3 mb s3://ids >/dev/null
for i in 1 2 3 4; do
  head -c $((100 << 10)) /dev/urandom > o$i
  s3 s3api put-object --bucket ids --key o$i --body o$i >/dev/null
done
"$B/hamster" disk list -data-dir data > list1 || fail "disk list: $(cat list1)"
id1=$(awk '$1 == 1 { print $3 }' list1)
[ ${#id1} -eq 32 ] || fail "no id for slot 1 in: $(cat list1)"
grep -c healthy list1 | grep -qx 3 || fail "three healthy disks expected: $(cat list1)"
pass "first start formats three disks; the registry lists them healthy"

stop_pid "$SERVE_PID"
mv d1 d1.away
: > data.log
serve d0,d1,d2
[ -e d1 ] && fail "the missing disk d1 was re-created"
grep '"level":"warn"' data.log | grep -F "disk d1 (slot 1, id $id1)" | grep -q missing ||
  fail "no warning naming d1 and its id: $(cat data.log)"
"$B/hamster" status -data-dir data > status || fail "status: $(cat status)"
grep -q "DEGRADED" status || fail "status does not say degraded: $(cat status)"
grep -E "^1 +missing +$id1 .* d1$" status >/dev/null || fail "status does not name d1: $(cat status)"
grep -q "erasure coding: 2+1" status || fail "status has no profile: $(cat status)"
code=$(curl -s -o ready -w '%{http_code}' "$ENDPOINT/health/ready")
[ "$code" = 200 ] || fail "ready with 2 of 3 disks (k = 2): $code"
grep -F "path d1 id $id1" ready >/dev/null || fail "ready body does not name d1: $(cat ready)"
curl -sf "http://127.0.0.1:$mport/metrics" > m
grep -E "^hamster_disk_state\{disk=\"1\",disk_id=\"$id1\",state=\"missing\"\} 1$" m >/dev/null ||
  fail "no missing state for disk 1: $(grep disk_state m)"
# No wrong byte: every object reads back whole or answers 503.
for i in 1 2 3 4; do
  if s3 s3api get-object --bucket ids --key o$i back >/dev/null 2>err; then
    cmp -s back o$i || fail "o$i returned wrong bytes"
  else
    grep -q ServiceUnavailable err || fail "o$i: $(cat err)"
  fi
done
pass "a moved-away disk: degraded start, named in log, status, ready and metrics; not re-created"

# A disk labelled for another cluster is refused, never taken over.
stop_pid "$SERVE_PID"
"$B/hamster-ctl" init -data-dir other -node n2 >/dev/null
sp=$(free_port)
"$B/hamster-shard" -data-dir other -disk foreign -slot 2 -format -listen "127.0.0.1:$sp" \
  2>shard.log &
SP=$!; E2E_PIDS+=("$SP")
wait_tcp "$sp"
stop_pid "$SP"
fid=$(grep -o 'formatted disk foreign as slot 2 (id [0-9a-f]*' shard.log | awk '{print $NF}')
: > data.log
serve d0,d1,foreign
grep '"level":"warn"' data.log | grep -F "disk foreign (slot 2, id $fid)" | grep -q foreign ||
  fail "no warning naming the foreign disk: $(cat data.log)"
code=$(curl -s -o ready -w '%{http_code}' "$ENDPOINT/health/ready")
[ "$code" = 503 ] || fail "ready with 1 of 3 disks: $code"
grep -F "path foreign id $fid" ready >/dev/null || fail "ready body: $(cat ready)"
pass "a foreign-cluster disk is refused; with fewer than k healthy disks ready is 503"

# Replace the lost disk: formatted by the verb, served after a restart.
"$B/hamster" disk replace -data-dir data -slot 1 -path d1 > repl || fail "replace: $(cat repl)"
grep -q "rebuild queued" repl || fail "replace did not queue the rebuild: $(cat repl)"
[ -f d1/hamster-disk ] || fail "replace did not format d1"
"$B/hamster" disk replace -data-dir data -slot 1 -path d1 > repl2 2>&1 &&
  fail "replacing onto a formatted disk was accepted"
stop_pid "$SERVE_PID"
serve d0,d1,d2
"$B/hamster" disk list -data-dir data > list2
id1b=$(awk '$1 == 1 { print $3 }' list2)
[ "$id1b" != "$id1" ] && [ ${#id1b} -eq 32 ] || fail "slot 1 kept the old id: $(cat list2)"
grep -E "^1 +healthy" list2 >/dev/null || fail "the new d1 is not healthy: $(cat list2)"
grep -q "rebuild queued: slot 1, disk $id1b replaces $id1" list2 || fail "no rebuild: $(cat list2)"
code=$(curl -s -o ready -w '%{http_code}' "$ENDPOINT/health/ready")
[ "$code" = 200 ] && [ ! -s ready ] || fail "ready after the replace: $code $(cat ready)"
stop_pid "$SERVE_PID"
pass "disk replace formats a new disk, queues its rebuild, and the next start serves it"
echo "test_disk_identity: all passed"
