#!/usr/bin/env bash
# Streaming uploads and flexible checksums end to end: every aws-chunked
# form (signed chunks, signed trailer, unsigned trailer), checksum headers
# of every algorithm, Content-MD5, checksum mode on reads and
# GetObjectAttributes, with refused uploads leaving nothing behind; then
# the AWS CLI's own uploads and reads with checksums.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
data="$E2E_TMP/data"
start_serve "$data" "$port"
s3 s3 mb s3://stream >/dev/null

$PY "$HM_SOURCE_DIR/tests/e2e/streaming_clients.py" "$ENDPOINT" stream \
  || { tail -n 40 "$data.log" >&2; fail "streaming clients"; }

# The AWS CLI with an explicit algorithm: the checksum comes back on HEAD.
head -c 300000 /dev/urandom >"$E2E_TMP/obj"
s3 s3api put-object --bucket stream --key cli --body "$E2E_TMP/obj" \
  --checksum-algorithm SHA256 >/dev/null || fail "aws put-object with SHA256"
want=$($PY -c 'import base64,hashlib,sys; print(base64.b64encode(hashlib.sha256(open(sys.argv[1],"rb").read()).digest()).decode())' "$E2E_TMP/obj")
got=$(s3 s3api head-object --bucket stream --key cli --checksum-mode ENABLED \
        --query ChecksumSHA256 --output text)
[ "$got" = "$want" ] || fail "head-object checksum: $got, want $want"
s3 s3api get-object --bucket stream --key cli --checksum-mode ENABLED "$E2E_TMP/back" >/dev/null \
  || fail "aws get-object with checksum mode"
cmp -s "$E2E_TMP/obj" "$E2E_TMP/back" || fail "aws get-object: bytes differ"
pass "aws cli put/head/get with SHA256 checksums"

# Nothing refused left a trace, and the server is still up.
s3 s3 ls s3://stream/ >"$E2E_TMP/ls" || fail "listing after the refusals"
grep -q -- '-bad' "$E2E_TMP/ls" && fail "a refused upload is listed"
grep -q 'tampered' "$E2E_TMP/ls" && fail "a tampered upload is listed"
pass "refused uploads left nothing behind"
