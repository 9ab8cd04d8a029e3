#!/usr/bin/env bash
# Never pretend: every protection Hamster does not provide yet (SSE-C,
# SSE-S3/KMS, Object Lock, ACLs that grant access, archive storage classes)
# is refused with the exact status and S3 code through the aws CLI and boto3
# (refusals_boto3.py), over HTTP and over HTTPS (where SSE-C writes become
# 501), and nothing refused leaves an object, bucket, upload, part or shard
# file behind.  What is true of every object is still accepted.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
data="$E2E_TMP/data"
start_serve "$data" "$port"
ENDPOINT="http://127.0.0.1:$port"

head -c $((100 << 10)) /dev/urandom > "$E2E_TMP/body"   # over the inline limit
key=0123456789abcdef0123456789abcdef

# cli_refused NAME STATUS CODE -- aws s3api args...: in the background (the
# CLI starts slowly; the calls are independent), the command must fail with
# that HTTP status (from the debug log) and S3 error code.  cli_wait checks.
CLI_JOBS=()
cli_refused() {
  local name=$1 status=$2 code=$3; shift 4
  ( if s3 --debug "$@" >/dev/null 2>"$E2E_TMP/cli.$name"; then
      echo "accepted" >"$E2E_TMP/cli.$name.fail"
    elif ! grep -q "($code)" "$E2E_TMP/cli.$name"; then
      echo "expected $code" >"$E2E_TMP/cli.$name.fail"
    elif ! grep -q "HTTP/1.1\" $status " "$E2E_TMP/cli.$name"; then
      echo "expected HTTP $status" >"$E2E_TMP/cli.$name.fail"
    fi ) &
  CLI_JOBS+=("$name:$!")
}
cli_wait() {
  local j name
  for j in "${CLI_JOBS[@]}"; do
    name=${j%%:*}
    wait "${j#*:}" || true
    if [ -e "$E2E_TMP/cli.$name.fail" ]; then
      grep -E 'HTTP/1.1"|An error occurred' "$E2E_TMP/cli.$name" >&2 || tail -3 "$E2E_TMP/cli.$name" >&2
      fail "aws CLI $name: $(cat "$E2E_TMP/cli.$name.fail")"
    fi
  done
  CLI_JOBS=()
}

# s3py setup BUCKET: the bucket, an object "plain" and an upload of "mpu"
#   (prints the upload id);  s3py abort BUCKET KEY UPLOAD_ID;
# s3py inventory BUCKET [KEY UPLOAD_ID]: buckets, keys, uploads (and parts).
# boto3 in one process: the aws CLI takes a second of CPU to start.
s3py() {
  $PY - "$ENDPOINT" "$@" <<'PYEOF'
import os, sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
cmd, b = sys.argv[2], sys.argv[3]
if cmd == "setup":
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="plain", Body=os.urandom(100 << 10))
    print(s3.create_multipart_upload(Bucket=b, Key="mpu")["UploadId"])
elif cmd == "abort":
    s3.abort_multipart_upload(Bucket=b, Key=sys.argv[4], UploadId=sys.argv[5])
else:
    print("buckets", *sorted(x["Name"] for x in s3.list_buckets()["Buckets"]))
    print("keys", *sorted(c["Key"] for c in s3.list_objects_v2(Bucket=b).get("Contents", [])))
    print("uploads", *sorted(u["Key"] for u in s3.list_multipart_uploads(Bucket=b).get("Uploads", [])))
    if len(sys.argv) > 4:
        parts = s3.list_parts(Bucket=b, Key=sys.argv[4], UploadId=sys.argv[5]).get("Parts", [])
        print("parts", *[p["PartNumber"] for p in parts])
PYEOF
}

shard_files() { find "$data/disks" -type f | sort; }

upload=$(s3py setup cli)
shard_files > "$E2E_TMP/shards.before"

put=(s3api put-object --bucket cli --key refused --body "$E2E_TMP/body")
cli_refused sse-s3 501 NotImplemented -- "${put[@]}" --server-side-encryption AES256
cli_refused sse-kms 501 NotImplemented -- "${put[@]}" --server-side-encryption aws:kms
cli_refused sse-c 400 InvalidRequest -- "${put[@]}" --sse-customer-algorithm AES256 --sse-customer-key "$key"
cli_refused lock-mode 400 InvalidRequest -- "${put[@]}" --object-lock-mode COMPLIANCE \
  --object-lock-retain-until-date 2030-01-01T00:00:00Z
cli_refused legal-hold 400 InvalidRequest -- "${put[@]}" --object-lock-legal-hold-status ON
cli_refused class 400 InvalidStorageClass -- "${put[@]}" --storage-class BOGUS
cli_refused acl 501 NotImplemented -- "${put[@]}" --acl public-read
cli_refused bucket-lock 501 NotImplemented -- s3api create-bucket --bucket cli-lock --object-lock-enabled-for-bucket
cli_refused bucket-sse 501 NotImplemented -- s3api put-bucket-encryption --bucket cli \
  --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
cli_refused bucket-lock-conf 501 NotImplemented -- s3api put-object-lock-configuration --bucket cli \
  --object-lock-configuration '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":1}}}'
cli_refused mpu-sse 501 NotImplemented -- s3api create-multipart-upload --bucket cli --key refused-mpu \
  --server-side-encryption aws:kms
cli_refused part-sse-c 400 InvalidRequest -- s3api upload-part --bucket cli --key mpu --upload-id "$upload" \
  --part-number 1 --body "$E2E_TMP/body" --sse-customer-algorithm AES256 --sse-customer-key "$key"
cli_refused copy-src-sse-c 400 InvalidRequest -- s3api copy-object --bucket cli --key refused-copy \
  --copy-source cli/plain --copy-source-sse-customer-algorithm AES256 --copy-source-sse-customer-key "$key"
cli_refused get-sse-c 400 InvalidRequest -- s3api get-object --bucket cli --key plain \
  --sse-customer-algorithm AES256 --sse-customer-key "$key" "$E2E_TMP/out"
cli_wait
pass "aws s3api: put-object (--server-side-encryption, --sse-customer-*, --object-lock-*, --storage-class, --acl), create-bucket --object-lock-enabled-for-bucket, put-bucket-encryption, put-object-lock-configuration, create-multipart-upload, upload-part and get-object with SSE-C, copy-object with copy-source SSE-C: refused"

# Nothing left behind.
inv=$(s3py inventory cli mpu "$upload")
[ "$inv" = "$(printf 'buckets cli\nkeys plain\nuploads mpu\nparts')" ] || fail "left behind: $inv"
shard_files > "$E2E_TMP/shards.after"
cmp -s "$E2E_TMP/shards.before" "$E2E_TMP/shards.after" || fail "refused requests wrote shard files"
pass "nothing left behind: objects, uploads, parts, buckets and shard files unchanged"

# Accepted: what is true of every object.
s3 s3api put-object --bucket cli --key std --body "$E2E_TMP/body" --storage-class STANDARD \
  --acl private >/dev/null &
accepted=$!
s3 s3api put-object --bucket cli --key owner --body "$E2E_TMP/body" --acl bucket-owner-full-control >/dev/null
wait "$accepted" || fail "put-object --storage-class STANDARD --acl private was refused"
s3py abort cli mpu "$upload"
inv=$(s3py inventory cli)
[ "$inv" = "$(printf 'buckets cli\nkeys owner plain std\nuploads')" ] || fail "accepted writes: $inv"
pass "aws s3api put-object --storage-class STANDARD --acl private, --acl bucket-owner-full-control: accepted"

# Every refused row through boto3, over HTTP.
$PY "$HM_SOURCE_DIR/tests/e2e/refusals_boto3.py" "$ENDPOINT" http
stop_pid "$SERVE_PID"

# Over HTTPS: SSE-C writes are 501, SSE-C reads 400.
tport=$(free_port)
tdata="$E2E_TMP/tdata"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$E2E_TMP/s3.key" -out "$E2E_TMP/s3.crt" 2>/dev/null
"$HM_BUILD_DIR/hamster" serve -data-dir "$tdata" -s3 "127.0.0.1:$tport" \
  -tls-cert "$E2E_TMP/s3.crt" -tls-key "$E2E_TMP/s3.key" 2>>"$tdata.log" &
SERVE_PID=$!; E2E_PIDS+=("$SERVE_PID")
ENDPOINT="https://127.0.0.1:$tport"
up=0
for _ in $(seq 1 600); do   # 60 s: a loaded machine starts TLS slowly
  if curl -s -o /dev/null --cacert "$E2E_TMP/s3.crt" "$ENDPOINT/"; then up=1; break; fi
  sleep 0.1
done
[ "$up" = 1 ] || fail "the HTTPS server does not answer on port $tport"
export AWS_CA_BUNDLE="$E2E_TMP/s3.crt"
s3py setup tls >/dev/null
cli_refused tls-sse-c 501 NotImplemented -- s3api put-object --bucket tls --key k --body "$E2E_TMP/body" \
  --sse-customer-algorithm AES256 --sse-customer-key "$key"
cli_wait
inv=$(s3py inventory tls)
[ "$inv" = "$(printf 'buckets tls\nkeys plain\nuploads mpu')" ] || fail "a refused SSE-C put over HTTPS left: $inv"
pass "aws s3api put-object with SSE-C over HTTPS: 501 NotImplemented, nothing stored"
$PY "$HM_SOURCE_DIR/tests/e2e/refusals_boto3.py" "$ENDPOINT" https
stop_pid "$SERVE_PID"
echo "test_refusals: all passed"
