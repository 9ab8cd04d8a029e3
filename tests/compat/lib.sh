# Shared helpers for the third-party client compatibility scenarios
# (tests/compat/test_*.sh). Source it from a scenario:
#
#   . "$(dirname "$0")/lib.sh"
#   compat_need_client /usr/bin/aws     # exit 77 (skipped) if the client is absent
#   compat_start                        # server up, ENDPOINT/ACCESS_KEY/... set
#
# By default every scenario starts its own `hamster serve` with a fresh data
# directory on a free loopback port, and stops it when the scenario ends.
# To run the same scenarios against another S3 server (a peer, for developing
# the scenarios themselves), set all three of:
#
#   HM_COMPAT_ENDPOINT=http://127.0.0.1:7480
#   HM_COMPAT_ACCESS_KEY=...   HM_COMPAT_SECRET_KEY=...
#
# A known deviation of such a peer can relax one named check, listed in
# HM_COMPAT_QUIRKS (space-separated names). Quirks are ignored when the
# scenario runs its own hamster serve. The names in use:
#   complete-etag       CompleteMultipartUpload answers with an empty ETag
#   no-chunked-trailer  aws-chunked bodies with a trailing checksum are refused
# Ceph RGW 16 (Debian 12) has both: run the suite against it with
#   HM_COMPAT_ENDPOINT=http://127.0.0.1:7480 HM_COMPAT_ACCESS_KEY=... \
#   HM_COMPAT_SECRET_KEY=... HM_COMPAT_QUIRKS="complete-etag no-chunked-trailer" \
#   bash tests/compat/test_awscli.sh
#
# Bucket names always carry a random suffix (see compat_bucket), so runs
# against a shared server do not collide.
#
# Exit codes: 0 passed, 1 failed, 77 skipped (only when the client binary
# itself is not installed).

set -euo pipefail

COMPAT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMPAT_NAME=$(basename "$0" .sh)
COMPAT_T0=$(date +%s)
COMPAT_STEP="setup"
COMPAT_SERVER_PID=""
COMPAT_TMP=""
COMPAT_DONE=0
COMPAT_SKIPPED=0
# Upper bound for any single client command (seconds).
COMPAT_CMD_TIMEOUT=${HM_COMPAT_CMD_TIMEOUT:-150}

export LC_ALL=C.UTF-8 LANG=C.UTF-8 PYTHONIOENCODING=utf-8
# The clients talk plain HTTP to loopback and get their keys from the
# scenario: settings from the caller's environment only get in the way (rclone
# refuses to start with AWS_CA_BUNDLE set, a session token breaks signing, ...).
unset AWS_CA_BUNDLE AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN \
      AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_REGION AWS_DEFAULT_REGION \
      AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE \
      http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

say() { printf '[%s %4ss] %s\n' "$COMPAT_NAME" "$(( $(date +%s) - COMPAT_T0 ))" "$*"; }

fail() {
    printf '[%s] FAIL in step "%s": %s\n' "$COMPAT_NAME" "$COMPAT_STEP" "$*" >&2
    exit 1
}

# Skip the whole scenario. Only for "the client is not installed".
skip() {
    printf '[%s] SKIP: %s\n' "$COMPAT_NAME" "$*"
    COMPAT_SKIPPED=1
    exit 77
}

step() {
    COMPAT_STEP=$*
    say "-- $*"
}

# compat_need_client PATH-OR-NAME...: skip (77) unless every one is installed.
compat_need_client() {
    local c
    for c in "$@"; do
        if [[ $c == */* ]]; then
            [ -x "$c" ] || skip "$c is not installed (tests/compat/install.sh installs it)"
        else
            command -v "$c" >/dev/null 2>&1 || skip "$c is not installed (tests/compat/install.sh installs it)"
        fi
    done
}

# quirk NAME: true if the external server is declared to have quirk NAME
# (HM_COMPAT_QUIRKS), in which case the caller relaxes that one check.
quirk() {
    [ -n "${HM_COMPAT_ENDPOINT:-}" ] || return 1
    case " ${HM_COMPAT_QUIRKS:-} " in
        *" $1 "*) say "   (quirk $1 declared: relaxing this check)"; return 0 ;;
    esac
    return 1
}

# Run a client command with a time bound: t CMD ARGS...
t() { timeout -k 10 "$COMPAT_CMD_TIMEOUT" "$@"; }

# rand_str ALPHABET N: N random characters from ALPHABET.
rand_str() {
    python3 -c 'import secrets, sys; print("".join(secrets.choice(sys.argv[1]) for _ in range(int(sys.argv[2]))))' "$1" "$2"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# A bucket name unique to this run: compat_bucket BASE
compat_bucket() {
    printf '%s-%s' "$1" "$COMPAT_RUN_ID"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# same_file EXPECTED ACTUAL WHAT: fail unless both files have the same bytes.
same_file() {
    [ -f "$2" ] || fail "$3: $2 does not exist"
    local a b
    a=$(sha "$1"); b=$(sha "$2")
    [ "$a" = "$b" ] || fail "$3: sha256 differs (expected $a, got $b; sizes $(stat -c %s "$1") vs $(stat -c %s "$2"))"
}

# same_lines EXPECTED-FILE ACTUAL-FILE WHAT: compare two lists after sorting.
same_lines() {
    local e a
    e=$(LC_ALL=C sort "$1"); a=$(LC_ALL=C sort "$2")
    if [ "$e" != "$a" ]; then
        printf '%s\n' "$e" >"$COMPAT_TMP/.expected"; printf '%s\n' "$a" >"$COMPAT_TMP/.actual"
        echo "--- diff expected actual (first 40 lines):" >&2
        diff "$COMPAT_TMP/.expected" "$COMPAT_TMP/.actual" | head -40 >&2 || true
        fail "$3: listing differs ($(wc -l <"$COMPAT_TMP/.expected") expected, $(wc -l <"$COMPAT_TMP/.actual") got)"
    fi
}

# expect_eq EXPECTED ACTUAL WHAT
expect_eq() {
    [ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}

# make_random FILE MIB: a file of MIB MiB of random bytes.
make_random() {
    head -c "$(( $2 * 1024 * 1024 ))" /dev/urandom >"$1"
}

# make_tree DIR COUNT: COUNT small files (unique contents) under nested
# prefixes DIR/dNN/sNN/fNNNN.txt, plus names with unicode, spaces, '+', '=',
# '&' and '~'. Prints nothing; list the result with list_tree.
make_tree() {
    python3 - "$1" "$2" <<'PY'
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
def put(rel, data):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
for i in range(count):
    rel = "d%02d/s%02d/f%04d.txt" % (i % 10, (i // 10) % 10, i)
    put(rel, ("file %d %s\n" % (i, os.urandom(8).hex())).encode() * (1 + i % 7))
for rel in ["unicode/données/résumé.txt", "unicode/日本語/ファイル.txt",
            "unicode/🐹 hamster.txt", "special/name with spaces+plus.txt",
            "special/a+b=c&d~e.txt", "special/dir with space/inner file.txt"]:
    put(rel, (rel + "\n").encode() + os.urandom(32).hex().encode())
put("empty/zero-length.txt", b"")
PY
}

# list_tree DIR: the relative paths of all files under DIR, one a line, sorted.
list_tree() { (cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort); }

compat_cleanup() {
    local rc=$?
    set +e
    # 77 means "skipped" to ctest: only skip() may exit with it (s3cmd, for
    # one, exits 77 on AccessDenied).
    if [ "$rc" = 77 ] && [ "$COMPAT_SKIPPED" != 1 ]; then
        rc=1
    fi
    if [ -n "$COMPAT_SERVER_PID" ]; then
        if kill -0 "$COMPAT_SERVER_PID" 2>/dev/null; then
            kill -TERM "$COMPAT_SERVER_PID" 2>/dev/null
            for _ in $(seq 1 100); do
                kill -0 "$COMPAT_SERVER_PID" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$COMPAT_SERVER_PID" 2>/dev/null; then
                say "server did not stop within 10 s of SIGTERM; sending SIGKILL"
                kill -KILL "$COMPAT_SERVER_PID" 2>/dev/null
            fi
        fi
        wait "$COMPAT_SERVER_PID" 2>/dev/null
        if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -s "$COMPAT_TMP/server.log" ]; then
            echo "--- last 40 lines of the server log:" >&2
            tail -n 40 "$COMPAT_TMP/server.log" >&2
        fi
    fi
    if [ -n "$COMPAT_TMP" ]; then
        # FUSE mounts (rclone) must be gone before the directory can go.
        if [ -n "${COMPAT_MOUNT:-}" ] && mountpoint -q "$COMPAT_MOUNT" 2>/dev/null; then
            fusermount -u -z "$COMPAT_MOUNT" 2>/dev/null
        fi
        rm -rf "$COMPAT_TMP"
    fi
    if [ "$rc" = 0 ] && [ "$COMPAT_DONE" != 1 ]; then
        echo "[$COMPAT_NAME] FAIL: exited early in step \"$COMPAT_STEP\"" >&2
        rc=1
    fi
    if [ "$rc" = 0 ]; then
        say "PASS"
    elif [ "$rc" != 77 ]; then
        echo "[$COMPAT_NAME] FAIL (exit $rc) in step \"$COMPAT_STEP\" after $(( $(date +%s) - COMPAT_T0 ))s" >&2
    fi
    exit "$rc"
}

# compat_start: make the temp dir, bring up (or point at) the server.
# Sets: COMPAT_TMP ENDPOINT HOSTPORT ACCESS_KEY SECRET_KEY REGION COMPAT_RUN_ID
compat_start() {
    COMPAT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hm-compat-$COMPAT_NAME.XXXXXX")
    trap compat_cleanup EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    COMPAT_RUN_ID=$(rand_str abcdefghijklmnopqrstuvwxyz0123456789 8)
    REGION=us-east-1

    if [ -n "${HM_COMPAT_ENDPOINT:-}" ]; then
        [ -n "${HM_COMPAT_ACCESS_KEY:-}" ] && [ -n "${HM_COMPAT_SECRET_KEY:-}" ] \
            || fail "HM_COMPAT_ENDPOINT is set: HM_COMPAT_ACCESS_KEY and HM_COMPAT_SECRET_KEY must be set too"
        ENDPOINT=${HM_COMPAT_ENDPOINT%/}
        ACCESS_KEY=$HM_COMPAT_ACCESS_KEY
        SECRET_KEY=$HM_COMPAT_SECRET_KEY
        say "using the external endpoint $ENDPOINT"
    else
        local bin=${HM_BUILD_DIR:-}/hamster
        [ -n "${HM_BUILD_DIR:-}" ] || fail "HM_BUILD_DIR is not set (run through ctest, or set it to the build directory)"
        [ -x "$bin" ] || fail "$bin does not exist or is not executable (build it first)"
        local port
        port=$(free_port)
        ACCESS_KEY="HMCOMPAT$(rand_str ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 12)"
        SECRET_KEY=$(rand_str ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 40)
        mkdir -p "$COMPAT_TMP/data"
        # If this script is killed outright (a ctest timeout), the kernel
        # sends the server SIGTERM (setpriv --pdeathsig) so that none is left behind.
        local pdeath=()
        command -v setpriv >/dev/null 2>&1 && pdeath=(setpriv --pdeathsig TERM --)
        HAMSTER_ACCESS_KEY_ID=$ACCESS_KEY HAMSTER_SECRET_ACCESS_KEY=$SECRET_KEY \
            "${pdeath[@]}" "$bin" serve -data-dir "$COMPAT_TMP/data" -s3 "127.0.0.1:$port" \
            </dev/null >"$COMPAT_TMP/server.out" 2>"$COMPAT_TMP/server.log" &
        COMPAT_SERVER_PID=$!
        ENDPOINT="http://127.0.0.1:$port"
        say "started hamster serve (pid $COMPAT_SERVER_PID) on $ENDPOINT"
    fi
    HOSTPORT=${ENDPOINT#http://}

    # Wait until anything answers HTTP (any status), at most ~20 s.
    local code="000" deadline=$(( $(date +%s) + 20 ))
    while :; do
        if [ -n "$COMPAT_SERVER_PID" ] && ! kill -0 "$COMPAT_SERVER_PID" 2>/dev/null; then
            COMPAT_STEP="server start"
            fail "hamster serve exited before answering"
        fi
        code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$ENDPOINT/" || true)
        [ "$code" != "000" ] && [ -n "$code" ] && break
        [ "$(date +%s)" -lt "$deadline" ] || { COMPAT_STEP="server start"; fail "$ENDPOINT did not answer HTTP within 20 s"; }
        sleep 0.2
    done
    say "server answers ($ENDPOINT/ -> HTTP $code)"
    export ENDPOINT HOSTPORT ACCESS_KEY SECRET_KEY REGION
}

# compat_done: call as the last line of a scenario; an exit 0 without it is a failure.
compat_done() { COMPAT_STEP="done"; COMPAT_DONE=1; }
