#!/usr/bin/env bash
# covers: mb, ls (buckets and objects), put/get of a 12 MiB file with --multipart-chunk-size-mb=5, info (size, MD5, content type), put/get of small files with special names, sync up and down (with --delete-removed), del, del --recursive, rb
# client: s3cmd
# version: s3cmd --version | cut -d' ' -f3
# status: passes; also passes against Ceph RGW 16
. "$(dirname "$0")/lib.sh"

compat_need_client s3cmd
compat_start

W=$COMPAT_TMP/work
mkdir -p "$W"
CFG=$COMPAT_TMP/s3cfg
# Path-style: host_bucket without %(bucket)s.
cat >"$CFG" <<EOF
[default]
access_key = $ACCESS_KEY
secret_key = $SECRET_KEY
host_base = $HOSTPORT
host_bucket = $HOSTPORT
bucket_location = $REGION
use_https = False
signature_v2 = False
check_ssl_certificate = False
guess_mime_type = True
socket_timeout = 60
max_retries = 2
progress_meter = False
EOF
s3c() { t s3cmd -c "$CFG" --no-progress "$@"; }
# The keys under s3://BUCKET/PREFIX (s3cmd ls --recursive), sorted, without the prefix.
keys() {
    s3c ls --recursive "s3://$B/$1" | sed -E 's|^[0-9-]+ [0-9:]+ +[0-9]+ +s3://[^/]+/||' \
        | sed "s|^$1||" | LC_ALL=C sort
}

B=$(compat_bucket s3cmd)

step "mb and ls"
s3c mb "s3://$B" >/dev/null
s3c ls >"$W/buckets.txt"
grep -qE " s3://$B\$" "$W/buckets.txt" || fail "s3cmd ls does not show the new bucket"

step "put a 12 MiB file in 5 MiB parts"
make_random "$W/big.bin" 12
s3c -d put --multipart-chunk-size-mb=5 "$W/big.bin" "s3://$B/big/big.bin" >"$W/put.log" 2>&1 \
    || fail "s3cmd put: $(grep -v DEBUG "$W/put.log" | tail -3)"
parts=$(grep -oE 'partNumber=[0-9]+' "$W/put.log" | LC_ALL=C sort -u | tr '\n' ' ')
expect_eq "partNumber=1 partNumber=2 partNumber=3 " "$parts" "parts that s3cmd uploaded"

step "info"
s3c info "s3://$B/big/big.bin" >"$W/info.txt"
size=$(sed -n 's/^ *File size: *//p' "$W/info.txt")
expect_eq 12582912 "$size" "File size in s3cmd info"
md5=$(sed -n 's/^ *MD5 sum: *//p' "$W/info.txt")
expect_eq "$(md5sum "$W/big.bin" | cut -d' ' -f1)" "$md5" "MD5 sum in s3cmd info"
etag=$(sed -n 's/^ *ETag: *//p' "$W/info.txt")
[ -z "$etag" ] || [[ $etag =~ -3$ ]] || fail "ETag of a 3-part upload should end in -3, got $etag"
s3c info "s3://$B" >"$W/binfo.txt" || fail "s3cmd info on the bucket"

step "get and compare"
s3c get "s3://$B/big/big.bin" "$W/big.back" >/dev/null
same_file "$W/big.bin" "$W/big.back" "s3cmd get"

step "put/get of small files with special names"
printf 'plus and spaces\n' >"$W/s1.txt"
s3c put "$W/s1.txt" "s3://$B/special/a b+c.txt" >/dev/null
s3c get "s3://$B/special/a b+c.txt" "$W/s1.back" >/dev/null
same_file "$W/s1.txt" "$W/s1.back" "name with spaces and +"
printf 'unicode\n' >"$W/s2.txt"
s3c put "$W/s2.txt" "s3://$B/special/données-ファイル.txt" >/dev/null
s3c get "s3://$B/special/données-ファイル.txt" "$W/s2.back" >/dev/null
same_file "$W/s2.txt" "$W/s2.back" "unicode name"
printf 'a,b\n1,2\n' >"$W/t.csv"
s3c put --mime-type=text/csv "$W/t.csv" "s3://$B/special/t.csv" >/dev/null
s3c info "s3://$B/special/t.csv" >"$W/info2.txt"
grep -qE '^ *MIME type: *text/csv$' "$W/info2.txt" || fail "the MIME type was not kept: $(cat "$W/info2.txt")"
printf '%s\n' "a b+c.txt" "données-ファイル.txt" "t.csv" >"$W/special.list"
keys special/ >"$W/special.remote"
same_lines "$W/special.list" "$W/special.remote" "ls --recursive special/"

step "sync a tree up"
make_tree "$W/tree" 150
s3c sync "$W/tree/" "s3://$B/tree/" >"$W/sync.log" 2>&1 || fail "s3cmd sync: $(tail -5 "$W/sync.log")"
list_tree "$W/tree" >"$W/tree.list"
keys tree/ >"$W/tree.remote"
same_lines "$W/tree.list" "$W/tree.remote" "ls --recursive after sync"

step "sync --delete-removed after local changes"
echo changed >"$W/tree/d02/s00/f0002.txt"
rm "$W/tree/d03/s00/f0003.txt" "$W/tree/special/name with spaces+plus.txt"
echo added >"$W/tree/d09/added.txt"
s3c sync --delete-removed "$W/tree/" "s3://$B/tree/" >"$W/sync2.log" 2>&1 || fail "s3cmd sync: $(tail -5 "$W/sync2.log")"
list_tree "$W/tree" >"$W/tree.list"
keys tree/ >"$W/tree.remote"
same_lines "$W/tree.list" "$W/tree.remote" "ls --recursive after sync --delete-removed"

step "sync the tree down and compare"
mkdir -p "$W/tree.back"
s3c sync "s3://$B/tree/" "$W/tree.back/" >"$W/sync3.log" 2>&1 || fail "s3cmd sync down: $(tail -5 "$W/sync3.log")"
diff -r "$W/tree" "$W/tree.back" >/dev/null || fail "the tree synced back differs: $(diff -rq "$W/tree" "$W/tree.back" | head -5)"

step "del"
s3c del "s3://$B/big/big.bin" >/dev/null
s3c info "s3://$B/big/big.bin" >/dev/null 2>&1 && fail "s3cmd info still finds a deleted object"
[ -z "$(keys big/)" ] || fail "a deleted object is still listed"
s3c del --recursive --force "s3://$B/tree/d04/" >/dev/null
rm -rf "$W/tree/d04"
list_tree "$W/tree" >"$W/tree.list"
keys tree/ >"$W/tree.remote"
same_lines "$W/tree.list" "$W/tree.remote" "ls --recursive after del --recursive"

step "rb"
s3c del --recursive --force "s3://$B" >/dev/null
[ -z "$(keys "")" ] || fail "objects left after del --recursive of the bucket"
s3c rb "s3://$B" >/dev/null
s3c ls >"$W/buckets.txt"
grep -qE " s3://$B\$" "$W/buckets.txt" && fail "the bucket is still listed after rb"

compat_done
