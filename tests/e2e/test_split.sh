#!/usr/bin/env bash
# The separate daemons, started by hand as docs/deploy.md shows: hamster-ctl
# init, hamster-meta, hamster-shard and hamster-gw over mTLS RPC, driven by
# the aws CLI; then a restart of every daemon finds the objects again.
source "$(dirname "$0")/lib.sh"

data="$E2E_TMP/node"
meta_port=$(free_port); shard_port=$(free_port); s3_port=$(free_port)
ENDPOINT="http://127.0.0.1:$s3_port"
B=$HM_BUILD_DIR

"$B/hamster-ctl" init -data-dir "$data" -node n1 -listen "127.0.0.1:$meta_port" >/dev/null
[ "$(stat -c %a "$data/tls/node.key")" = 600 ] || fail "node key mode"
[ "$(stat -c %a "$data/tls/ca.key")" = 600 ] || fail "CA key mode"
[ "$(stat -c %a "$data/tls")" = 700 ] || fail "tls dir mode"
pass "init wrote the CA and node certificate with private modes"

# The first start formats the disk (the operator's act of creating the
# store); later starts only open it, checked against the cluster and slot.
shard_flags="-slot 0 -format"
start_daemons() {
  "$B/hamster-meta" -data-dir "$data" -listen "127.0.0.1:$meta_port" 2>>"$data.meta.log" &
  META_PID=$!; E2E_PIDS+=("$META_PID")
  # shellcheck disable=SC2086
  "$B/hamster-shard" -data-dir "$data" -disk "$data/disk0" -listen "127.0.0.1:$shard_port" \
    $shard_flags 2>>"$data.shard.log" &
  SHARD_PID=$!; E2E_PIDS+=("$SHARD_PID")
  shard_flags="-slot 0"
  wait_tcp "$meta_port"; wait_tcp "$shard_port"
  "$B/hamster-gw" -data-dir "$data" -s3 "127.0.0.1:$s3_port" -meta "127.0.0.1:$meta_port" \
    -shards "127.0.0.1:$shard_port" 2>>"$data.gw.log" &
  GW_PID=$!; E2E_PIDS+=("$GW_PID")
  wait_http "$s3_port"
}
start_daemons

s3 s3 mb s3://split >/dev/null
head -c $((3 << 20)) /dev/urandom > "$E2E_TMP/big"
printf 'small' > "$E2E_TMP/small"
s3 s3api put-object --bucket split --key big --body "$E2E_TMP/big" >/dev/null
s3 s3api put-object --bucket split --key small --body "$E2E_TMP/small" >/dev/null
check() {
  for o in big small; do
    s3 s3api get-object --bucket split --key "$o" "$E2E_TMP/back" >/dev/null
    cmp -s "$E2E_TMP/back" "$E2E_TMP/$o" || fail "$o differs"
  done
  keys=$(s3 s3api list-objects-v2 --bucket split --query 'Contents[].Key' --output text)
  [ "$keys" = "$(printf 'big\tsmall')" ] || fail "listing: $keys"
}
check
pass "put, get, list through the split daemons"

# A shard is a file under the disk, named from ids, never from the key.
find "$data/disk0/shards" -type f | grep . >/dev/null || fail "no shard file written"
if find "$data/disk0" | grep big >/dev/null ; then fail "object key reached a path"; fi

# The RPC port refuses a TLS client that presents no certificate: TLS 1.3
# reports it with a "certificate required" alert once the client reads.
out=$( (sleep 1; printf 'x') | timeout 10 openssl s_client -connect "127.0.0.1:$meta_port" \
      -tls1_3 -CAfile "$data/tls/ca.crt" 2>&1 || true)
echo "$out" | grep -i 'certificate required' >/dev/null || { echo "$out" >&2; fail "no-certificate client not refused"; }
pass "meta refuses a client without a certificate"

stop_pid "$GW_PID"; stop_pid "$SHARD_PID"; stop_pid "$META_PID"
start_daemons
check
pass "restart of every daemon finds the objects"

# A node started with another root key refuses to start.
if HAMSTER_SECRET_ACCESS_KEY=another-secret-123 timeout 10 "$B/hamster-meta" \
     -data-dir "$data" -listen 127.0.0.1:0 2>"$E2E_TMP/wrongkey.log"; then
  fail "meta started with a different root key"
fi
pass "a different root key is refused"
stop_pid "$GW_PID"; stop_pid "$SHARD_PID"; stop_pid "$META_PID"
echo "test_split: all passed"
