#!/usr/bin/env bash
# The separate daemons, started by hand as docs/deploy.md shows: hamster-ctl
# init, hamster-meta, hamster-shard and hamster-gw over mTLS RPC, driven by
# the aws CLI; hamster-meta's and hamster-shard's -metrics listeners move with
# the workload; then a restart of every daemon finds the objects again.
source "$(dirname "$0")/lib.sh"

data="$E2E_TMP/node"
meta_port=$(free_port); shard_port=$(free_port); s3_port=$(free_port)
meta_mport=$(free_port); shard_mport=$(free_port)
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
  "$B/hamster-meta" -data-dir "$data" -listen "127.0.0.1:$meta_port" \
    -metrics "127.0.0.1:$meta_mport" 2>>"$data.meta.log" &
  META_PID=$!; E2E_PIDS+=("$META_PID")
  # shellcheck disable=SC2086
  "$B/hamster-shard" -data-dir "$data" -disk "$data/disk0" -listen "127.0.0.1:$shard_port" \
    -metrics "127.0.0.1:$shard_mport" $shard_flags 2>>"$data.shard.log" &
  SHARD_PID=$!; E2E_PIDS+=("$SHARD_PID")
  shard_flags="-slot 0"
  wait_tcp "$meta_port"; wait_tcp "$shard_port"; wait_tcp "$meta_mport"; wait_tcp "$shard_mport"
  "$B/hamster-gw" -data-dir "$data" -s3 "127.0.0.1:$s3_port" -meta "127.0.0.1:$meta_port" \
    -shards "127.0.0.1:$shard_port" 2>>"$data.gw.log" &
  GW_PID=$!; E2E_PIDS+=("$GW_PID")
  wait_http "$s3_port"
}
start_daemons

# metric FILE 'name{labels}': the sample's value (0 when absent).
metric() {
  awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$1"
}
# d BEFORE AFTER 'sample': after - before.
d() { echo $(( $(metric "$2" "$3" | cut -d. -f1) - $(metric "$1" "$3" | cut -d. -f1) )); }
MM="http://127.0.0.1:$meta_mport"; SM="http://127.0.0.1:$shard_mport"
for u in "$MM" "$SM"; do
  for p in /health/live /health/ready; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$u$p")
    [ "$code" = 200 ] || fail "$u$p: $code"
  done
  code=$(curl -s -o /dev/null -w '%{http_code}' "$u/other")
  [ "$code" = 404 ] || fail "$u/other: $code"
done
curl -sf "$MM/metrics" > "$E2E_TMP/meta0"; curl -sf "$SM/metrics" > "$E2E_TMP/shard0"

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

# The workload (one bucket, two PUTs, reads) moved each daemon's counters.
curl -sf "$MM/metrics" > "$E2E_TMP/meta1"; curl -sf "$SM/metrics" > "$E2E_TMP/shard1"
m0="$E2E_TMP/meta0"; m1="$E2E_TMP/meta1"; s0="$E2E_TMP/shard0"; s1="$E2E_TMP/shard1"
for f in "$m1" "$s1"; do
  grep -E '^hamster_build_info\{version="[^"]+"\} 1$' "$f" >/dev/null || fail "build info in $f"
  for k in file dir kv; do
    grep -E "^hamster_fsyncs_total\{kind=\"$k\"\} [0-9]+\$" "$f" >/dev/null || fail "fsyncs $k in $f"
  done
  # Every sample belongs to a family declared with TYPE; counters end in _total.
  awk '/^# TYPE/ { t[$3] = $4 } !/^#/ { n = $1; sub(/\{.*/, "", n); b = n;
        sub(/_(bucket|sum|count)$/, "", b);
        if (!(n in t) && !(b in t)) { print "undeclared " n; bad = 1 }
        if (t[n] == "counter" && n !~ /_total$/) { print "counter " n; bad = 1 } }
        END { exit bad }' "$f" || fail "metric names in $f"
done
# Metadata: the bucket and both objects were committed (a group commit, a
# log fsync and an LMDB sync each at least) over RPC; the log grew.
[ "$(d "$m0" "$m1" hamster_meta_commit_batch_commands_count)" -ge 3 ] || fail "meta batches"
[ "$(d "$m0" "$m1" hamster_meta_commit_batch_commands_sum)" -ge 3 ] || fail "meta commands"
[ "$(d "$m0" "$m1" 'hamster_fsyncs_total{kind="file"}')" -ge 3 ] || fail "meta log fsyncs"
[ "$(d "$m0" "$m1" 'hamster_fsyncs_total{kind="kv"}')" -ge 1 ] || fail "meta kv syncs"
[ "$(d "$m0" "$m1" hamster_rpc_requests_total)" -ge 5 ] || fail "meta rpc requests"
[ "$(d "$m0" "$m1" hamster_meta_log_bytes)" -gt 0 ] || fail "meta log did not grow"
# Shard: the big object's shard was written (one request) and read (one),
# synced (file) and made durable
# in its directory (dir); the small one lives inline in the metadata.  No
# metadata store and no commit batches in this process.
[ "$(d "$s0" "$s1" 'hamster_fsyncs_total{kind="file"}')" -ge 1 ] || fail "shard file fsyncs"
[ "$(d "$s0" "$s1" 'hamster_fsyncs_total{kind="dir"}')" -ge 1 ] || fail "shard dir fsyncs"
[ "$(metric "$s1" 'hamster_fsyncs_total{kind="kv"}')" = 0 ] || fail "shard kv syncs"
grep '^hamster_meta_' "$s1" >/dev/null && fail "metadata families in the shard daemon"
[ "$(d "$s0" "$s1" hamster_rpc_requests_total)" -ge 2 ] || fail "shard rpc requests"
grep -E '^hamster_disk_up\{disk_id="[0-9a-f]{32}"\} 1$' "$s1" >/dev/null || fail "shard disk up"
grep -E '^hamster_disk_free_bytes\{disk_id="[0-9a-f]{32}"\} [1-9][0-9]*$' "$s1" >/dev/null ||
  fail "shard disk free"
pass "meta and shard -metrics: health 200, counters moved with the workload"

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
