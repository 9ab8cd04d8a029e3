#!/usr/bin/env bash
# Multipart uploads and copies through `hamster serve` with the aws CLI:
# `aws s3 cp` of 40 MiB (multipart at 8 MiB) and back, a hand-made upload
# with the multipart ETag checked, list-parts, list-multipart-uploads,
# abort leaving no shard file once gc ran, copy-object within and across
# buckets with metadata-directive REPLACE, and upload-part-copy with a
# range.  The server runs with a 1 ms gc grace (-gc-grace-ms) so the test
# sees the collector's work within one gc interval.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
data="$E2E_TMP/data"
start_serve "$data" "$port" -gc-grace-ms 1
shards="$data/disks/disk0/shards"

shard_count() { find "$shards" -type f 2>/dev/null | wc -l; }

# wait_shards N: until exactly N shard files remain (gc runs every 5 s).
wait_shards() {
  local want=$1 n
  for _ in $(seq 1 150); do
    n=$(shard_count)
    [ "$n" -eq "$want" ] && return 0
    sleep 0.1
  done
  fail "expected $want shard files, found $(shard_count)"
}

s3 s3 mb s3://mpu >/dev/null
s3 s3 mb s3://other >/dev/null

# aws s3 cp splits 40 MiB into 8 MiB parts.
head -c $((40 << 20)) \
  < <(openssl enc -aes-128-ctr -pass pass:hamster -nosalt -pbkdf2 </dev/zero 2>/dev/null) \
  > "$E2E_TMP/big"
s3 s3 cp "$E2E_TMP/big" s3://mpu/big.bin >/dev/null
etag=$(s3 s3api head-object --bucket mpu --key big.bin --query ETag --output text)
case "$etag" in *-5\") ;; *) fail "40 MiB object ETag $etag is not a 5-part ETag" ;; esac
s3 s3 cp s3://mpu/big.bin "$E2E_TMP/big.back" >/dev/null
[ "$(md5 "$E2E_TMP/big.back")" = "$(md5 "$E2E_TMP/big")" ] || fail "40 MiB round trip differs"
pass "aws s3 cp of 40 MiB as multipart and back"

# By hand: two 5 MiB parts and a 1000-byte last part, the ETag formula.
head -c $((5 << 20)) /dev/urandom > "$E2E_TMP/p1"
head -c $((5 << 20)) /dev/urandom > "$E2E_TMP/p2"
head -c 1000 /dev/urandom > "$E2E_TMP/p3"
uid=$(s3 s3api create-multipart-upload --bucket mpu --key hand.bin \
      --content-type application/x-hand --metadata who=me --query UploadId --output text)
[ ${#uid} -eq 32 ] || fail "upload id $uid"
for i in 1 2 3; do
  e=$(s3 s3api upload-part --bucket mpu --key hand.bin --upload-id "$uid" \
      --part-number $i --body "$E2E_TMP/p$i" --query ETag --output text)
  [ "$e" = "\"$(md5 "$E2E_TMP/p$i")\"" ] || fail "part $i ETag $e"
done
parts=$(s3 s3api list-parts --bucket mpu --key hand.bin --upload-id "$uid" \
        --query 'Parts[].[PartNumber,Size]' --output text | tr '\t\n' ' ')
[ "$parts" = "1 5242880 2 5242880 3 1000 " ] || fail "list-parts: $parts"
page=$(s3 s3api list-parts --bucket mpu --key hand.bin --upload-id "$uid" --max-parts 2 \
       --no-paginate --query '[IsTruncated,NextPartNumberMarker]' --output text)
[ "$page" = "$(printf 'True\t2')" ] || fail "list-parts page: $page"
ups=$(s3 s3api list-multipart-uploads --bucket mpu --query 'Uploads[].[Key,UploadId]' \
      --output text)
[ "$ups" = "$(printf 'hand.bin\t%s' "$uid")" ] || fail "list-multipart-uploads: $ups"
pass "create, upload-part, list-parts, list-multipart-uploads"

cat > "$E2E_TMP/parts.json" <<JSON
{"Parts":[{"PartNumber":1,"ETag":"\"$(md5 "$E2E_TMP/p1")\""},
          {"PartNumber":2,"ETag":"\"$(md5 "$E2E_TMP/p2")\""},
          {"PartNumber":3,"ETag":"\"$(md5 "$E2E_TMP/p3")\""}]}
JSON
want=$( (for i in 1 2 3; do md5 "$E2E_TMP/p$i"; done) | xxd -r -p | md5sum | cut -d' ' -f1)
got=$(s3 s3api complete-multipart-upload --bucket mpu --key hand.bin --upload-id "$uid" \
      --multipart-upload "file://$E2E_TMP/parts.json" --query ETag --output text)
[ "$got" = "\"$want-3\"" ] || fail "complete ETag $got, want \"$want-3\""
cat "$E2E_TMP/p1" "$E2E_TMP/p2" "$E2E_TMP/p3" > "$E2E_TMP/hand"
s3 s3api get-object --bucket mpu --key hand.bin "$E2E_TMP/hand.back" >/dev/null
cmp -s "$E2E_TMP/hand" "$E2E_TMP/hand.back" || fail "hand-made object differs"
head=$(s3 s3api head-object --bucket mpu --key hand.bin --output json)
echo "$head" | grep '"ContentType": "application/x-hand"' >/dev/null || fail "head type: $head"
echo "$head" | grep '"who": "me"' >/dev/null || fail "head metadata: $head"
# a range across the first part boundary
s3 s3api get-object --bucket mpu --key hand.bin --range "bytes=5242870-5242889" \
  "$E2E_TMP/range" >/dev/null
[ "$(md5 "$E2E_TMP/range")" = "$(tail -c +5242871 "$E2E_TMP/hand" | head -c 20 | md5sum | cut -d' ' -f1)" ] \
  || fail "range across parts"
ups=$(s3 s3api list-multipart-uploads --bucket mpu --query 'length(Uploads || `[]`)' --output text)
[ "$ups" = "0" ] || fail "upload still listed after complete: $ups"
pass "complete-multipart-upload with the MD5-of-MD5s ETag, ranges across parts"

# Errors: a wrong part ETag and a too-small part.
uid2=$(s3 s3api create-multipart-upload --bucket mpu --key bad.bin --query UploadId --output text)
s3 s3api upload-part --bucket mpu --key bad.bin --upload-id "$uid2" --part-number 1 \
  --body "$E2E_TMP/p3" >/dev/null
s3 s3api upload-part --bucket mpu --key bad.bin --upload-id "$uid2" --part-number 2 \
  --body "$E2E_TMP/p3" >/dev/null
e3=$(md5 "$E2E_TMP/p3")
echo "{\"Parts\":[{\"PartNumber\":1,\"ETag\":\"\\\"$e3\\\"\"},{\"PartNumber\":2,\"ETag\":\"\\\"$e3\\\"\"}]}" \
  > "$E2E_TMP/small.json"
if err=$(s3 s3api complete-multipart-upload --bucket mpu --key bad.bin --upload-id "$uid2" \
         --multipart-upload "file://$E2E_TMP/small.json" 2>&1); then
  fail "complete with a small first part accepted"
fi
echo "$err" | grep EntityTooSmall >/dev/null || fail "small part: $err"
echo '{"Parts":[{"PartNumber":1,"ETag":"\"00000000000000000000000000000000\""}]}' \
  > "$E2E_TMP/wrong.json"
if err=$(s3 s3api complete-multipart-upload --bucket mpu --key bad.bin --upload-id "$uid2" \
         --multipart-upload "file://$E2E_TMP/wrong.json" 2>&1); then
  fail "complete with a wrong ETag accepted"
fi
echo "$err" | grep InvalidPart >/dev/null || fail "wrong ETag: $err"
pass "EntityTooSmall and InvalidPart"

# Abort: the upload and every part's shard file disappear.  Nothing is
# garbage at this point (no object was replaced or deleted yet).
before_abort=$(shard_count)
s3 s3api abort-multipart-upload --bucket mpu --key bad.bin --upload-id "$uid2"
if err=$(s3 s3api list-parts --bucket mpu --key bad.bin --upload-id "$uid2" 2>&1); then
  fail "list-parts after abort"
fi
echo "$err" | grep NoSuchUpload >/dev/null || fail "after abort: $err"
wait_shards $((before_abort - 2))
pass "abort-multipart-upload leaves no shard files after gc"

# CopyObject: same bucket, cross bucket, REPLACE, onto itself.
s3 s3api copy-object --bucket mpu --key hand.copy --copy-source mpu/hand.bin >/dev/null
s3 s3api get-object --bucket mpu --key hand.copy "$E2E_TMP/copy.back" >/dev/null
cmp -s "$E2E_TMP/hand" "$E2E_TMP/copy.back" || fail "same-bucket copy differs"
head=$(s3 s3api head-object --bucket mpu --key hand.copy --output json)
echo "$head" | grep '"who": "me"' >/dev/null || fail "copy kept no metadata: $head"
s3 s3api copy-object --bucket other --key x/y.bin --copy-source "/mpu/hand.bin" \
  --metadata-directive REPLACE --content-type text/x-new --metadata who=you >/dev/null
head=$(s3 s3api head-object --bucket other --key x/y.bin --output json)
echo "$head" | grep '"ContentType": "text/x-new"' >/dev/null || fail "REPLACE type: $head"
echo "$head" | grep '"who": "you"' >/dev/null || fail "REPLACE metadata: $head"
s3 s3api get-object --bucket other --key x/y.bin "$E2E_TMP/copy2.back" >/dev/null
cmp -s "$E2E_TMP/hand" "$E2E_TMP/copy2.back" || fail "cross-bucket copy differs"
if err=$(s3 s3api copy-object --bucket mpu --key hand.copy --copy-source mpu/hand.copy 2>&1); then
  fail "copy onto itself without REPLACE accepted"
fi
echo "$err" | grep InvalidRequest >/dev/null || fail "self copy: $err"
s3 s3api copy-object --bucket mpu --key hand.copy --copy-source mpu/hand.copy \
  --metadata-directive REPLACE --metadata who=self >/dev/null
if err=$(s3 s3api copy-object --bucket mpu --key c2 --copy-source mpu/hand.bin \
         --copy-source-if-match '"nope"' 2>&1); then
  fail "copy-source-if-match mismatch accepted"
fi
echo "$err" | grep PreconditionFailed >/dev/null || fail "copy condition: $err"
pass "copy-object same and cross bucket, REPLACE, self copy, conditions"

# UploadPartCopy with a range, then complete.
uid3=$(s3 s3api create-multipart-upload --bucket other --key assembled --query UploadId --output text)
c1=$(s3 s3api upload-part-copy --bucket other --key assembled --upload-id "$uid3" \
     --part-number 1 --copy-source mpu/hand.bin --copy-source-range bytes=0-5242879 \
     --query CopyPartResult.ETag --output text)
c2=$(s3 s3api upload-part-copy --bucket other --key assembled --upload-id "$uid3" \
     --part-number 2 --copy-source mpu/hand.bin --copy-source-range bytes=10485760-10486759 \
     --query CopyPartResult.ETag --output text)
[ "$c1" = "\"$(md5 "$E2E_TMP/p1")\"" ] || fail "part copy 1 ETag $c1"
[ "$c2" = "\"$(md5 "$E2E_TMP/p3")\"" ] || fail "part copy 2 ETag $c2"
if err=$(s3 s3api upload-part-copy --bucket other --key assembled --upload-id "$uid3" \
         --part-number 3 --copy-source mpu/hand.bin --copy-source-range bytes=0-99999999 2>&1); then
  fail "range beyond the source accepted"
fi
echo "$err" | grep InvalidArgument >/dev/null || fail "bad range: $err"
echo "{\"Parts\":[{\"PartNumber\":1,\"ETag\":$(printf '%s' "$c1" | sed 's/"/\\"/g; s/^/"/; s/$/"/')},{\"PartNumber\":2,\"ETag\":$(printf '%s' "$c2" | sed 's/"/\\"/g; s/^/"/; s/$/"/')}]}" \
  > "$E2E_TMP/copy.json"
s3 s3api complete-multipart-upload --bucket other --key assembled --upload-id "$uid3" \
  --multipart-upload "file://$E2E_TMP/copy.json" >/dev/null
cat "$E2E_TMP/p1" "$E2E_TMP/p3" > "$E2E_TMP/assembled"
s3 s3api get-object --bucket other --key assembled "$E2E_TMP/assembled.back" >/dev/null
cmp -s "$E2E_TMP/assembled" "$E2E_TMP/assembled.back" || fail "assembled object differs"
pass "upload-part-copy with --copy-source-range"

# Flexible checksums: an upload created with CRC32, parts sent with their
# CRC32s, Complete naming them; the object's COMPOSITE checksum is the
# CRC32 of the concatenated part CRC32s, "-3".  Then ?partNumber reads.
crc_b64() {  # base64 of the big-endian CRC32 of a file
  python3 -c 'import base64,sys,zlib
print(base64.b64encode(zlib.crc32(open(sys.argv[1],"rb").read()).to_bytes(4,"big")).decode())' "$1"
}
uid4=$(s3 s3api create-multipart-upload --bucket mpu --key ck.bin --checksum-algorithm CRC32 \
       --query UploadId --output text)
for i in 1 2 3; do
  out=$(s3 s3api upload-part --bucket mpu --key ck.bin --upload-id "$uid4" --part-number $i \
        --checksum-algorithm CRC32 --body "$E2E_TMP/p$i" --query '[ETag,ChecksumCRC32]' \
        --output text)
  [ "$out" = "$(printf '"%s"\t%s' "$(md5 "$E2E_TMP/p$i")" "$(crc_b64 "$E2E_TMP/p$i")")" ] \
    || fail "upload-part $i with CRC32: $out"
done
ck_parts() {  # ck_parts CRC-OF-PART-2
  echo "{\"Parts\":[{\"PartNumber\":1,\"ETag\":\"\\\"$(md5 "$E2E_TMP/p1")\\\"\",\"ChecksumCRC32\":\"$(crc_b64 "$E2E_TMP/p1")\"},
  {\"PartNumber\":2,\"ETag\":\"\\\"$(md5 "$E2E_TMP/p2")\\\"\",\"ChecksumCRC32\":\"$1\"},
  {\"PartNumber\":3,\"ETag\":\"\\\"$(md5 "$E2E_TMP/p3")\\\"\",\"ChecksumCRC32\":\"$(crc_b64 "$E2E_TMP/p3")\"}]}"
}
ck_parts "$(crc_b64 "$E2E_TMP/p1")" > "$E2E_TMP/ck-wrong.json"
if err=$(s3 s3api complete-multipart-upload --bucket mpu --key ck.bin --upload-id "$uid4" \
         --multipart-upload "file://$E2E_TMP/ck-wrong.json" 2>&1); then
  fail "complete with a wrong part checksum accepted"
fi
echo "$err" | grep InvalidPart >/dev/null || fail "wrong part checksum: $err"
ck_parts "$(crc_b64 "$E2E_TMP/p2")" > "$E2E_TMP/ck.json"
want=$(python3 -c 'import base64,sys,zlib
raw=b"".join(zlib.crc32(open(f,"rb").read()).to_bytes(4,"big") for f in sys.argv[1:])
print(base64.b64encode(zlib.crc32(raw).to_bytes(4,"big")).decode()+"-3")' \
       "$E2E_TMP/p1" "$E2E_TMP/p2" "$E2E_TMP/p3")
got=$(s3 s3api complete-multipart-upload --bucket mpu --key ck.bin --upload-id "$uid4" \
      --multipart-upload "file://$E2E_TMP/ck.json" --query ChecksumCRC32 --output text)
[ "$got" = "$want" ] || fail "complete ChecksumCRC32 $got, want $want"
got=$(s3 s3api head-object --bucket mpu --key ck.bin --checksum-mode ENABLED \
      --query ChecksumCRC32 --output text)
case "$got" in *-3) ;; *) fail "head-object ChecksumCRC32 $got does not end in -3" ;; esac
[ "$got" = "$want" ] || fail "head-object ChecksumCRC32 $got, want $want"
got=$(s3 s3api get-object-attributes --bucket mpu --key ck.bin --object-attributes Checksum \
      --query 'Checksum.ChecksumCRC32' --output text)
[ "$got" = "$want" ] || fail "get-object-attributes: $got"
pass "CRC32 multipart upload: part checksums checked, COMPOSITE object checksum"

out=$(s3 s3api get-object --bucket mpu --key ck.bin --part-number 2 "$E2E_TMP/part2" \
      --query '[PartsCount,ContentRange,ContentLength]' --output text)
[ "$out" = "$(printf '3\tbytes 5242880-10485759/10486760\t5242880')" ] \
  || fail "get-object --part-number 2: $out"
cmp -s "$E2E_TMP/p2" "$E2E_TMP/part2" || fail "part 2 bytes differ"
out=$(s3 s3api head-object --bucket mpu --key ck.bin --part-number 3 \
      --query '[PartsCount,ContentLength]' --output text)
[ "$out" = "$(printf '3\t1000')" ] || fail "head-object --part-number 3: $out"
if err=$(s3 s3api get-object --bucket mpu --key ck.bin --part-number 4 "$E2E_TMP/part4" 2>&1); then
  fail "get-object --part-number 4 of 3 accepted"
fi
echo "$err" | grep InvalidPartNumber >/dev/null || fail "part number past the end: $err"
printf 'simple object' > "$E2E_TMP/simple"
s3 s3api put-object --bucket mpu --key simple --body "$E2E_TMP/simple" >/dev/null
out=$(s3 s3api get-object --bucket mpu --key simple --part-number 1 "$E2E_TMP/simple.back" \
      --query 'PartsCount' --output text)
[ "$out" = "None" ] || fail "simple object parts count: $out"
cmp -s "$E2E_TMP/simple" "$E2E_TMP/simple.back" || fail "simple object partNumber=1 differs"
if err=$(s3 s3api get-object --bucket mpu --key simple --part-number 2 "$E2E_TMP/x" 2>&1); then
  fail "simple object --part-number 2 accepted"
fi
echo "$err" | grep InvalidPartNumber >/dev/null || fail "simple object part 2: $err"
pass "get-object / head-object --part-number"

# Deleting everything leaves no shard file once gc ran.
for k in big.bin hand.bin hand.copy ck.bin simple; do s3 s3api delete-object --bucket mpu --key "$k"; done
for k in x/y.bin assembled; do s3 s3api delete-object --bucket other --key "$k"; done
wait_shards 0
pass "no orphaned shard files"
