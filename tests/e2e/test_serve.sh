#!/usr/bin/env bash
# `hamster serve` with the aws CLI: buckets, objects of 0 B, 1 B, 5 MiB and
# 1 GiB byte for byte, metadata, listings, a refused wrong secret, and a
# restart that finds every object again.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
data="$E2E_TMP/data"
start_serve "$data" "$port"

s3 s3 mb s3://stash >/dev/null
s3 s3 ls | grep ' stash$' >/dev/null || fail "bucket not listed"
pass "bucket created and listed"

# Objects of every size class: empty, one byte (inline), 5 MiB and 1 GiB
# (shards).  1 GiB is made quickly from a cipher stream, not /dev/urandom.
: > "$E2E_TMP/o0"
printf 'x' > "$E2E_TMP/o1"
head -c $((5 << 20)) /dev/urandom > "$E2E_TMP/o5m"
head -c $((1 << 30)) \
  < <(openssl enc -aes-128-ctr -pass pass:hamster -nosalt -pbkdf2 </dev/zero 2>/dev/null) \
  > "$E2E_TMP/o1g"
for o in o0 o1 o5m o1g; do
  out=$(s3 s3api put-object --bucket stash --key "dir/$o" --body "$E2E_TMP/$o" \
        --content-type application/x-test --metadata colour=blue --output text \
        --query ETag)
  [ "$out" = "\"$(md5 "$E2E_TMP/$o")\"" ] || fail "ETag of $o is $out"
done
pass "put 0 B, 1 B, 5 MiB, 1 GiB with MD5 ETags"

check_objects() {
  for o in o0 o1 o5m o1g; do
    rm -f "$E2E_TMP/back"
    s3 s3api get-object --bucket stash --key "dir/$o" "$E2E_TMP/back" >/dev/null
    [ "$(md5 "$E2E_TMP/back")" = "$(md5 "$E2E_TMP/$o")" ] || fail "$o read back differs"
  done
  head=$(s3 s3api head-object --bucket stash --key dir/o5m --output json)
  echo "$head" | grep '"ContentLength": 5242880' >/dev/null || fail "head length: $head"
  echo "$head" | grep '"ContentType": "application/x-test"' >/dev/null || fail "head type: $head"
  echo "$head" | grep '"colour": "blue"' >/dev/null || fail "head metadata: $head"
  keys=$(s3 s3api list-objects-v2 --bucket stash --query 'Contents[].Key' --output text)
  [ "$keys" = "$(printf 'dir/o0\tdir/o1\tdir/o1g\tdir/o5m')" ] || fail "listing: $keys"
}
check_objects
pass "get back byte for byte, head, list"

# aws s3 cp of a small file, and the wrong secret refused.
s3 s3 cp "$E2E_TMP/o1" s3://stash/cp.txt >/dev/null
s3 s3 cp s3://stash/cp.txt "$E2E_TMP/cp.back" >/dev/null
cmp -s "$E2E_TMP/o1" "$E2E_TMP/cp.back" || fail "s3 cp round trip"
if err=$(AWS_SECRET_ACCESS_KEY=wrong-secret s3 s3 ls s3://stash 2>&1); then
  fail "wrong secret accepted"
fi
echo "$err" | grep SignatureDoesNotMatch >/dev/null || fail "wrong secret: $err"
if err=$(AWS_ACCESS_KEY_ID=nobody s3 s3 ls s3://stash 2>&1); then
  fail "unknown key accepted"
fi
echo "$err" | grep InvalidAccessKeyId >/dev/null || fail "unknown key: $err"
s3 s3 rm s3://stash/cp.txt >/dev/null
pass "s3 cp, wrong secret and unknown key refused"

# Restart: a clean stop, a new process on the same data, everything there.
stop_pid "$SERVE_PID"
start_serve "$data" "$port"
check_objects
pass "restart finds every object"

# Delete: objects go, the bucket goes, and the store is empty again.
if s3 s3 rb s3://stash 2>"$E2E_TMP/rb.err"; then fail "non-empty bucket deleted"; fi
grep -q BucketNotEmpty "$E2E_TMP/rb.err" || fail "rb: $(cat "$E2E_TMP/rb.err")"
s3 s3 rm --recursive s3://stash >/dev/null
[ -z "$(s3 s3 ls s3://stash)" ] || fail "objects left after rm"
s3 s3 rb s3://stash >/dev/null
if s3 s3 ls s3://stash 2>"$E2E_TMP/ls.err"; then fail "deleted bucket listed"; fi
grep -q NoSuchBucket "$E2E_TMP/ls.err" || fail "ls: $(cat "$E2E_TMP/ls.err")"
pass "delete objects and bucket"
stop_pid "$SERVE_PID"
echo "test_serve: all passed"
