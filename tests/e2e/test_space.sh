#!/usr/bin/env bash
# Space under pressure: on a small disk (a 40 MiB tmpfs), PUTs fill it until
# one is refused with 507 InsufficientStorage (never 500 InternalError);
# deleting half the objects lets a PUT in again within seconds, not after
# the 60 s read grace, because the GC collects at once while a disk is short
# of space; every object that was acknowledged still reads back whole.
source "$(dirname "$0")/lib.sh"
# Mounting needs root: a user namespace gives it to an unprivileged run.
if [ "$(id -u)" != 0 ] && [ -z "${HM_SPACE_USERNS:-}" ]; then
  rm -rf "$E2E_TMP"
  HM_SPACE_USERNS=1 exec unshare -Urm bash "$0"
fi
small=$(mktemp -d "${TMPDIR:-/tmp}/hamster-small.XXXXXX")
mount -t tmpfs -o size=40m tmpfs "$small" || fail "cannot mount a tmpfs on $small"
trap 'e2e_cleanup; umount "$small"; rmdir "$small"' EXIT
cd "$E2E_TMP"

port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
# The default read grace (60 s): the test must not wait it out.
start_serve data "$port" -disks "$small/disk"
s3 s3 mb s3://full >/dev/null
head -c $((1 << 20)) /dev/urandom > obj

# req METHOD KEY [curl args]: the HTTP status (curl signs with SigV4; the
# aws CLI would take seconds per call on a busy machine).
req() {
  local m=$1 k=$2; shift 2
  curl -s -o put.out -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X "$m" "$@" "$ENDPOINT/full/$k"
}
put() { req PUT "$1" -T obj; }
n=0; status=200
while [ "$status" = 200 ]; do
  n=$((n + 1))
  [ "$n" -le 60 ] || fail "40 MiB took more than 60 objects of 1 MiB"
  status=$(put "o$n")
done
stored=$((n - 1))
[ "$status" = 507 ] || { cat put.out >&2; fail "a PUT on a full disk answered $status"; }
grep -F '<Code>InsufficientStorage</Code>' put.out >/dev/null || fail "no InsufficientStorage body: $(cat put.out)"
[ "$stored" -ge 20 ] || fail "only $stored objects fit"
grep -F InternalError data.log >/dev/null && fail "InternalError in the log"
pass "$stored objects stored; the next PUT was refused with 507 InsufficientStorage"

# Delete half, then a PUT gets in again well before the 60 s grace.
for i in $(seq 1 2 "$stored"); do
  [ "$(req DELETE "o$i")" = 204 ] || fail "delete o$i: $(cat put.out)"
done
start=$(date +%s)
while :; do
  status=$(put again)
  [ "$status" = 200 ] && break
  [ "$status" = 507 ] || [ "$status" = 503 ] || { cat put.out >&2; fail "PUT while collecting answered $status"; }
  [ $(( $(date +%s) - start )) -lt 30 ] || fail "no PUT got in within 30 s of the deletes"
  sleep 1
done
took=$(( $(date +%s) - start ))
pass "a PUT got in ${took}s after deleting half (grace 60 s)"
grep -F "at once (a disk is short of space)" data.log >/dev/null || fail "the GC did not say it ran without the grace"

# Everything acknowledged and not deleted is intact.
for k in $(seq -f 'o%g' 2 2 "$stored") again; do
  [ "$(req GET "$k")" = 200 ] || fail "get $k"
  cmp -s put.out obj || fail "$k differs"
done
pass "every kept object reads back whole"
