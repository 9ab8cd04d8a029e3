#!/usr/bin/env bash
# An in-flight GET never loses its bytes: slow readers over real sockets
# (presigned URLs) of a 3-part multipart object, a byte range spanning its
# parts, and a single-part object, held mid-body while each object is
# overwritten and the collector runs with a 1 ms grace.  An unrelated
# deleted object is collected meanwhile (so gc did run mid-download), the
# downloads' shards are not, every download completes with the MD5 of the
# version it began with, and once they end the old shards are collected.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
data="$E2E_TMP/data"
start_serve "$data" "$port" -gc-grace-ms 1
shards="$data/disks/disk0/shards"
# Data shards only: a multipart object's manifest shard (index 1000000,
# HM_SHARD_INDEX_MANIFEST) lives and goes with its first part's shard.
shard_count() { find "$shards" -type f ! -name '*.1000000' 2>/dev/null | wc -l; }

noise() { head -c "$1" < <(openssl enc -aes-128-ctr -pass pass:"$2" -nosalt -pbkdf2 </dev/zero 2>/dev/null); }
noise $((24 << 20)) mp > "$E2E_TMP/mp"
noise $((12 << 20)) sp > "$E2E_TMP/sp"
noise 100000 canary > "$E2E_TMP/canary"
echo small > "$E2E_TMP/small"
first=5000000 last=20000000
head -c $((last + 1)) "$E2E_TMP/mp" | tail -c $((last - first + 1)) > "$E2E_TMP/range"

# boto3, one interpreter per step (the aws CLI starts slowly): `setup`
# makes the bucket, mp.bin as three 8 MiB parts, sp.bin and canary, and
# prints SigV4 presigned GET URLs of mp.bin and sp.bin; `churn` overwrites
# both with a small (inline) object and deletes canary.
boto() {
  $PY - "$ENDPOINT" "$E2E_TMP" "$1" <<'PYEOF'
import sys
import boto3
from botocore.config import Config
ep, tmp, step = sys.argv[1:4]
c = boto3.client("s3", endpoint_url=ep,
                 config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
def body(name):
    with open("%s/%s" % (tmp, name), "rb") as f:
        return f.read()
if step == "setup":
    c.create_bucket(Bucket="slow")
    data = body("mp")
    uid = c.create_multipart_upload(Bucket="slow", Key="mp.bin")["UploadId"]
    parts = []
    for i in range(3):
        r = c.upload_part(Bucket="slow", Key="mp.bin", UploadId=uid, PartNumber=i + 1,
                          Body=data[i << 23:(i + 1) << 23])
        parts.append({"PartNumber": i + 1, "ETag": r["ETag"]})
    c.complete_multipart_upload(Bucket="slow", Key="mp.bin", UploadId=uid,
                                MultipartUpload={"Parts": parts})
    assert c.head_object(Bucket="slow", Key="mp.bin")["ETag"].endswith('-3"')
    c.put_object(Bucket="slow", Key="sp.bin", Body=body("sp"))
    c.put_object(Bucket="slow", Key="canary", Body=body("canary"))
    for k in ("mp.bin", "sp.bin"):
        print(c.generate_presigned_url("get_object", Params={"Bucket": "slow", "Key": k},
                                       ExpiresIn=600))
elif step == "churn":
    c.put_object(Bucket="slow", Key="mp.bin", Body=body("small"))
    c.put_object(Bucket="slow", Key="sp.bin", Body=body("small"))
    c.delete_object(Bucket="slow", Key="canary")
PYEOF
}
boto setup > "$E2E_TMP/urls"
url_mp=$(sed -n 1p "$E2E_TMP/urls")
url_sp=$(sed -n 2p "$E2E_TMP/urls")
[ "$(shard_count)" -eq 5 ] || fail "expected 5 shard files, found $(shard_count)"
[ "$(curl -s -o /dev/null -w '%{http_code}' -r 0-0 "$url_mp")" = 206 ] || fail "presigned GET refused"

# Three slow readers (tests/e2e/slow_get.py): each reads 1 MiB, then holds
# its connection, reading nothing, until told to go on.  Their small
# receive window keeps the server within a few MiB of them, so the
# multipart reads have not reached parts 2 and 3 when gc runs.
reader() { # NAME URL [RANGE]
  exec $PY "$HM_SOURCE_DIR/tests/e2e/slow_get.py" "$2" ${3:+--range "$3"} \
    --paused "$E2E_TMP/$1.paused" --go "$E2E_TMP/go" > "$E2E_TMP/$1.out"
}
reader mp "$url_mp" & c1=$!
reader range "$url_mp" "bytes=$first-$last" & c2=$!
reader sp "$url_sp" & c3=$!
E2E_PIDS+=("$c1" "$c2" "$c3")
for r in mp range sp; do
  for _ in $(seq 1 200); do [ -e "$E2E_TMP/$r.paused" ] && break; sleep 0.1; done
  [ -e "$E2E_TMP/$r.paused" ] || fail "reader $r did not start"
done

# Overwrite both objects with inline ones (no shard) and delete the canary.
boto churn

# gc runs every 5 s: the canary's shard goes, the four being read stay.
for _ in $(seq 1 150); do
  n=$(shard_count)
  [ "$n" -le 4 ] && break
  sleep 0.1
done
[ "$n" -eq 4 ] || fail "after gc: expected the 4 shards being read, found $n"
sleep 0.5 # a gc run still under way would delete within this
[ "$(shard_count)" -eq 4 ] || fail "gc took shards being read: $(shard_count) left"
pass "gc ran mid-download and kept the shards being read"

touch "$E2E_TMP/go"
wait $c1 || fail "multipart reader failed"
wait $c2 || fail "range reader failed"
wait $c3 || fail "single-part reader failed"
[ "$(cat "$E2E_TMP/mp.out")" = "200 $((24 << 20)) $(md5 "$E2E_TMP/mp")" ] ||
  fail "multipart download: $(cat "$E2E_TMP/mp.out")"
[ "$(cat "$E2E_TMP/range.out")" = "206 $((last - first + 1)) $(md5 "$E2E_TMP/range")" ] ||
  fail "range download: $(cat "$E2E_TMP/range.out")"
[ "$(cat "$E2E_TMP/sp.out")" = "200 $((12 << 20)) $(md5 "$E2E_TMP/sp")" ] ||
  fail "single-part download: $(cat "$E2E_TMP/sp.out")"
pass "multipart, range and single-part downloads complete with the old version's bytes"

# Once the reads are over, their shards are collected.
for _ in $(seq 1 150); do [ "$(shard_count)" -eq 0 ] && break; sleep 0.1; done
[ "$(shard_count)" -eq 0 ] || fail "old shards not collected after the reads: $(shard_count) left"
curl -sf -o "$E2E_TMP/now" "$url_mp" || fail "GET mp.bin after the reads"
cmp -s "$E2E_TMP/now" "$E2E_TMP/small" || fail "mp.bin is not the overwrite"
pass "old shards collected once the reads ended"
stop_pid "$SERVE_PID"
echo "test_slow_reader: all passed"
