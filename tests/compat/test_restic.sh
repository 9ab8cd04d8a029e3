#!/usr/bin/env bash
# covers: init (creates the bucket), backup of a tree (small files, unicode names, 24 MiB of random data), snapshots, check --read-data, restore and diff -r, a second backup that adds only the change (dedup), forget --prune, check and restore again
# client: restic
# version: restic version | cut -d' ' -f2
# status: passes; also passes against Ceph RGW 16
. "$(dirname "$0")/lib.sh"

compat_need_client restic
compat_start

B=$(compat_bucket restic)
W=$COMPAT_TMP/work
mkdir -p "$W"
export RESTIC_REPOSITORY="s3:$ENDPOINT/$B"
RESTIC_PASSWORD="compat-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n")"
export RESTIC_PASSWORD
export AWS_ACCESS_KEY_ID=$ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SECRET_KEY AWS_DEFAULT_REGION=$REGION
export RESTIC_CACHE_DIR=$COMPAT_TMP/restic-cache
rs() { t restic -o "s3.region=$REGION" "$@"; }
# The value of FIELD in the summary line of `restic backup --json`.
summary() {
    python3 -c '
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
s = [m for m in s if m.get("message_type") == "summary"]
assert len(s) == 1, "no summary in the backup output"
print(s[0][sys.argv[2]])' "$1" "$2"
}
snapshot_count() { rs snapshots --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }

step "init"
rs init >"$W/init.log" 2>&1 || fail "restic init: $(tail -5 "$W/init.log")"

step "backup a tree"
make_tree "$W/src" 300
mkdir -p "$W/src/blobs"
for i in 1 2 3; do make_random "$W/src/blobs/random$i.bin" 8; done
(cd "$W" && rs backup --json --host compat src) >"$W/backup1.json" 2>"$W/backup1.err" \
    || fail "restic backup: $(tail -5 "$W/backup1.err")"
added1=$(summary "$W/backup1.json" data_added)
files1=$(summary "$W/backup1.json" files_new)
expect_eq "$(find "$W/src" -type f | wc -l)" "$files1" "files_new of the first backup"
[ "$added1" -ge $(( 24 * 1024 * 1024 )) ] || fail "first backup added only $added1 bytes (the tree holds 24+ MiB)"
expect_eq 1 "$(snapshot_count)" "snapshots after the first backup"

step "check --read-data"
rs check --read-data >"$W/check1.log" 2>&1 || fail "restic check --read-data: $(tail -5 "$W/check1.log")"
grep -q "no errors were found" "$W/check1.log" || fail "restic check: $(tail -3 "$W/check1.log")"

step "restore and compare"
rs restore latest --target "$W/restore1" >"$W/restore1.log" 2>&1 || fail "restic restore: $(tail -5 "$W/restore1.log")"
diff -r "$W/src" "$W/restore1/src" >/dev/null || fail "the restored tree differs: $(diff -rq "$W/src" "$W/restore1/src" | head -5)"

step "second backup after a small change (dedup)"
make_random "$W/src/blobs/new.bin" 1
echo "edited" >>"$W/src/d01/s01/f0011.txt"
rm "$W/src/blobs/random2.bin"
(cd "$W" && rs backup --json --host compat src) >"$W/backup2.json" 2>"$W/backup2.err" \
    || fail "second restic backup: $(tail -5 "$W/backup2.err")"
added2=$(summary "$W/backup2.json" data_added)
unchanged2=$(summary "$W/backup2.json" files_unmodified)
say "   first backup added $added1 bytes, the second $added2"
# The change is 1 MiB of new data plus one small file and new tree blobs.
[ "$added2" -lt $(( 2 * 1024 * 1024 )) ] || fail "the second backup added $added2 bytes: no dedup"
[ "$added2" -ge $(( 1024 * 1024 )) ] || fail "the second backup added $added2 bytes, less than the 1 MiB new file"
expect_eq "$(( files1 - 2 ))" "$unchanged2" "files_unmodified of the second backup"
expect_eq 2 "$(snapshot_count)" "snapshots after the second backup"

step "forget --prune"
rs forget --keep-last 1 --prune >"$W/forget.log" 2>&1 || fail "restic forget --prune: $(tail -5 "$W/forget.log")"
expect_eq 1 "$(snapshot_count)" "snapshots after forget --keep-last 1"
# The deleted 8 MiB file is now unreferenced: prune must have removed its data.
rs stats --json --mode raw-data >"$W/stats.json" 2>"$W/stats.err" || fail "restic stats: $(tail -3 "$W/stats.err")"
size=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["total_size"])' "$W/stats.json")
src_size=$(du -sb --apparent-size "$W/src" | cut -f1)
say "   repository raw data after prune: $size bytes (tree: $src_size bytes)"
[ "$size" -lt $(( src_size + 2 * 1024 * 1024 )) ] || fail "prune left $size bytes of raw data for a $src_size byte tree"

step "check --read-data and restore after prune"
rs check --read-data >"$W/check2.log" 2>&1 || fail "restic check after prune: $(tail -5 "$W/check2.log")"
rs restore latest --target "$W/restore2" >"$W/restore2.log" 2>&1 || fail "restic restore: $(tail -5 "$W/restore2.log")"
diff -r "$W/src" "$W/restore2/src" >/dev/null || fail "the restored tree differs: $(diff -rq "$W/src" "$W/restore2/src" | head -5)"

compat_done
