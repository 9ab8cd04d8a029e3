#!/usr/bin/env bash
# Start-up errors say what is wrong: each names the path or address and the
# cause in words (issue 12's table), and what can fail is checked before the
# data directory is touched.  Every binary takes -h, -help and --help and
# -version; help text shows no "(default true)" nor a default twice.  The
# log names the address really bound and warns when S3 listens beyond
# loopback without TLS.  A shard or metadata peer that cannot be reached is
# named in the log.
source "$(dirname "$0")/lib.sh"
B=$HM_BUILD_DIR
cd "$E2E_TMP"

# expect_start_fail OUTFILE PATTERN... -- cmd...: exits 1, the output names
# every pattern (fixed strings).
expect_start_fail() {
  local out=$1; shift
  local pats=()
  while [ "$1" != "--" ]; do pats+=("$1"); shift; done
  shift
  local rc=0
  timeout 20 "$@" >"$out" 2>&1 || rc=$?
  [ "$rc" -eq 1 ] || { cat "$out" >&2; fail "$* exited $rc, not 1"; }
  for p in "${pats[@]}"; do
    grep -F -- "$p" "$out" >/dev/null || { cat "$out" >&2; fail "no '$p' in: $*"; }
  done
}

# 1. The data directory is a file.
: > afile
expect_start_fail o1 "afile is a file, not a directory" -- \
  "$B/hamster" serve -data-dir afile -s3 127.0.0.1:0
pass "data dir is a file: said so"

# 2. Its parent is missing.
expect_start_fail o2 "cannot create nope/data" "its parent directory nope does not exist" -- \
  "$B/hamster" serve -data-dir nope/data -s3 127.0.0.1:0
[ ! -e nope ] || fail "a missing parent was created"
pass "parent missing: said so, nothing created"

# 3. The S3 port is taken: refused before the data directory is touched.
port=$(free_port)
$PY -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$port)); s.listen(); open('bound','w').close(); time.sleep(30)" &
holder=$!; E2E_PIDS+=("$holder")
for _ in $(seq 1 100); do [ -e bound ] && break; sleep 0.1; done
expect_start_fail o3 "cannot listen on 127.0.0.1:$port" "in use" -- \
  "$B/hamster" serve -data-dir fresh -s3 "127.0.0.1:$port"
[ ! -e fresh ] || fail "the data directory was initialised although the port was taken"
expect_start_fail o3m "metrics: cannot listen on 127.0.0.1:$port" -- \
  "$B/hamster" serve -data-dir fresh -s3 127.0.0.1:0 -metrics "127.0.0.1:$port"
[ ! -e fresh ] || fail "the data directory was initialised although the metrics port was taken"
kill "$holder"
pass "S3 or metrics port in use: named, data dir untouched"

# 4. A new data directory that cannot be written (as an unprivileged user;
# root writes anywhere).
chmod 755 "$E2E_TMP"   # mktemp made it 0700: let the other user reach ro/
mkdir -p ro/data && chmod 755 ro && chmod 555 ro/data
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
# The build directory may be readable by its owner only (a root build in
# /root): the other user runs a copy of the binary from a directory it can
# read.
mkdir -p nbin && cp "$B/hamster" nbin/hamster && chmod 755 nbin nbin/hamster
expect_start_fail o4 "ro/data is not writable: permission denied" -- \
  "${nobody[@]}" env HAMSTER_ACCESS_KEY_ID=a HAMSTER_SECRET_ACCESS_KEY=secretsecret \
  nbin/hamster serve -data-dir ro/data -s3 127.0.0.1:0
grep -i "root key" o4 >/dev/null && fail "unwritable dir reported as a root key mismatch"
chmod 555 ro
expect_start_fail o4b "cannot create ro/new" "ro is not writable: permission denied" -- \
  "${nobody[@]}" env HAMSTER_ACCESS_KEY_ID=a HAMSTER_SECRET_ACCESS_KEY=secretsecret \
  nbin/hamster serve -data-dir ro/new -s3 127.0.0.1:0
pass "unwritable data dir: said so (not a root key mismatch)"

# 5. serve on a `cluster init` data directory with its own node name.
"$B/hamster" cluster init -data-dir ci -node n7 >/dev/null
port=$(free_port)
start_serve ci "$port"
grep -F "ready: S3 on http://127.0.0.1:$port" ci.log >/dev/null || fail "ready line: $(cat ci.log)"
stop_pid "$SERVE_PID"
expect_start_fail o5 "ci was initialised for node n7" "-node other" -- \
  "$B/hamster" serve -data-dir ci -s3 127.0.0.1:0 -node other
pass "serve on a cluster-init dir: runs with its node name; another -node is named"

# 6. Another root access key id with the same secret (format 2 pins both).
expect_start_fail o6 "HAMSTER_ACCESS_KEY_ID" "not the one ci was initialised with" -- \
  env HAMSTER_ACCESS_KEY_ID=someone-else "$B/hamster" serve -data-dir ci -s3 127.0.0.1:0
expect_start_fail o6b "not the one ci was initialised with" -- \
  env HAMSTER_SECRET_ACCESS_KEY=another-secret-entirely "$B/hamster" serve -data-dir ci \
  -s3 127.0.0.1:0
pass "a different root access key id or secret is refused"

# 7. Listening wide: the real address is logged, with a warning without TLS.
port=$(free_port)
"$B/hamster" serve -data-dir wide -s3 ":$port" 2>wide.log &
pid=$!; E2E_PIDS+=("$pid")
wait_http "$port"
grep -F "ready: S3 on http://0.0.0.0:$port" wide.log >/dev/null || fail "bound address: $(cat wide.log)"
grep -F "beyond this machine, without TLS" wide.log >/dev/null || fail "no plain-HTTP warning"
stop_pid "$pid"
grep -F "without TLS" ci.log >/dev/null && fail "loopback serve warned about TLS"
pass "':port' logs 0.0.0.0:port and warns about plain HTTP; loopback does not"

# 8. A shard or metadata daemon that cannot be reached is named in the log.
"$B/hamster-ctl" init -data-dir split -node n1 >/dev/null
meta_port=$(free_port); dead_port=$(free_port); s3_port=$(free_port)
"$B/hamster-meta" -data-dir split -listen "127.0.0.1:$meta_port" 2>split.meta.log &
E2E_PIDS+=("$!")
wait_tcp "$meta_port"
"$B/hamster-gw" -data-dir split -s3 "127.0.0.1:$s3_port" -meta "127.0.0.1:$meta_port" \
  -shards "127.0.0.1:$dead_port" 2>split.gw.log &
gw=$!; E2E_PIDS+=("$gw")
wait_http "$s3_port"
ENDPOINT="http://127.0.0.1:$s3_port"
s3 s3 mb s3://bkt >/dev/null
head -c 100000 /dev/urandom > obj
s3 s3api put-object --bucket bkt --key k --body obj >/dev/null 2>&1 && fail "put without a shard store succeeded"
grep -F "shard store 127.0.0.1:$dead_port" split.gw.log >/dev/null || { cat split.gw.log >&2; fail "dead shard not named"; }
stop_pid "$gw"
"$B/hamster-gw" -data-dir split -s3 "127.0.0.1:$s3_port" -meta "127.0.0.1:$dead_port" \
  -shards "127.0.0.1:$dead_port" 2>split.gw2.log &
gw=$!; E2E_PIDS+=("$gw")
wait_http "$s3_port"
s3 s3 ls >/dev/null 2>&1 && fail "listing without metadata succeeded"
grep -F "metadata service 127.0.0.1:$dead_port" split.gw2.log >/dev/null || { cat split.gw2.log >&2; fail "dead metadata not named"; }
stop_pid "$gw"
pass "an unreachable shard store or metadata service is named in the log"

# 9. Help and version on every binary.
for bin in hamster hamster-ctl hamster-meta hamster-shard hamster-gw; do
  for h in -h -help --help; do
    out=$("$B/$bin" $h) || fail "$bin $h exited $?"
    echo "$out" | grep -q '^usage: ' || fail "$bin $h printed no usage"
    echo "$out" | grep -F '(default true)' >/dev/null && fail "$bin $h shows (default true)"
    echo "$out" | grep -F '(default false)' >/dev/null && fail "$bin $h shows (default false)"
    echo "$out" | grep -E '\(default [^)]*\) \(default' >/dev/null && fail "$bin $h doubles a default"
  done
  out=$("$B/$bin" -version) || fail "$bin -version exited $?"
  echo "$out" | grep -E "^$bin [0-9]+\.[0-9]+\.[0-9]+" >/dev/null || fail "$bin -version: $out"
  echo "$out" | grep -F "cluster identity 1..2" >/dev/null || fail "$bin -version names no formats"
done
for args in "serve -h" "serve --help" "serve -help" "cluster init -h"; do
  out=$("$B/hamster" $args) || fail "hamster $args exited $?"
  echo "$out" | grep -q '^usage: ' || fail "hamster $args printed no usage"
  echo "$out" | grep -F '(default true)' >/dev/null && fail "hamster $args shows (default true)"
  echo "$out" | grep -E '\(default [^)]*\) \(default' >/dev/null && fail "hamster $args doubles a default"
done
"$B/hamster" version | grep -E '^hamster [0-9]' >/dev/null || fail "hamster version"
"$B/hamster" --version | grep -F 'formats:' >/dev/null || fail "hamster --version"
"$B/hamster-ctl" version | grep -E '^hamster-ctl [0-9]' >/dev/null || fail "hamster-ctl version"
rc=0; "$B/hamster-meta" -bogus >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "an unknown flag exits $rc, not 2"
pass "-h, -help, --help and -version everywhere; no (default true), no doubled default"
