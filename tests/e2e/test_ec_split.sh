#!/usr/bin/env bash
# The split daemons over real mTLS: hamster-meta, six hamster-shard (one disk
# each, the 4+2 profile) and hamster-gw.  Two shard daemons are killed with
# SIGKILL during an 8-client PUT load (sigkill_clients.py); with the two
# still down, every acknowledged object reads back whole (MD5).  The disk
# registry follows what the gateway sees: every slot healthy with its disk's
# path at start, the two killed daemons' slots failed ("does not answer")
# while they are down, healthy again once restarted.
source "$(dirname "$0")/lib.sh"

data="$E2E_TMP/node"
B=$HM_BUILD_DIR
meta_port=$(free_port); s3_port=$(free_port)
ENDPOINT="http://127.0.0.1:$s3_port"
"$B/hamster-ctl" init -data-dir "$data" -node n1 -listen "127.0.0.1:$meta_port" >/dev/null
"$B/hamster-meta" -data-dir "$data" -listen "127.0.0.1:$meta_port" 2>>"$data.meta.log" &
E2E_PIDS+=("$!")
addrs=""; SP=()
for i in 0 1 2 3 4 5; do
  p=$(free_port)
  "$B/hamster-shard" -data-dir "$data" -disk "$data/disk$i" -listen "127.0.0.1:$p" \
    -slot "$i" -format 2>>"$data.shard$i.log" &
  SP+=("$!"); E2E_PIDS+=("$!")
  wait_tcp "$p"
  addrs="$addrs${addrs:+,}127.0.0.1:$p"
done
wait_tcp "$meta_port"
"$B/hamster-gw" -data-dir "$data" -s3 "127.0.0.1:$s3_port" -meta "127.0.0.1:$meta_port" \
  -shards "$addrs" 2>>"$data.gw.log" &
E2E_PIDS+=("$!")
wait_http "$s3_port"

# `hamster-ctl disk list` until its output has $1 lines matching $2 (20 s).
wait_disks() {
  local want=$1 re=$2 n=0
  for _ in $(seq 1 80); do
    "$B/hamster-ctl" disk list -data-dir "$data" > "$E2E_TMP/disks" 2>&1 || true
    n=$(grep -cE "$re" "$E2E_TMP/disks" || true)
    [ "$n" = "$want" ] && return 0
    sleep 0.25
  done
  fail "disk list: $n lines match '$re', want $want: $(cat "$E2E_TMP/disks")"
}
wait_disks 6 '^[0-5] +healthy '
for i in 0 1 2 3 4 5; do
  grep -qE "^$i +healthy .* $data/disk$i\$" "$E2E_TMP/disks" ||
    fail "slot $i not recorded with its path: $(cat "$E2E_TMP/disks")"
done
pass "the gateway recorded six healthy disks with their paths"

run="$E2E_TMP/run"; mkdir -p "$run"
$PY "$HM_SOURCE_DIR/tests/e2e/sigkill_clients.py" setup "$ENDPOINT" "$run"
$PY "$HM_SOURCE_DIR/tests/e2e/sigkill_clients.py" run "$ENDPOINT" "$run" ecsplit \
  2>"$run/clients.err" &
CL=$!; E2E_PIDS+=("$CL")
sleep 6
kill -KILL "${SP[1]}"
sleep 3
kill -KILL "${SP[4]}"
sleep 6
touch "$run/stop"
wait "$CL" || fail "clients: $(tail "$run/clients.err")"
acked=$(cat "$run"/client-*.log | grep -c '^A ' || true)
[ "$acked" -ge 8 ] || fail "only $acked writes acknowledged"
out=$($PY "$HM_SOURCE_DIR/tests/e2e/sigkill_clients.py" verify "$ENDPOINT" "$run") ||
  fail "verify with two shard daemons down: $out"
kill -0 "${SP[1]}" 2>/dev/null && fail "shard 1 still running"
pass "two of six shard daemons killed under 8 clients: $acked acknowledged writes; $out"

wait_disks 2 '^[14] +failed '
[ "$(grep -c 'reason: shard daemon 127.0.0.1:[0-9]* does not answer' "$E2E_TMP/disks")" = 2 ] ||
  fail "no 'does not answer' reason: $(cat "$E2E_TMP/disks")"
grep -qE "^1 +failed .* $data/disk1\$" "$E2E_TMP/disks" ||
  fail "a down slot lost its path: $(cat "$E2E_TMP/disks")"
pass "the two killed daemons' slots are recorded failed, with their paths kept"

for i in 1 4; do
  p=$(echo "$addrs" | cut -d, -f$((i + 1))); p=${p##*:}
  "$B/hamster-shard" -data-dir "$data" -disk "$data/disk$i" -listen "127.0.0.1:$p" \
    -slot "$i" 2>>"$data.shard$i.log" &
  E2E_PIDS+=("$!")
  wait_tcp "$p"
done
wait_disks 6 '^[0-5] +healthy '
pass "restarted daemons are recorded healthy again"
echo "test_ec_split: all passed"
