#!/usr/bin/env bash
# SigV2 against `hamster serve`: Debian's boto3 1.26 (header SigV2 with
# signature_version 's3', its default SigV2 presigned URLs, a SigV2 POST
# policy form) and curl with a hand-made "AWS AK:sig" header, each with the
# refusals SigV4 has (tampered, expired, skewed, wrong secret, unknown key),
# and the reason in the server's log without the secret.
source "$(dirname "$0")/lib.sh"

data="$E2E_TMP/data"
port=$(free_port)
start_serve "$data" "$port" -listen "127.0.0.1:$(free_port)"
ENDPOINT="http://127.0.0.1:$port"

$PY "$HM_SOURCE_DIR/tests/e2e/sigv2_boto3.py" "$ENDPOINT" "$HAMSTER_ACCESS_KEY_ID" \
  "$HAMSTER_SECRET_ACCESS_KEY" sigv2-bucket || fail "boto3 SigV2"

# curl with a SigV2 Authorization header made here (AWS's string to sign).
sign() { printf '%b' "$1" | openssl dgst -sha1 -hmac "$2" -binary | base64; }
date_hdr=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
sig=$(sign "GET\n\n\n$date_hdr\n/sigv2-bucket/dir/a%20b%2Bc.txt" "$HAMSTER_SECRET_ACCESS_KEY")
got=$(curl -s -o "$E2E_TMP/body" -w '%{http_code}' -H "Date: $date_hdr" \
  -H "Authorization: AWS $HAMSTER_ACCESS_KEY_ID:$sig" "$ENDPOINT/sigv2-bucket/dir/a%20b%2Bc.txt")
[ "$got" = 200 ] || { cat "$E2E_TMP/body" >&2; fail "curl SigV2 header GET: $got"; }
grep -q "sigv2 body" "$E2E_TMP/body" || fail "curl SigV2 GET returned other bytes"
# a PUT with Content-MD5 and Content-Type and an x-amz-meta header, all signed
printf 'curl body' >"$E2E_TMP/up"
md5b64=$(openssl dgst -md5 -binary "$E2E_TMP/up" | base64)
sig=$(sign "PUT\n$md5b64\ntext/plain\n$date_hdr\nx-amz-meta-from:curl\n/sigv2-bucket/curl.txt" \
  "$HAMSTER_SECRET_ACCESS_KEY")
got=$(curl -s -o "$E2E_TMP/body" -w '%{http_code}' -X PUT --data-binary @"$E2E_TMP/up" \
  -H "Date: $date_hdr" -H "Content-MD5: $md5b64" -H "Content-Type: text/plain" \
  -H "X-Amz-Meta-From: curl" -H "Authorization: AWS $HAMSTER_ACCESS_KEY_ID:$sig" \
  "$ENDPOINT/sigv2-bucket/curl.txt")
[ "$got" = 200 ] || { cat "$E2E_TMP/body" >&2; fail "curl SigV2 header PUT: $got"; }
grep -q '"from": "curl"' <<<"$(s3 s3api head-object --bucket sigv2-bucket --key curl.txt)" ||
  fail "the SigV2 PUT lost its metadata"
pass "curl: SigV2 header GET and PUT (Content-MD5, Content-Type, amz headers signed)"

# refusals: tampered path, wrong secret, unknown key, skewed clock, malformed
sig=$(sign "GET\n\n\n$date_hdr\n/sigv2-bucket/dir/a%20b%2Bc.txt" "$HAMSTER_SECRET_ACCESS_KEY")
expect_s3_error SignatureDoesNotMatch 403 -- -H "Date: $date_hdr" \
  -H "Authorization: AWS $HAMSTER_ACCESS_KEY_ID:$sig" "$ENDPOINT/sigv2-bucket/curl.txt"
bad=$(sign "GET\n\n\n$date_hdr\n/sigv2-bucket/curl.txt" "not-the-secret-0000")
expect_s3_error SignatureDoesNotMatch 403 -- -H "Date: $date_hdr" \
  -H "Authorization: AWS $HAMSTER_ACCESS_KEY_ID:$bad" "$ENDPOINT/sigv2-bucket/curl.txt"
expect_s3_error InvalidAccessKeyId 403 -- -H "Date: $date_hdr" \
  -H "Authorization: AWS AKIDNOSUCHKEY:$bad" "$ENDPOINT/sigv2-bucket/curl.txt"
old=$(LC_ALL=C date -u -d '-20 min' '+%a, %d %b %Y %H:%M:%S GMT')
sig=$(sign "GET\n\n\n$old\n/sigv2-bucket/curl.txt" "$HAMSTER_SECRET_ACCESS_KEY")
expect_s3_error RequestTimeTooSkewed 403 -- -H "Date: $old" \
  -H "Authorization: AWS $HAMSTER_ACCESS_KEY_ID:$sig" "$ENDPOINT/sigv2-bucket/curl.txt"
expect_s3_error AuthorizationHeaderMalformed 400 -- -H "Date: $date_hdr" \
  -H "Authorization: AWS $HAMSTER_ACCESS_KEY_ID" "$ENDPOINT/sigv2-bucket/curl.txt"
pass "curl: SigV2 refusals: tampered, wrong secret, unknown key, skewed, malformed"

# curl with a presigned URL (query auth), and one past its Expires
exp=$(( $(date +%s) + 300 ))
qs=$(sign "GET\n\n\n$exp\n/sigv2-bucket/curl.txt" "$HAMSTER_SECRET_ACCESS_KEY" |
  $PY -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.stdin.read().strip(),safe=""))')
curl -sf "$ENDPOINT/sigv2-bucket/curl.txt?AWSAccessKeyId=$HAMSTER_ACCESS_KEY_ID&Expires=$exp&Signature=$qs" |
  grep -q "curl body" || fail "curl presigned SigV2 GET"
past=$(( $(date +%s) - 5 ))
qs=$(sign "GET\n\n\n$past\n/sigv2-bucket/curl.txt" "$HAMSTER_SECRET_ACCESS_KEY" |
  $PY -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.stdin.read().strip(),safe=""))')
expect_s3_error AccessDenied 403 -- \
  "$ENDPOINT/sigv2-bucket/curl.txt?AWSAccessKeyId=$HAMSTER_ACCESS_KEY_ID&Expires=$past&Signature=$qs"
pass "curl: presigned SigV2 URL, and one past its Expires refused"

# aws CLI v1's `s3 presign` signs SigV2 too; run it where one is installed.
for a in $(type -ap aws); do
  if grep -q '^aws-cli/1\.' <<<"$("$a" --version 2>&1)"; then
    url=$("$a" --endpoint-url "$ENDPOINT" s3 presign s3://sigv2-bucket/curl.txt --expires-in 300)
    grep -q "AWSAccessKeyId=" <<<"$url" || fail "aws CLI v1 presign is not SigV2: $url"
    grep -q "curl body" <<<"$(curl -sf "$url")" || fail "aws CLI v1 presigned URL refused"
    pass "aws CLI v1 ($a) s3 presign URL"
    break
  fi
done

# The log says why each refusal happened, and never holds the secret.
grep -q 'authentication refused (SigV2): MISMATCH' "$data.log" || fail "no MISMATCH reason logged"
grep -q 'authentication refused (SigV2): EXPIRED' "$data.log" || fail "no EXPIRED reason logged"
grep -q 'authentication refused (SigV2): SKEWED' "$data.log" || fail "no SKEWED reason logged"
grep -q 'authentication refused (SigV2): UNKNOWN_KEY' "$data.log" || fail "no UNKNOWN_KEY reason logged"
grep -qF "$HAMSTER_SECRET_ACCESS_KEY" "$data.log" && fail "the secret is in the log"
pass "refusals logged with their reason, without the secret"
