#!/usr/bin/env bash
# `hamster recover -from-shards` end to end: serve with two disks, PUT
# objects of several sizes (one inline, one just past the inline limit,
# 1 MiB, an overwritten 3 MiB key, a 3-part multipart upload, one in a
# second bucket) with content types, user metadata and tags through the
# aws CLI, leave one upload in progress, then delete the meta directory
# while the server still runs (recover must refuse), SIGKILL it, plant a
# garbage shard and a truncated copy of a real one (recover must skip and
# report them), recover, serve again, and check every non-inline object's
# bytes (MD5), size, ETag, content type, metadata and tags.  The inline
# object is the documented exception (docs/adr/0005-self-describing-shards.md)
# and must be gone; the overwritten key must hold its newer bytes.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
data="$E2E_TMP/data"
mkdir -p "$data/disks"
disks="$data/disks/d0,$data/disks/d1"
# A long gc grace keeps the overwritten key's old shard on disk until the
# crash, however slow the machine: the rebuild must pick the newer one.
start_serve "$data" "$port" -disks "$disks" -gc-grace-ms 3600000

rnd() { head -c "$1" < <(openssl enc -aes-128-ctr -pass "pass:$2" -nosalt -pbkdf2 </dev/zero 2>/dev/null); }
rnd 100 a > "$E2E_TMP/inline"
rnd 5000 b > "$E2E_TMP/small"
rnd $((1 << 20)) c > "$E2E_TMP/mid"
rnd $((3 << 20)) d > "$E2E_TMP/over.old"
rnd $((3 << 20)) e > "$E2E_TMP/over.new"
rnd $((12 << 20)) f > "$E2E_TMP/multi"
rnd 70000 g > "$E2E_TMP/other"

s3 s3 mb s3://photos >/dev/null
s3 s3 mb s3://docs >/dev/null
s3 s3api put-object --bucket photos --key tiny.txt --body "$E2E_TMP/inline" \
  --content-type text/plain >/dev/null
s3 s3api put-object --bucket photos --key small.bin --body "$E2E_TMP/small" \
  --content-type application/x-small --metadata camera=leica,iso=400 \
  --tagging 'team=storage&tier=hot' >/dev/null
s3 s3api put-object --bucket photos --key 'dir/mid photo.jpg' --body "$E2E_TMP/mid" \
  --content-type image/jpeg --metadata 'caption=a cat' --tagging 'kind=cat' >/dev/null
s3 s3api put-object --bucket photos --key over.bin --body "$E2E_TMP/over.old" \
  --content-type text/old --metadata gen=1 >/dev/null
sleep 0.01 # the newer PUT gets a later commit stamp
s3 s3api put-object --bucket photos --key over.bin --body "$E2E_TMP/over.new" \
  --content-type text/new --metadata gen=2 --tagging 'gen=2' >/dev/null
s3 s3api put-object --bucket docs --key report.pdf --body "$E2E_TMP/other" \
  --content-type application/pdf --metadata author=ops >/dev/null

# A 3-part upload (5 + 5 + 2 MiB) with content type, metadata and tags.
split -b $((5 << 20)) -d "$E2E_TMP/multi" "$E2E_TMP/multi.part"
uid=$(s3 s3api create-multipart-upload --bucket photos --key video.mp4 \
  --content-type video/mp4 --metadata codec=h264 --tagging 'kind=video&team=media' \
  --query UploadId --output text)
parts=""
for i in 0 1 2; do
  e=$(s3 s3api upload-part --bucket photos --key video.mp4 --upload-id "$uid" \
    --part-number $((i + 1)) --body "$E2E_TMP/multi.part0$i" --query ETag --output text)
  parts="$parts{\"PartNumber\":$((i + 1)),\"ETag\":$e},"
done
s3 s3api complete-multipart-upload --bucket photos --key video.mp4 --upload-id "$uid" \
  --multipart-upload "{\"Parts\":[${parts%,}]}" >/dev/null
# An upload left in progress: its part is no object.
uid2=$(s3 s3api create-multipart-upload --bucket photos --key pending --query UploadId --output text)
s3 s3api upload-part --bucket photos --key pending --upload-id "$uid2" --part-number 1 \
  --body "$E2E_TMP/small" >/dev/null

# What every object looked like before the crash.
$PY - "$ENDPOINT" "$E2E_TMP/before.json" <<'EOF'
import boto3, json, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
out = {}
for b in ("photos", "docs"):
    for o in s3.list_objects_v2(Bucket=b).get("Contents", []):
        h = s3.head_object(Bucket=b, Key=o["Key"])
        t = s3.get_object_tagging(Bucket=b, Key=o["Key"])["TagSet"]
        out[b + "/" + o["Key"]] = {"size": h["ContentLength"], "etag": h["ETag"],
                                   "type": h.get("ContentType"), "meta": h["Metadata"],
                                   "tags": sorted((x["Key"], x["Value"]) for x in t)}
json.dump(out, open(sys.argv[2], "w"), sort_keys=True)
EOF

recover() { "$HM_BUILD_DIR/hamster" recover -from-shards "$data" "$@"; }

# Refusals: a server holds the data dir's lock (with or without its meta
# directory); the meta directory exists.  (hamster-ctl and hamster run the
# same verb.)
if "$HM_BUILD_DIR/hamster-ctl" recover -from-shards "$data" > "$E2E_TMP/out" 2>&1; then
  fail "recover ran while the server holds the data dir"
fi
grep -qF "in use by another process (pid $SERVE_PID" "$E2E_TMP/out" ||
  fail "no reason given: $(cat "$E2E_TMP/out")"
mv "$data/meta" "$data/meta.away"
if recover > "$E2E_TMP/out" 2>&1; then fail "recover ran while the server holds the data dir"; fi
grep -qF "in use by another process (pid $SERVE_PID" "$E2E_TMP/out" ||
  fail "no reason given: $(cat "$E2E_TMP/out")"
[ ! -e "$data/meta" ] && [ ! -e "$data/meta.recovering" ] || fail "recover built metadata"
mv "$data/meta.away" "$data/meta"
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
if recover > "$E2E_TMP/out" 2>&1; then fail "recover ran while meta exists"; fi
grep -q "exists" "$E2E_TMP/out" || fail "no reason given: $(cat "$E2E_TMP/out")"
rm -rf "$data/meta"
pass "recover refuses while meta exists or a server holds the data dir"

# Hostile shard files: garbage under a shard name, a truncated real shard.
# Placement spreads shards over both disks: take a real one from any.
real=$(find "$data/disks/d0/shards" "$data/disks/d1/shards" -type f -size +1000k | sed -n 1p)
[ -n "$real" ] || fail "no shard file on either disk"
mkdir -p "$data/disks/d0/shards/ab/cd"
head -c 70000 /dev/urandom > "$data/disks/d0/shards/ab/cd/abcd0000000000000000000000000000.0"
head -c 65600 "$real" > "$data/disks/d0/shards/ab/cd/abcd0000000000000000000000000001.0"

recover > "$E2E_TMP/out" 2>&1 || { cat "$E2E_TMP/out"; fail "recover failed"; }
cat "$E2E_TMP/out"
grep -q "recovered: 2 bucket(s), 5 object(s) (1 multipart), 16852216 bytes" "$E2E_TMP/out" ||
  fail "recover summary"
[ "$(grep -c '^skipped .*abcd00000000000000000000000000' "$E2E_TMP/out")" -eq 2 ] ||
  fail "the two bad shards were not reported"
grep -q "22 seen, 2 failed their checks, 1 superseded" "$E2E_TMP/out" || fail "recover counts"
grep -q "1 part(s) of no object" "$E2E_TMP/out" || fail "the pending upload's part"
[ -d "$data/meta" ] || fail "no meta directory after recover"
if recover > /dev/null 2>&1; then fail "a second recover ran over the rebuilt meta"; fi
pass "recover rebuilt 2 buckets and 5 objects, skipped 2 bad shards"

start_serve "$data" "$port" -disks "$disks"
$PY - "$ENDPOINT" "$E2E_TMP" <<'EOF'
import boto3, botocore, hashlib, json, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
tmp = sys.argv[2]
before = json.load(open(tmp + "/before.json"))
files = {"photos/small.bin": "small", "photos/dir/mid photo.jpg": "mid",
         "photos/over.bin": "over.new", "photos/video.mp4": "multi",
         "docs/report.pdf": "other"}
def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)
for name, want in sorted(before.items()):
    b, k = name.split("/", 1)
    if name == "photos/tiny.txt":
        try:
            s3.head_object(Bucket=b, Key=k)
            fail("inline object came back")
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] not in ("404", "NoSuchKey"):
                raise
        continue
    h = s3.head_object(Bucket=b, Key=k)
    t = s3.get_object_tagging(Bucket=b, Key=k)["TagSet"]
    got = {"size": h["ContentLength"], "etag": h["ETag"], "type": h.get("ContentType"),
           "meta": h["Metadata"], "tags": [list(x) for x in sorted((x["Key"], x["Value"]) for x in t)]}
    want["tags"] = [list(x) for x in want["tags"]]
    if got != want:
        fail("%s: %r != %r" % (name, got, want))
    body = s3.get_object(Bucket=b, Key=k)["Body"].read()
    ref = open(tmp + "/" + files[name], "rb").read()
    if hashlib.md5(body).hexdigest() != hashlib.md5(ref).hexdigest():
        fail(name + ": bytes differ")
    print("ok:", name, got["size"], got["etag"], got["type"], got["meta"], got["tags"])
if before["photos/over.bin"]["type"] != "text/new":
    fail("overwritten key's newer version was not the one recorded")
if set(before) != {"photos/tiny.txt"} | set(files):
    fail("unexpected objects: %r" % sorted(before))
EOF
pass "every non-inline object reads back with its bytes, size, ETag, type, metadata and tags"
