#!/usr/bin/env bash
# The S3 request surface through the aws CLI's s3api commands (and curl
# where the CLI has no flag): listings v1 and v2 over 1,200 keys with hard
# names, paginated and url-encoded; batch delete of 1000 keys; tagging;
# conditional PUT; ranges; presigned URLs incl. an expired one; bucket CORS
# and a browser preflight; virtual-hosted addressing.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
start_serve "$E2E_TMP/data" "$port" -domain s3.test
SIGV4=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
       -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")

s3 s3api create-bucket --bucket api >/dev/null

# ---- listings -----------------------------------------------------------
# 1,200 keys: 1,190 plain ones in 7 "directories" and 10 hard names.
src="$E2E_TMP/src"
mkdir -p "$src"
for d in 0 1 2 3 4 5 6; do mkdir -p "$src/d$d"; done
for i in $(seq 0 1189); do printf '%s' "$i" > "$src/d$((i % 7))/k$(printf '%04d' "$i")"; done
hard=("with space.txt" "plus+sign.txt" "percent%41.txt" "uni-ünïcødé-ファイル.txt"
      "emoji-😀" "amp&and=eq" "quote'single" "paren(1).png" "tilde~x" "star*x")
for h in "${hard[@]}"; do printf '%s' "$h" > "$src/$h"; done
s3 s3 cp --recursive --quiet "$src" s3://api/ || fail "bulk upload"

n=$(s3 s3api list-objects --bucket api --page-size 100 --query 'length(Contents)' --output json)
[ "$n" = 1200 ] || fail "list-objects (v1) paginated by 100 saw $n keys"
n=$(s3 s3api list-objects-v2 --bucket api --page-size 333 --query 'length(Contents)' --output json)
[ "$n" = 1200 ] || fail "list-objects-v2 paginated by 333 saw $n keys"
pass "v1 and v2 listings page through 1,200 keys"

# v1 with a delimiter: NextMarker drives the pages, prefixes roll up.
out=$(s3 s3api list-objects --bucket api --delimiter / --page-size 3 --output json)
for d in 0 1 2 3 4 5 6; do
  echo "$out" | grep "\"Prefix\": \"d$d/\"" >/dev/null || fail "prefix d$d/ missing"
done
for h in "${hard[@]}"; do
  esc=$($PY -c 'import json,sys; print(json.dumps(sys.argv[1], ensure_ascii=False)[1:-1])' "$h")
  echo "$out" | grep -F "\"Key\": \"$esc\"" >/dev/null || fail "key '$h' missing from the v1 listing"
done
[ "$(echo "$out" | grep -c '"Key": ')" = 10 ] || fail "v1 delimiter listing keys"
pass "v1 with --delimiter / and 3 per page: 7 prefixes, 10 hard names"

# --max-items / --starting-token: the CLI's own pagination on top.
tok=$(s3 s3api list-objects --bucket api --prefix d3/ --max-items 50 --page-size 20 \
        --query NextToken --output json | tr -d '"')
[ -n "$tok" ] && [ "$tok" != None ] || fail "no NextToken from --max-items"
rest=$(s3 s3api list-objects --bucket api --prefix d3/ --starting-token "$tok" \
        --query 'length(Contents)' --output json)
[ "$rest" = 120 ] || fail "after 50 of 170 keys under d3/ the rest is $rest"
pass "--max-items 50 then --starting-token finds the other 120"

# Explicit url encoding shows AWS's form; default output is decoded.
enc=$(s3 s3api list-objects-v2 --bucket api --encoding-type url --delimiter / \
        --query 'Contents[].Key' --output text)
echo "$enc" | grep -F 'with+space.txt' >/dev/null || fail "url-encoded space: $enc"
echo "$enc" | grep -F 'plus%2Bsign.txt' >/dev/null || fail "url-encoded plus: $enc"
echo "$enc" | grep -F 'percent%2541.txt' >/dev/null || fail "url-encoded percent: $enc"
dec=$(s3 s3api list-objects-v2 --bucket api --delimiter / --query 'Contents[].Key' --output text)
echo "$dec" | grep -F 'uni-ünïcødé-ファイル.txt' >/dev/null || fail "decoded unicode: $dec"
pass "list-objects-v2 --encoding-type url"

# Every hard name reads back byte for byte.
for h in "${hard[@]}"; do
  s3 s3api get-object --bucket api --key "$h" "$E2E_TMP/back" >/dev/null
  [ "$(cat "$E2E_TMP/back")" = "$h" ] || fail "get of '$h'"
done
pass "hard names round-trip through GET"

# ---- batch delete ----------------------------------------------------------
$PY - "$E2E_TMP/del.json" <<'EOF'
import json, sys
keys = [{"Key": "d%d/k%04d" % (i % 7, i)} for i in range(1000)]
json.dump({"Objects": keys, "Quiet": True}, open(sys.argv[1], "w"))
EOF
out=$(s3 s3api delete-objects --bucket api --delete "file://$E2E_TMP/del.json" --output json)
echo "$out" | grep '"Errors"' >/dev/null && fail "quiet delete reported errors: $out"
n=$(s3 s3api list-objects-v2 --bucket api --query 'length(Contents)' --output json)
[ "$n" = 200 ] || fail "after deleting 1000 keys $n remain"
out=$(s3 s3api delete-objects --bucket api --output json \
        --delete '{"Objects":[{"Key":"d6/k1189"},{"Key":"no-such-key"}]}')
echo "$out" | grep '"Key": "no-such-key"' >/dev/null || fail "verbose delete: $out"
[ "$(echo "$out" | grep -c '"Key"')" = 2 ] || fail "verbose delete: $out"
pass "delete-objects: 1000 keys quietly, then two verbosely"

# ---- tagging -----------------------------------------------------------------
printf 'tagged' > "$E2E_TMP/t"
s3 s3api put-object --bucket api --key tagged --body "$E2E_TMP/t" \
  --tagging 'team=storage&note=two%20words' >/dev/null
[ "$(s3 s3api get-object-tagging --bucket api --key tagged --query 'length(TagSet)' \
      --output json)" = 2 ] || fail "put-object --tagging"
s3 s3api get-object --bucket api --key tagged "$E2E_TMP/back" --query TagCount --output text \
  | grep -x 2 >/dev/null || fail "x-amz-tagging-count"
s3 s3api put-object-tagging --bucket api --key tagged \
  --tagging 'TagSet=[{Key=env,Value=prod}]' >/dev/null
[ "$(s3 s3api get-object-tagging --bucket api --key tagged --query 'TagSet[0].Value' \
      --output text)" = prod ] || fail "put-object-tagging"
s3 s3api delete-object-tagging --bucket api --key tagged >/dev/null
[ "$(s3 s3api get-object-tagging --bucket api --key tagged --query 'length(TagSet)' \
      --output json)" = 0 ] || fail "delete-object-tagging"
pass "put-object --tagging, get/put/delete-object-tagging"

# ---- conditional PUT (the CLI of this vintage has no --if-none-match) --------
code=$(curl -s -o /dev/null -w '%{http_code}' "${SIGV4[@]}" -H 'If-None-Match: *' \
         -T "$E2E_TMP/t" "$ENDPOINT/api/once")
[ "$code" = 200 ] || fail "first If-None-Match: * PUT got $code"
expect_s3_error PreconditionFailed 412 -- "${SIGV4[@]}" -H 'If-None-Match: *' \
  -T "$E2E_TMP/t" "$ENDPOINT/api/once"
pass "If-None-Match: * creates once, then 412"

# ---- range --------------------------------------------------------------------
printf '0123456789abcdefghij' > "$E2E_TMP/r"
s3 s3api put-object --bucket api --key ranged --body "$E2E_TMP/r" >/dev/null
cr=$(s3 s3api get-object --bucket api --key ranged --range bytes=5-9 "$E2E_TMP/back" \
       --query ContentRange --output text)
[ "$cr" = "bytes 5-9/20" ] && [ "$(cat "$E2E_TMP/back")" = 56789 ] || fail "range: $cr"
s3 s3api get-object --bucket api --key ranged --range bytes=-3 "$E2E_TMP/back" >/dev/null
[ "$(cat "$E2E_TMP/back")" = hij ] || fail "suffix range"
expect_s3_error InvalidRange 416 -- "${SIGV4[@]}" -H 'Range: bytes=20-' "$ENDPOINT/api/ranged"
pass "range, suffix range, 416"

# ---- presigned URLs ------------------------------------------------------------
url=$(s3 s3 presign s3://api/ranged --expires-in 300)
[ "$(curl -s "$url")" = 0123456789abcdefghij ] || fail "presigned GET"
url=$(s3 s3 presign s3://api/ranged --expires-in 1)
sleep 2
code=$(curl -s -o "$E2E_TMP/exp" -w '%{http_code}' "$url")
[ "$code" = 403 ] && grep -q 'Request has expired' "$E2E_TMP/exp" || fail "expired presign: $code"
url=$(s3 s3 presign s3://api/ranged --expires-in 300)
bad=$($PY -c 'import sys,re; print(re.sub(r"(X-Amz-Signature=)(.)", lambda m: m.group(1) + ("1" if m.group(2) == "0" else "0"), sys.argv[1]))' "$url")
code=$(curl -s -o /dev/null -w '%{http_code}' "$bad")
[ "$code" = 403 ] || fail "tampered presign got $code"
pass "presigned GET; expired and tampered URLs refused"

# ---- CORS ------------------------------------------------------------------------
cat > "$E2E_TMP/cors.json" <<'EOF'
{"CORSRules": [{"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"],
                "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]}
EOF
s3 s3api put-bucket-cors --bucket api --cors-configuration "file://$E2E_TMP/cors.json"
s3 s3api get-bucket-cors --bucket api --query 'CORSRules[0].AllowedMethods' --output text \
  | grep 'GET' >/dev/null || fail "get-bucket-cors"
hdrs=$(curl -s -D - -o /dev/null -X OPTIONS -H 'Origin: https://app.example.com' \
         -H 'Access-Control-Request-Method: PUT' \
         -H 'Access-Control-Request-Headers: content-type' "$ENDPOINT/api/ranged")
echo "$hdrs" | grep -i '^HTTP/1.1 200' >/dev/null || fail "preflight: $hdrs"
echo "$hdrs" | grep -i '^Access-Control-Allow-Origin: https://app.example.com' >/dev/null \
  || fail "preflight origin: $hdrs"
echo "$hdrs" | grep -i '^Access-Control-Allow-Methods: GET, PUT' >/dev/null || fail "preflight: $hdrs"
expect_s3_error AccessForbidden 403 -- -X OPTIONS -H 'Origin: https://evil.org' \
  -H 'Access-Control-Request-Method: GET' "$ENDPOINT/api/ranged"
s3 s3api delete-bucket-cors --bucket api
expect_s3_error NoSuchCORSConfiguration 404 -- "${SIGV4[@]}" "$ENDPOINT/api?cors="
pass "put/get/delete-bucket-cors and an OPTIONS preflight"

# ---- virtual-hosted style ----------------------------------------------------------
vh="api.s3.test"
body=$(curl -s --resolve "$vh:$port:127.0.0.1" "${SIGV4[@]}" "http://$vh:$port/ranged")
[ "$body" = 0123456789abcdefghij ] || fail "virtual-hosted GET: $body"
code=$(curl -s -o /dev/null -w '%{http_code}' --resolve "$vh:$port:127.0.0.1" "${SIGV4[@]}" \
         -T "$E2E_TMP/t" "http://$vh:$port/vh-put")
[ "$code" = 200 ] || fail "virtual-hosted PUT got $code"
s3 s3api head-object --bucket api --key vh-put >/dev/null || fail "vh-put not visible path-style"
pass "virtual-hosted GET and PUT with -domain"

# ---- unknown sub-resources -------------------------------------------------------------
expect_s3_error NotImplemented 501 -- "${SIGV4[@]}" "$ENDPOINT/api?website="
pass "unknown sub-resource is NotImplemented"
