#!/usr/bin/env bash
# One process per data directory and per disk: a second `hamster serve` on
# the same data dir, a serve that names another's disk, a split daemon on a
# locked meta dir or disk, `hamster-ctl init` on a running dir and
# `hamster recover` beside a running serve or hamster-shard are all refused
# with the holder's pid, while the first keeps serving.  The lock
# dies with its process: after SIGKILL the next start succeeds.
source "$(dirname "$0")/lib.sh"
B=$HM_BUILD_DIR
cd "$E2E_TMP"

# expect_refused OUT -- cmd...: exits 1 naming the first server's pid.
expect_refused() {
  local out=$1; shift 2
  local rc=0
  timeout 20 "$@" >"$out" 2>&1 || rc=$?
  [ "$rc" -eq 1 ] || { cat "$out" >&2; fail "$* exited $rc, not 1"; }
  grep -F "in use by another process (pid $SERVE_PID" "$out" >/dev/null ||
    { cat "$out" >&2; fail "no holder pid in: $*"; }
}

port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
start_serve data "$port" -disks "$E2E_TMP/d0"
s3 s3 mb s3://locked >/dev/null
printf 'first' > f1
s3 s3 cp f1 s3://locked/f1 >/dev/null

# A second serve on the same data directory (another port).
expect_refused o1 -- "$B/hamster" serve -data-dir data -s3 127.0.0.1:0 -disks "$E2E_TMP/d0"
grep -F "data is in use" o1 >/dev/null || fail "o1 does not name the data dir: $(cat o1)"
pass "second serve on the data dir refused with the holder's pid"

# Another data directory whose -disks names the first one's disk.
expect_refused o2 -- "$B/hamster" serve -data-dir other -s3 127.0.0.1:0 -disks "$E2E_TMP/d0"
grep -F "$E2E_TMP/d0 is in use" o2 >/dev/null || fail "o2 does not name the disk: $(cat o2)"
pass "a disk of a running serve is refused to another"

# The split daemons and init on the same directories.
expect_refused o3 -- "$B/hamster-meta" -data-dir data -listen 127.0.0.1:0
expect_refused o4 -- "$B/hamster-shard" -data-dir data -disk "$E2E_TMP/d0" -listen 127.0.0.1:0
expect_refused o5 -- "$B/hamster-ctl" init -data-dir data
pass "hamster-meta, hamster-shard and hamster-ctl init refused on locked dirs"

# recover takes the data dir's lock before it looks at anything else.
expect_refused o7 -- "$B/hamster" recover -from-shards data
grep -F "/data is in use" o7 >/dev/null || fail "o7 does not name the data dir: $(cat o7)"
[ -d data/meta ] && [ ! -e data/meta.recovering ] || fail "recover touched the data dir"
pass "recover beside a running serve refused with the holder's pid"

# The first process was not disturbed: it still reads and writes.
printf 'second' > f2
s3 s3 cp f2 s3://locked/f2 >/dev/null
s3 s3 cp s3://locked/f1 back >/dev/null
cmp -s back f1 || fail "f1 changed"
grep -F "poisoned" data.log >/dev/null && fail "the first server was poisoned"
pass "the running server keeps serving"

# SIGKILL leaves no stale lock.
kill -KILL "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
start_serve data "$port" -disks "$E2E_TMP/d0"
s3 s3 cp s3://locked/f2 back >/dev/null
cmp -s back f2 || fail "f2 lost"
pass "after SIGKILL the next start takes the lock"

# Split daemons lock too: a second hamster-shard on the same disk.
stop_pid "$SERVE_PID"
"$B/hamster-ctl" init -data-dir split -node n1 >/dev/null
sp=$(free_port)
"$B/hamster-shard" -data-dir split -disk split/disk0 -listen "127.0.0.1:$sp" -slot 0 -format \
  2>shard.log &
SERVE_PID=$!; E2E_PIDS+=("$SERVE_PID")
wait_tcp "$sp"
expect_refused o6 -- "$B/hamster-shard" -data-dir split -disk split/disk0 -listen 127.0.0.1:0
pass "a second hamster-shard on a disk refused"

# recover of a data dir whose disk a hamster-shard serves: the disk's lock
# refuses it, and no half-built metadata is left behind.
rm -rf split/meta
expect_refused o8 -- "$B/hamster-ctl" recover -from-shards split -disks split/disk0
grep -F "split/disk0 is in use" o8 >/dev/null || fail "o8 does not name the disk: $(cat o8)"
[ ! -e split/meta ] && [ ! -e split/meta.recovering ] || fail "recover built metadata"
stop_pid "$SERVE_PID"
# With the shard daemon stopped the same command runs.
"$B/hamster-ctl" recover -from-shards split -disks split/disk0 >o9 2>&1 ||
  { cat o9 >&2; fail "recover after the shard daemon stopped"; }
[ -d split/meta ] || fail "recover built no metadata"
pass "recover beside a running hamster-shard refused; after it stops, recover runs"
