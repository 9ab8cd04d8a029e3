# Shared helpers for the end-to-end tests: real binaries, real sockets,
# loopback only.  Source it; it sets -euo pipefail and a cleanup trap.
set -euo pipefail

: "${HM_BUILD_DIR:?run through ctest, or set HM_BUILD_DIR}"
: "${HM_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
AWS=/usr/bin/aws            # Debian's awscli, not whatever else is on PATH
PY=/usr/bin/python3         # Debian's python, where python3-boto3 lives
export HAMSTER_ACCESS_KEY_ID=e2e-access
export HAMSTER_SECRET_ACCESS_KEY=e2e-secret-key-0123456789
export AWS_ACCESS_KEY_ID=$HAMSTER_ACCESS_KEY_ID
export AWS_SECRET_ACCESS_KEY=$HAMSTER_SECRET_ACCESS_KEY
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_MAX_ATTEMPTS=1
# Several servers may run at once (ctest -j); each test has its own dir.
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hamster-e2e.XXXXXX")
E2E_PIDS=()

e2e_cleanup() {
  local pid
  for pid in "${E2E_PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${E2E_PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$E2E_TMP"
}
trap e2e_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http PORT: until anything answers HTTP on the port (20 s at most).
wait_http() {
  local port=$1
  for _ in $(seq 1 200); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  fail "nothing answers on port $port"
}

# wait_tcp PORT: until the port accepts TCP connections (20 s at most).
wait_tcp() {
  local port=$1
  for _ in $(seq 1 200); do
    if $PY -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$port)))" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  fail "nothing listens on port $port"
}

# start_serve DATA_DIR PORT [extra flags]: hamster serve in the background;
# sets SERVE_PID.  Its log goes to DATA_DIR.log.
start_serve() {
  local dir=$1 port=$2; shift 2
  "$HM_BUILD_DIR/hamster" serve -data-dir "$dir" -s3 "127.0.0.1:$port" "$@" \
    2>>"$dir.log" &
  SERVE_PID=$!
  E2E_PIDS+=("$SERVE_PID")
  wait_http "$port"
}

# stop_pid PID: SIGTERM and wait; fails if it does not exit cleanly in 20 s.
stop_pid() {
  local pid=$1 rc=0
  kill -TERM "$pid"
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "pid $pid did not stop on SIGTERM"
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "pid $pid exited with $rc after SIGTERM"
}

s3() { $AWS --endpoint-url "$ENDPOINT" "$@"; }

md5() { md5sum "$1" | cut -d' ' -f1; }

# expect_s3_error CODE STATUS -- curl args...: the response has that HTTP
# status and an S3 <Error> body with that <Code>.
expect_s3_error() {
  local code=$1 status=$2; shift 3
  local body="$E2E_TMP/err.$$" got
  got=$(curl -s -o "$body" -w '%{http_code}' "$@") || true
  [ "$got" = "$status" ] || { cat "$body" >&2 || true; fail "expected HTTP $status ($code), got $got"; }
  grep -q "<Code>$code</Code>" "$body" || { cat "$body" >&2; fail "expected <Code>$code</Code>"; }
  grep -q "<RequestId>" "$body" || fail "error body without RequestId"
}
