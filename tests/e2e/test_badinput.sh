#!/usr/bin/env bash
# Hostile and broken requests against `hamster serve`: each gets the S3 error
# AWS would send, the server stays up, and nothing half-written is visible.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
data="$E2E_TMP/data"
start_serve "$data" "$port"
s3 s3 mb s3://safe >/dev/null
req() { $PY "$HM_SOURCE_DIR/tests/e2e/s3req.py" --access "$AWS_ACCESS_KEY_ID" \
          --secret "$AWS_SECRET_ACCESS_KEY" "$@"; }

# expect STATUS CODE -- output of req: first line status, then the body.
expect() {
  local status=$1 code=$2 out=$3
  [ "$(head -n1 <<<"$out")" = "$status" ] || { echo "$out" >&2; fail "want $status $code"; }
  grep -q "<Code>$code</Code>" <<<"$out" || { echo "$out" >&2; fail "want $code"; }
  grep -q "<RequestId>" <<<"$out" || fail "no RequestId in $code"
}

out=$(req GET "$ENDPOINT/safe" --authorization "AWS4-HMAC-SHA256 Credential=oops")
expect 400 AuthorizationHeaderMalformed "$out"
out=$(req GET "$ENDPOINT/safe" --authorization "Basic dXNlcjpwYXNz")
[ "$(head -n1 <<<"$out")" = 400 ] || [ "$(head -n1 <<<"$out")" = 403 ] || fail "basic auth: $out"
pass "malformed Authorization headers refused"

out=$(req GET "$ENDPOINT/safe" --secret wrong-secret-wrong-secret)
expect 403 SignatureDoesNotMatch "$out"
pass "wrong signature refused"

out=$(req GET "$ENDPOINT/safe" --skew-seconds 3600)
expect 403 RequestTimeTooSkewed "$out"
out=$(req GET "$ENDPOINT/safe" --skew-seconds -3600)
expect 403 RequestTimeTooSkewed "$out"
pass "skewed dates refused both ways"

out=$(req GET "$ENDPOINT/safe" --unsigned)
expect 403 AccessDenied "$out"
pass "anonymous request refused"

for name in Bad_Bucket ab "$(printf 'a%.0s' $(seq 1 64))" -leading 192.168.1.1 'a..b'; do
  out=$(req PUT "$ENDPOINT/$name")
  expect 400 InvalidBucketName "$out"
done
pass "bad bucket names refused"

# Header sections.  S3 bounds the section (HM_HTTP_HEADERS_BYTES_MAX, 16
# KiB); libmicrohttpd would admit anything that fits a connection's memory
# pool (64 KiB), so the gateway checks the bound itself: a signed PUT with
# a 17 KiB header is RequestHeaderSectionTooLarge, stores nothing, and the
# same PUT with a 12 KiB header goes through.
out=$(req PUT "$ENDPOINT/safe/hdr-big" --body-bytes 10 \
  --header "x-amz-meta-big: $(head -c 17000 /dev/zero | tr '\0' 'a')")
expect 400 RequestHeaderSectionTooLarge "$out"
if s3 s3api head-object --bucket safe --key hdr-big 2>/dev/null; then fail "oversized header stored"; fi
out=$(req PUT "$ENDPOINT/safe/hdr-ok" --body-bytes 10 \
  --header "x-amz-tagging: t=$(head -c 12000 /dev/zero | tr '\0' 'a')")
[ "$(head -n1 <<<"$out")" != 400 ] || ! grep -q RequestHeaderSectionTooLarge <<<"$out" ||
  fail "12 KiB header section refused as too large"
# Beyond the bound by far (40 KiB, inside the pool): the gateway's answer.
big=$(head -c 40000 /dev/zero | tr '\0' 'a')
out=$(curl -s -w '\n%{http_code}' -H "x-amz-meta-big: $big" "$ENDPOINT/safe/x" || true)
[ "$(tail -n1 <<<"$out")" = 400 ] || fail "40 KiB header section answered $(tail -n1 <<<"$out")"
grep -q "<Code>RequestHeaderSectionTooLarge</Code>" <<<"$out" || fail "40 KiB header: $out"
# Beyond the pool (70 and 300 KiB): libmicrohttpd refuses it before the gateway
# sees it (an HTTP error or a closed connection), and the server lives on.
for size in 70000 300000; do
code=$($PY - "$port" "$size" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
try:
    s.sendall(b"GET /safe/x HTTP/1.1\r\nHost: x\r\nx-amz-meta-big: " + b"a" * int(sys.argv[2]) +
              b"\r\n\r\n")
    line = s.recv(4096).split(b"\r\n")[0].split()
    print(line[1].decode() if len(line) > 1 else "closed")
except OSError:
    print("closed")
PYEOF
)
case "$code" in 400|413|431|closed) ;; *) fail "$size-byte header section answered $code";; esac
done
s3 s3 ls s3://safe >/dev/null || fail "server down after oversized headers"
pass "header sections over 16 KiB refused (RequestHeaderSectionTooLarge; beyond the pool: $code)"

# A payload hash that does not match the body: refused, nothing stored.
# Sign a real (wrong) payload hash, as SDKs do for small bodies.
out=$($PY - "$ENDPOINT" <<'PYEOF'
import sys, hashlib, http.client, urllib.parse
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
import os
ep = sys.argv[1]
# Sign over one body (botocore hashes it into x-amz-content-sha256), send another.
req = AWSRequest(method="PUT", url=ep + "/safe/hashed", data=b"y" * 100)
body = b"x" * 100
S3SigV4Auth(Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]),
            "s3", "us-east-1").add_auth(req)
u = urllib.parse.urlsplit(ep)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
c.request("PUT", "/safe/hashed", body=body, headers=dict(req.headers.items()))
r = c.getresponse()
print(r.status)
print(r.read().decode())
PYEOF
)
expect 400 XAmzContentSHA256Mismatch "$out"
if s3 s3api head-object --bucket safe --key hashed 2>/dev/null; then fail "mismatched body stored"; fi
pass "payload hash mismatch refused, nothing stored"

# A truncated upload: the client promises 8 MiB, sends 1 MiB and hangs up.
# Nothing becomes visible and no temporary shard file is left behind.
for n in 0 100 1048576; do
  req PUT "$ENDPOINT/safe/truncated" --body-bytes $((8 << 20)) --send-bytes "$n" >/dev/null
done
req PUT "$ENDPOINT/safe/truncated-small" --body-bytes 1000 --send-bytes 10 >/dev/null
for _ in $(seq 1 50); do
  left=$(find "$data/disks/disk0/tmp" -type f | wc -l)
  [ "$left" -eq 0 ] && break
  sleep 0.1
done
[ "$left" -eq 0 ] || fail "$left temporary files left after truncated uploads"
keys=$(s3 s3api list-objects-v2 --bucket safe --query 'Contents[].Key' --output text)
[ "$keys" = "None" ] || [ -z "$keys" ] || fail "truncated upload visible: $keys"
if s3 s3api head-object --bucket safe --key truncated 2>/dev/null; then fail "truncated object readable"; fi
pass "truncated uploads leave nothing"

# After all of it the server still works normally.
echo hello > "$E2E_TMP/h"
s3 s3 cp "$E2E_TMP/h" s3://safe/h >/dev/null
s3 s3 cp s3://safe/h "$E2E_TMP/h.back" >/dev/null
cmp -s "$E2E_TMP/h" "$E2E_TMP/h.back" || fail "server broken after bad input"
grep -q '"level":"error"' "$data.log" && grep '"level":"error"' "$data.log" | head -5
stop_pid "$SERVE_PID"
echo "test_badinput: all passed"
