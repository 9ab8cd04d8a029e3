#!/usr/bin/env bash
# covers: mkdir, copy, check (MD5, and a planted difference must be found), sync with changes, lsjson --hash, cat, server-side copyto (single and multipart UploadPartCopy), moveto/move, delete --include, multipart upload (--s3-upload-cutoff/--s3-chunk-size 5M), mount read/write when FUSE is available, purge
# client: rclone
# version: rclone version | head -n1 | sed -E 's/^rclone v?//'
# status: passes (mount included); also passes against Ceph RGW 16
. "$(dirname "$0")/lib.sh"

compat_need_client rclone
compat_start

# An s3 remote named "hm", configured only through the environment.
export RCLONE_CONFIG=$COMPAT_TMP/rclone.conf
: >"$RCLONE_CONFIG"
export RCLONE_CONFIG_HM_TYPE=s3 RCLONE_CONFIG_HM_PROVIDER=Other RCLONE_CONFIG_HM_ENV_AUTH=false
export RCLONE_CONFIG_HM_ENDPOINT=$ENDPOINT RCLONE_CONFIG_HM_REGION=$REGION
export RCLONE_CONFIG_HM_ACCESS_KEY_ID=$ACCESS_KEY RCLONE_CONFIG_HM_SECRET_ACCESS_KEY=$SECRET_KEY
export RCLONE_CONFIG_HM_FORCE_PATH_STYLE=true
export RCLONE_RETRIES=1 RCLONE_LOW_LEVEL_RETRIES=2 RCLONE_CONTIMEOUT=10s RCLONE_TIMEOUT=60s
export RCLONE_CACHE_DIR=$COMPAT_TMP/rclone-cache
rc() { t rclone "$@"; }
# The paths of all files under REMOTE, sorted.
rpaths() {
    rc lsjson -R --files-only "$1" | python3 -c '
import json, sys
for e in json.load(sys.stdin): print(e["Path"])' | LC_ALL=C sort
}

B=$(compat_bucket rclone)
W=$COMPAT_TMP/work
mkdir -p "$W"

step "mkdir (create the bucket)"
rc mkdir "hm:$B"
rc lsjson hm: | python3 -c '
import json, sys
names = [e["Path"] for e in json.load(sys.stdin)]
sys.exit(0 if sys.argv[1] in names else 1)' "$B" || fail "the bucket is not among hm:'s buckets"

step "copy a tree"
make_tree "$W/tree" 200
rc copy "$W/tree" "hm:$B/tree"
list_tree "$W/tree" >"$W/tree.list"
rpaths "hm:$B/tree" >"$W/remote.list"
same_lines "$W/tree.list" "$W/remote.list" "lsjson -R after copy"

step "check (sizes and MD5s)"
rc check "$W/tree" "hm:$B/tree" 2>"$W/check.log" || fail "rclone check failed: $(tail -5 "$W/check.log")"
grep -q "0 differences found" "$W/check.log" || fail "rclone check: $(tail -3 "$W/check.log")"
grep -qE "hashes could not be checked" "$W/check.log" && fail "rclone check could not compare hashes: $(tail -3 "$W/check.log")"
# Plant a difference of the same size: check must find it.
f=d04/s00/f0004.txt
tr 'a-z' 'A-Z' <"$W/tree/$f" | rc rcat "hm:$B/tree/$f"
if rc check "$W/tree" "hm:$B/tree" >"$W/check2.log" 2>&1; then
    fail "rclone check did not notice a changed object"
fi
grep -q "1 differences found" "$W/check2.log" || fail "rclone check should report 1 difference: $(tail -3 "$W/check2.log")"

step "sync after local changes"
echo "changed" >"$W/tree/d05/s00/f0005.txt"
rm "$W/tree/d06/s00/f0006.txt" "$W/tree/unicode/données/résumé.txt"
mkdir -p "$W/tree/new dir"
echo "brand new" >"$W/tree/new dir/new+file.txt"
rc sync "$W/tree" "hm:$B/tree"
list_tree "$W/tree" >"$W/tree.list"
rpaths "hm:$B/tree" >"$W/remote.list"
same_lines "$W/tree.list" "$W/remote.list" "lsjson -R after sync"
rc check --download "$W/tree" "hm:$B/tree" 2>"$W/check3.log" \
    || fail "check --download after sync: $(tail -5 "$W/check3.log")"

step "lsjson --hash gives the MD5 of each object"
rc lsjson --hash --files-only "hm:$B/tree/special" | python3 -c '
import hashlib, json, os, sys
local = sys.argv[1]
n = 0
for e in json.load(sys.stdin):
    want = hashlib.md5(open(os.path.join(local, e["Path"]), "rb").read()).hexdigest()
    got = e.get("Hashes", {}).get("md5")
    assert got == want, "%s: md5 %s, want %s" % (e["Path"], got, want)
    n += 1
assert n == 2, "expected 2 files in special/, got %d" % n' "$W/tree/special" || fail "lsjson --hash"

step "cat"
rc cat "hm:$B/tree/special/name with spaces+plus.txt" >"$W/cat.out"
same_file "$W/tree/special/name with spaces+plus.txt" "$W/cat.out" "rclone cat"
rc cat "hm:$B/tree/unicode/日本語/ファイル.txt" >"$W/cat2.out"
same_file "$W/tree/unicode/日本語/ファイル.txt" "$W/cat2.out" "rclone cat of a unicode name"

step "server-side copyto"
rc copyto -v "hm:$B/tree/d07/s00/f0007.txt" "hm:$B/copied/f0007.txt" 2>"$W/copy.log" \
    || fail "rclone copyto: $(grep -v ' INFO ' "$W/copy.log" | tail -3)"
grep -q "server-side copy" "$W/copy.log" || fail "copyto was not a server-side copy: $(cat "$W/copy.log")"
rc cat "hm:$B/copied/f0007.txt" >"$W/copy.out"
same_file "$W/tree/d07/s00/f0007.txt" "$W/copy.out" "server-side copy"

step "moveto and move"
rc moveto "hm:$B/copied/f0007.txt" "hm:$B/moved/f0007.txt"
rc cat "hm:$B/moved/f0007.txt" >"$W/move.out"
same_file "$W/tree/d07/s00/f0007.txt" "$W/move.out" "moveto destination"
[ -z "$(rpaths "hm:$B/copied" 2>/dev/null || true)" ] || fail "moveto left the source behind"
mkdir -p "$W/to-move/sub"
make_random "$W/to-move/sub/a.bin" 1
cp "$W/to-move/sub/a.bin" "$W/a.bin.orig"
rc move "$W/to-move" "hm:$B/moved/local"
[ -z "$(find "$W/to-move" -type f)" ] || fail "move left local files behind"
rc cat "hm:$B/moved/local/sub/a.bin" >"$W/move2.out"
same_file "$W/a.bin.orig" "$W/move2.out" "move from local"

step "delete with a filter"
rc delete "hm:$B/tree" --include "d08/**"
rm -rf "$W/tree/d08"
list_tree "$W/tree" >"$W/tree.list"
rpaths "hm:$B/tree" >"$W/remote.list"
same_lines "$W/tree.list" "$W/remote.list" "lsjson -R after delete --include"

step "multipart upload (--s3-upload-cutoff 5M --s3-chunk-size 5M, 17 MiB)"
mkdir -p "$W/bigdir"
make_random "$W/bigdir/big.bin" 17
cp "$W/bigdir/big.bin" "$W/big.bin"
rc copyto --s3-upload-cutoff 5M --s3-chunk-size 5M "$W/big.bin" "hm:$B/big/big.bin"
rc lsjson --hash "hm:$B/big/big.bin" | python3 -c '
import json, sys
[e] = json.load(sys.stdin)
assert e["Size"] == 17 * 1024 * 1024, e
assert e.get("Hashes", {}).get("md5") == sys.argv[1], e' "$(md5sum "$W/big.bin" | cut -d' ' -f1)" \
    || fail "lsjson of the multipart object"
rc cat "hm:$B/big/big.bin" >"$W/big.out"
same_file "$W/big.bin" "$W/big.out" "multipart round trip"
rc check --download "$W/bigdir" "hm:$B/big" 2>"$W/check4.log" \
    || fail "check --download of the multipart object: $(tail -3 "$W/check4.log")"

step "server-side multipart copy (--s3-copy-cutoff 5M: UploadPartCopy)"
rc copyto -v --s3-copy-cutoff 5M "hm:$B/big/big.bin" "hm:$B/big/copy.bin" 2>"$W/copy2.log" \
    || fail "rclone copyto (multipart copy): $(grep -v ' INFO ' "$W/copy2.log" | tail -3)"
grep -q "server-side copy" "$W/copy2.log" || fail "the multipart copy was not server-side: $(cat "$W/copy2.log")"
rc cat "hm:$B/big/copy.bin" >"$W/big2.out"
same_file "$W/big.bin" "$W/big2.out" "multipart server-side copy"

step "mount (FUSE)"
if [ -e /dev/fuse ] && command -v fusermount >/dev/null 2>&1; then
    COMPAT_MOUNT=$W/mnt
    mkdir -p "$COMPAT_MOUNT"
    t rclone mount "hm:$B" "$COMPAT_MOUNT" --vfs-cache-mode off --dir-cache-time 1s \
        >"$W/mount.log" 2>&1 &
    mpid=$!
    for _ in $(seq 1 100); do
        mountpoint -q "$COMPAT_MOUNT" && break
        kill -0 "$mpid" 2>/dev/null || fail "rclone mount exited: $(tail -5 "$W/mount.log")"
        sleep 0.2
    done
    mountpoint -q "$COMPAT_MOUNT" || fail "rclone mount did not mount within 20 s: $(tail -5 "$W/mount.log")"
    same_file "$W/big.bin" "$COMPAT_MOUNT/big/big.bin" "read through the mount"
    same_file "$W/tree/special/a+b=c&d~e.txt" "$COMPAT_MOUNT/tree/special/a+b=c&d~e.txt" "read through the mount"
    (cd "$COMPAT_MOUNT/tree" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$W/mount.list"
    same_lines "$W/tree.list" "$W/mount.list" "files seen through the mount"
    make_random "$W/via-mount.bin" 3
    cp "$W/via-mount.bin" "$COMPAT_MOUNT/via-mount.bin"
    fusermount -u "$COMPAT_MOUNT" || fail "fusermount -u failed"
    for _ in $(seq 1 100); do kill -0 "$mpid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$mpid" 2>/dev/null && fail "rclone mount did not exit after unmount"
    wait "$mpid" || fail "rclone mount exited with an error: $(tail -5 "$W/mount.log")"
    rc cat "hm:$B/via-mount.bin" >"$W/via-mount.out"
    same_file "$W/via-mount.bin" "$W/via-mount.out" "file written through the mount"
else
    say "   SKIP (this part only): no /dev/fuse or no fusermount, rclone mount not tried"
fi

step "purge the bucket"
rc purge "hm:$B"
if rc lsjson hm: | python3 -c '
import json, sys
sys.exit(0 if sys.argv[1] in [e["Path"] for e in json.load(sys.stdin)] else 1)' "$B"; then
    fail "the bucket still exists after purge"
fi

compat_done
