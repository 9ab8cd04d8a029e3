#!/usr/bin/env bash
# The write-ack rule (docs/adr/0010-write-ack-rule.md): five disks (2+2,
# floor 3).  With two disks gone a PUT is acknowledged degraded, its
# missing shard shows as a repair item in `hamster disk list`, `hamster
# status` and hamster_repair_items, and the object reads back.  With three
# gone the PUT is below the floor: 503 SlowDown, and the key is not listed.
source "$(dirname "$0")/lib.sh"

B=$HM_BUILD_DIR
port=$(free_port); mport=$(free_port); rpc=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
cd "$E2E_TMP"
serve() { start_serve data "$port" -listen "127.0.0.1:$rpc" -metrics "127.0.0.1:$mport" \
            -disks d0,d1,d2,d3,d4; }

serve
s3 s3 mb s3://rep >/dev/null
head -c $((300 << 10)) /dev/urandom > full
s3 s3api put-object --bucket rep --key full --body full >/dev/null || fail "put with every disk"
"$B/hamster" disk list -data-dir data > list0 || fail "disk list: $(cat list0)"
grep -q "^repair items: 0 " list0 || fail "repair items before any degraded write: $(cat list0)"
pass "a write with every disk leaves no repair item"

stop_pid "$SERVE_PID"
mv d1 d1.away; mv d3 d3.away
serve
head -c $((300 << 10)) /dev/urandom > deg
s3 s3api put-object --bucket rep --key deg --body deg >/dev/null || fail "degraded put refused"
"$B/hamster" disk list -data-dir data > list1 || fail "disk list: $(cat list1)"
grep -q "^repair items: 1 " list1 || fail "one repair item expected: $(cat list1)"
"$B/hamster" status -data-dir data > status || fail "status: $(cat status)"
grep -q "^repair items: 1 " status || fail "status shows no repair item: $(cat status)"
curl -sf "http://127.0.0.1:$mport/metrics" > m
grep -E '^hamster_repair_items 1$' m >/dev/null || fail "no gauge: $(grep repair m)"
s3 s3api get-object --bucket rep --key deg back >/dev/null || fail "degraded object unreadable"
cmp -s back deg || fail "degraded object read back wrong"
pass "a degraded write is acknowledged, its missing shard is a repair item, it reads back"

stop_pid "$SERVE_PID"
mv d4 d4.away
serve
head -c $((300 << 10)) /dev/urandom > low
if s3 s3api put-object --bucket rep --key low --body low >/dev/null 2>err; then
  fail "a put below the floor was acknowledged"
fi
grep -q SlowDown err || fail "below the floor: $(cat err)"
s3 s3api list-objects-v2 --bucket rep > ls || fail "list: $(cat ls)"
grep -q '"low"' ls && fail "the refused object is listed: $(cat ls)"
pass "below the floor a put answers 503 SlowDown and nothing becomes visible"
