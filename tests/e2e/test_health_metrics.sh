#!/usr/bin/env bash
# Health, metrics and the access log, through the real binary:
# - /health/live, /health/ready and the MinIO paths answer on the S3 port
#   without credentials and with nothing in the body; ready turns 503 while
#   a disk is gone and 200 when it is back;
# - /metrics on the -metrics listener is Prometheus text; scraped before
#   and after a known workload, the counters moved by exactly its amounts;
# - each request has an access log line (client, operation, bucket, key,
#   status, bytes in and out, duration, request id) and no log line holds
#   the secret, a signature or a credential, even for presigned URLs.
source "$(dirname "$0")/lib.sh"
cd "$E2E_TMP"
port=$(free_port); mport=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
start_serve data "$port" -disks "$E2E_TMP/d0" -metrics "127.0.0.1:$mport"
M="http://127.0.0.1:$mport/metrics"

# ---- health ---------------------------------------------------------------
for p in /health/live /health/ready /minio/health/live /minio/health/ready; do
  code=$(curl -s -o body -w '%{http_code}' "$ENDPOINT$p")
  [ "$code" = 200 ] || fail "GET $p: $code"
  [ ! -s body ] || fail "GET $p has a body: $(cat body)"
  code=$(curl -s -I -o /dev/null -w '%{http_code}' "$ENDPOINT$p")
  [ "$code" = 200 ] || fail "HEAD $p: $code"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/health/ready")
[ "$code" = 200 ] || fail "ready on the metrics port: $code"
# Anything else without credentials is still refused.
code=$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/health/other")
[ "$code" = 403 ] || fail "an unknown path answered $code without credentials"
pass "live and ready answer 200 with no body, unauthenticated, on both paths"

# ---- metrics before and after a workload -----------------------------------
# metric FILE 'name{labels}': the sample's value (0 when absent).
metric() {
  awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$1"
}
curl -sf "$M" > m0
head -c 1000 /dev/urandom > o1
head -c 200000 /dev/urandom > o2
head -c $((3 << 20)) /dev/urandom > o3
s3 s3 mb s3://metrics-b >/dev/null
for o in o1 o2 o3; do
  s3 s3api put-object --bucket metrics-b --key "dir/$o" --body "$o" >/dev/null
done
s3 s3api get-object --bucket metrics-b --key dir/o2 back >/dev/null
cmp -s back o2 || fail "o2 read back differs"
s3 s3api get-object --bucket metrics-b --key nope back 2>/dev/null && fail "missing key read"
curl -sf "$M" > m1

d() { # d 'sample': after - before
  echo $(( $(metric m1 "$1" | cut -d. -f1) - $(metric m0 "$1" | cut -d. -f1) ))
}
[ "$(d 'hamster_s3_requests_total{op="PutObject",status="200"}')" = 3 ] || fail "PutObject 200 count"
[ "$(d 'hamster_s3_requests_total{op="CreateBucket",status="200"}')" = 1 ] || fail "CreateBucket count"
[ "$(d 'hamster_s3_requests_total{op="GetObject",status="200"}')" = 1 ] || fail "GetObject 200 count"
[ "$(d 'hamster_s3_requests_total{op="GetObject",status="404"}')" = 1 ] || fail "GetObject 404 count"
[ "$(d 'hamster_s3_received_bytes_total{op="PutObject"}')" = $((1000 + 200000 + (3 << 20))) ] ||
  fail "bytes in: $(d 'hamster_s3_received_bytes_total{op="PutObject"}')"
out=$(d 'hamster_s3_sent_bytes_total{op="GetObject"}')
# 200000 body bytes plus the XML body of one NoSuchKey error.
[ "$out" -ge 200000 ] && [ "$out" -lt 201000 ] || fail "bytes out: $out"
[ "$(d 'hamster_s3_request_duration_seconds_count{op="PutObject"}')" = 3 ] || fail "latency count"
[ "$(d 'hamster_s3_request_duration_seconds_bucket{op="PutObject",le="+Inf"}')" = 3 ] || fail "latency +Inf"
[ "$(d 'hamster_fsyncs_total{kind="file"}')" -gt 0 ] || fail "no file fsync counted"
[ "$(d 'hamster_fsyncs_total{kind="dir"}')" -gt 0 ] || fail "no directory fsync counted"
[ "$(d 'hamster_fsyncs_total{kind="kv"}')" -gt 0 ] || fail "no metadata store sync counted"
grep -E '^hamster_fsyncs_total [0-9]' m1 >/dev/null && fail "an unlabelled fsync sample"
grep -E '^hamster_rpc_requests_total [0-9]+$' m1 >/dev/null || fail "rpc requests family"
[ "$(d hamster_meta_commit_batch_commands_count)" -ge 4 ] || fail "meta batches"
[ "$(d hamster_meta_commit_batch_commands_sum)" -ge 4 ] || fail "meta batch commands"
[ "$(d hamster_s3_connections_total)" -ge 5 ] || fail "connections"
grep -E '^hamster_disk_free_bytes\{disk="0",disk_id="[0-9a-f]{32}"\} [0-9]+$' m1 >/dev/null || fail "disk free"
grep -E '^hamster_disk_used_bytes\{disk="0"' m1 >/dev/null || fail "disk used"
grep -E '^hamster_gc_backlog_blobs [0-9]+$' m1 >/dev/null || fail "gc backlog"
grep -E '^hamster_intents_live [0-9]+$' m1 >/dev/null || fail "intents"
grep -E '^hamster_meta_log_bytes [0-9]+$' m1 >/dev/null || fail "log size"
grep -E '^hamster_shard_corruptions_total 0$' m1 >/dev/null || fail "corruptions"
# Every sample belongs to a family declared with HELP and TYPE, counters end
# in _total.
awk '/^# TYPE/ { t[$3] = $4 } !/^#/ { n = $1; sub(/\{.*/, "", n); b = n;
      sub(/_(bucket|sum|count)$/, "", b);
      if (!(n in t) && !(b in t)) { print "undeclared " n; bad = 1 }
      if (t[n] == "counter" && n !~ /_total$/) { print "counter " n; bad = 1 } }
      END { exit bad }' m1 || fail "metric names"
pass "metrics moved by the workload's exact amounts"

# Deleting an object queues its blob for the GC: the backlog shows it.
s3 s3 rm s3://metrics-b/dir/o3 >/dev/null
curl -sf "$M" > m2
[ "$(metric m2 hamster_gc_backlog_blobs)" -ge 1 ] || fail "gc backlog after a delete: $(metric m2 hamster_gc_backlog_blobs)"
pass "gc backlog counts the deleted object's blob"

# ---- ready follows the disk ----------------------------------------------------
mv d0 d0.away
code=$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/health/ready")
[ "$code" = 503 ] || fail "ready with the disk gone: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/health/live")
[ "$code" = 200 ] || fail "live with the disk gone: $code"
curl -sf "$M" > m3
grep -E '^hamster_disk_up\{disk="0",disk_id=""\} 0$' m3 >/dev/null || fail "disk_up not 0"
mv d0.away d0
code=$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/health/ready")
[ "$code" = 200 ] || fail "ready with the disk back: $code"
pass "ready is 503 while the disk is gone, 200 when it is back; live stays 200"

# ---- access log and redaction ---------------------------------------------------
grep -F 'access client=127.0.0.1:' data.log | grep -F 'op=PutObject bucket=metrics-b key=\"dir/o2\" status=200 in=200000 out=0 duration_ms=' >/dev/null ||
  fail "no access line for the PutObject: $(grep access data.log | head -3)"
grep -F 'op=GetObject bucket=metrics-b key=\"dir/o2\" status=200 in=0 out=200000' data.log >/dev/null ||
  fail "no access line for the GetObject"
line=$(grep -F 'op=GetObject bucket=metrics-b key=\"nope\" status=404' data.log) || fail "no 404 line"
echo "$line" | grep -E '"req":"[0-9A-F]{16}"' >/dev/null || fail "no request id: $line"
# Presigned URLs (good, tampered and with a wrong key) and a header-signed
# request: the log keeps none of their secrets.
url=$(s3 s3 presign s3://metrics-b/dir/o1 --expires-in 300)
curl -sf -o back "$url" || fail "presigned GET"
cmp -s back o1 || fail "presigned body"
sig=$(echo "$url" | sed 's/.*X-Amz-Signature=\([0-9a-f]*\).*/\1/')
[ ${#sig} = 64 ] || fail "no signature in $url"
curl -s -o /dev/null "${url%X-Amz-Signature=*}X-Amz-Signature=$(printf '0%.0s' $(seq 64))"
AWS_SECRET_ACCESS_KEY=wrong-secret-key-but-long s3 s3 ls s3://metrics-b >/dev/null 2>&1 || true
sleep 0.5
grep -F "$HAMSTER_SECRET_ACCESS_KEY" data.log >/dev/null && fail "the secret is in the log"
grep -F "$sig" data.log >/dev/null && fail "a signature is in the log"
grep -iE 'X-Amz-Signature|X-Amz-Credential|Authorization|AWS4-HMAC-SHA256 Credential' data.log >/dev/null &&
  fail "credentials are in the log: $(grep -iE 'X-Amz-Signature|X-Amz-Credential|Authorization' data.log | head -2)"
grep -F 'op=GetObject bucket=metrics-b key=\"dir/o1\" status=403' data.log >/dev/null ||
  fail "the tampered presigned GET has no access line"
pass "access lines carry client, op, bucket, key, status, bytes, duration, id; no secrets"
