#!/usr/bin/env bash
# compare.sh - Hamster beside its ceilings and peers, in one run on one
# machine, measured by one client (hamster-bench) on the same bytes.
#
#   tests/bench/compare.sh [-quick] [-build DIR] [-out DIR] [-verify]
#                          [-no-memory] [-peer URL,ACCESS_KEY,SECRET]...
#                          [-sizes "4KiB 1MiB"] [-conc "32"] [-hamster BIN]
#
# Targets, each on its own free loopback port:
#   nginx   Debian's nginx serving the objects as static files (written
#           through WebDAV PUT with the same seed, so the same bytes): the
#           HTTP GET ceiling of this machine and client.
#   sink    nginx answering 200 to any PUT after reading and dropping the
#           body: the HTTP PUT transport ceiling.
#   hamster `hamster serve` from the build directory, fresh data directory.
#   peerN   any S3 endpoint given with -peer, e.g. the Ceph RGW from
#           ../shared/peers/rgw/start.sh (http://127.0.0.1:7480,hamster,
#           keep-this-one-secret).
# Sizes 4 KiB, 1 MiB, 64 MiB; concurrency 1, 4, 32; PUT and GET (nginx: GET
# only; sink: PUT only).  Each cell runs a fixed time; 64 MiB PUTs to a disk
# are also capped in operations, so a fast target writes a bounded volume.
# Before the cells, on the fresh server, a memory section: the hamster
# server's VmRSS/VmHWM before and at the peak of one 1 GiB PUT, one 1 GiB
# GET, and 64 concurrent 64 MiB PUTs (bounded by -duration/-grace).
#
# Reads check sizes; -verify also hashes every GET body (MD5), which on a
# small machine makes the client's MD5 the bound on large GETs.
# Full run: under ~10 minutes; -quick: about 2.  Only 127.0.0.1 is used.
# Processes are stopped by the PIDs this script saved, never by name.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${HM_BUILD_DIR:-$ROOT/build}
OUT=""
QUICK=0
VERIFY=0
MEMORY=1
PEERS=()

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        -quick) QUICK=1 ;;
        -verify) VERIFY=1 ;;
        -no-memory) MEMORY=0 ;;
        -build) BUILD=$2; shift ;;
        -out) OUT=$2; shift ;;
        -peer) PEERS+=("$2"); shift ;;
        -sizes) SIZES_ARG=$2; shift ;;
        -conc) CONCS_ARG=$2; shift ;;
        -hamster) HAMSTER_ARG=$2; shift ;;
        -h|-help|--help) usage ;;
        *) echo "compare.sh: unknown argument $1" >&2; usage ;;
    esac
    shift
done

BENCH=$BUILD/tests/bench/hamster-bench
HAMSTER=${HAMSTER_ARG:-$BUILD/hamster}
[ -x "$BENCH" ] || { echo "compare.sh: no $BENCH (build target hamster-bench)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "compare.sh: nginx not installed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "compare.sh: python3 needed for the table" >&2; exit 1; }

WORK=$(mktemp -d /tmp/hamster-compare.XXXXXX)
[ -n "$OUT" ] || OUT=$WORK/results
mkdir -p "$OUT"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK/www" "$WORK/hamster-data" "$WORK/nginx"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ $QUICK = 1 ]; then
    DUR=2s; CONCS="1 32"; BIG_OPS=12; BIG_OBJS=4
else
    DUR=6s; CONCS="1 4 32"; BIG_OPS=40; BIG_OBJS=8
fi
SIZES="4KiB 1MiB 64MiB"
# -sizes / -conc narrow the table to some cells (e.g. the 4 KiB GET budget).
[ -z "${SIZES_ARG:-}" ] || SIZES=$SIZES_ARG
[ -z "${CONCS_ARG:-}" ] || CONCS=$CONCS_ARG
VERIFY_FLAG=-noverify
[ $VERIFY = 1 ] && VERIFY_FLAG=

T0=$(date +%s)
say() { printf '[%4ds] %s\n' $(( $(date +%s) - T0 )) "$*" >&2; }

# A free loopback port: bash's /dev/tcp connect fails on a closed port.
free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$(( 20000 + (RANDOM % 20000) ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    echo "compare.sh: no free port" >&2; return 1
}

# Wait (at most 30 s) until something answers HTTP on 127.0.0.1:$1.
wait_http() {
    local i
    for i in $(seq 1 300); do
        curl -s -o /dev/null --noproxy '*' -m 1 "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    return 1
}

# ---- nginx: static GET ceiling + PUT sink -----------------------------------
NGX_PORT=$(free_port)
SINK_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs" "$WORK/www/bench" "$WORK/nginx/tmp"
chmod 0777 "$WORK/www" "$WORK/www/bench" "$WORK/nginx/tmp"
NGX_USER=""
[ "$(id -u)" = 0 ] && NGX_USER="user root;"
cat > "$WORK/nginx/nginx.conf" <<EOF
$NGX_USER
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    client_max_body_size 0;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    types { }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$NGX_PORT;
        root $WORK/www;
        location / {
            dav_methods PUT DELETE;
            create_full_put_path on;
            client_body_buffer_size 1m;
        }
    }
    server {
        listen 127.0.0.1:$SINK_PORT;
        # 'return' reads the request body and drops it (no temp file).
        location / { return 200; }
    }
}
EOF
nginx -p "$WORK/nginx" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx/nginx.conf" &
PIDS+=($!)
wait_http "$NGX_PORT" || { echo "compare.sh: nginx did not start" >&2; exit 1; }
say "nginx on 127.0.0.1:$NGX_PORT (files), sink on 127.0.0.1:$SINK_PORT"

# ---- disk -------------------------------------------------------------------
# The floor under every PUT that reaches a disk, on the filesystem the
# hamster data directory uses: streaming write + fdatasync, and the latency
# of one synchronous 4 KiB write (what each fsync on a small PUT costs).
dd_secs() { LC_ALL=C dd "$@" 2>&1 | awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") print $(i - 1) }'; }
DD_MB=$([ $QUICK = 1 ] && echo 256 || echo 1024)
secs=$(dd_secs if=/dev/zero of="$WORK/dd.bin" bs=1M count="$DD_MB" conv=fdatasync)
DISK_SEQ=$(awk -v s="$secs" -v n="$DD_MB" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
secs=$(dd_secs if=/dev/zero of="$WORK/dd.bin" bs=4k count=500 oflag=dsync)
DISK_SYNC=$(awk -v s="$secs" 'BEGIN { printf "%.3f", s * 1000 / 500 }')
rm -f "$WORK/dd.bin"
say "disk: $DISK_SEQ MiB/s streaming write + fdatasync; $DISK_SYNC ms per synchronous 4 KiB write"

# ---- hamster serve --------------------------------------------------------
HM_PORT=""
HM_PID=""
HM_RSS_IDLE=0
export HAMSTER_ACCESS_KEY_ID=${HAMSTER_ACCESS_KEY_ID:-hamster-bench}
export HAMSTER_SECRET_ACCESS_KEY=${HAMSTER_SECRET_ACCESS_KEY:-hamster-bench-secret-key}
if [ -x "$HAMSTER" ]; then
    HM_PORT=$(free_port)
    mkdir -p "$WORK/hamster-data"
    "$HAMSTER" serve -data-dir "$WORK/hamster-data" -s3 "127.0.0.1:$HM_PORT" \
        > "$WORK/hamster.log" 2>&1 &
    HM_PID=$!
    PIDS+=("$HM_PID")
    if wait_http "$HM_PORT"; then
        HM_RSS_IDLE=$(awk '/^VmRSS:/ {print $2}' "/proc/$HM_PID/status")
        say "hamster serve on 127.0.0.1:$HM_PORT (pid $HM_PID, VmRSS $((HM_RSS_IDLE / 1024)) MiB)"
    else
        say "hamster serve did not answer; its log: $WORK/hamster.log"
        HM_PORT=""
    fi
else
    say "no $HAMSTER: hamster rows skipped"
fi

# ---- cells ----------------------------------------------------------------
# cell TARGET OP SIZE CONC -- hamster-bench flags...
cell() {
    local target=$1 op=$2 size=$3 conc=$4
    shift 5
    local json="$OUT/$target-$op-$size-c$conc.json"
    if "$BENCH" "$@" -json "$json" > "$OUT/$target-$op-$size-c$conc.txt" 2>&1; then
        :
    else
        say "  $target $op $size c$conc: errors (see $OUT/$target-$op-$size-c$conc.txt)"
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$target" "$op" "$size" "$conc" "$json" >> "$OUT/cells.tsv"
}

objects_for() {
    case $1 in 4KiB) echo 256 ;; 1MiB) echo 32 ;; *) echo "$BIG_OBJS" ;; esac
}
# PUT cells that write to disk stop after a capped volume of 64 MiB objects
# (the disk is shared); the sink and every GET run for the full duration.
ops_for() {
    case $1 in 64MiB) [ "$2" = sink ] || echo "-ops $BIG_OPS" ;; esac
}

# run_target NAME OPS -- common flags (endpoint, credentials, plain...)
run_target() {
    local name=$1 ops=$2
    shift 3
    local size conc pfx n last
    for size in $SIZES; do
        if [[ $ops == *put* ]]; then
            for conc in $CONCS; do
                say "$name PUT $size c$conc"
                # shellcheck disable=SC2046
                cell "$name" PUT "$size" "$conc" -- put "$@" -size "$size" -c "$conc" \
                    -duration "$DUR" $(ops_for "$size" "$name") -prefix "cmp-put-$size-c$conc/"
            done
        fi
        if [[ $ops == *get* ]]; then
            n=$(objects_for "$size")
            pfx="cmp-get-$size/"
            # The first cell uploads the objects, the others reuse them
            # (-prepared: same seed, so the same bytes), the last deletes them.
            local first=${CONCS%% *} last=${CONCS##* }
            for conc in $CONCS; do
                say "$name GET $size c$conc"
                local prep=()
                [ "$conc" = "$first" ] || prep+=(-prepared)
                [ "$conc" = "$last" ] || prep+=(-keep)
                cell "$name" GET "$size" "$conc" -- get "$@" -size "$size" -c "$conc" \
                    -duration "$DUR" -objects "$n" -prefix "$pfx" $VERIFY_FLAG "${prep[@]}"
            done
        fi
    done
}

# ---- memory ---------------------------------------------------------------
# First, on the fresh server, so that growth is not hidden by heap that
# earlier cells left resident.
# sample PID OUTFILE: VmRSS every 50 ms until killed; the maximum is kept.
sample_rss() {
    local pid=$1 out=$2 max=0 v
    while kill -0 "$pid" 2>/dev/null; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ -n "$v" ] && [ "$v" -gt "$max" ] && max=$v && echo "$max" > "$out"
        sleep 0.05
    done
}
vm() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

mem_phase() {
    local label=$1
    shift
    local before hwm peak sp
    echo 5 > "/proc/$HM_PID/clear_refs" 2>/dev/null || true # reset VmHWM
    before=$(vm "$HM_PID" VmRSS)
    echo "$before" > "$WORK/rss.max"
    sample_rss "$HM_PID" "$WORK/rss.max" &
    sp=$!
    "$BENCH" "$@" > "$OUT/mem-${label// /-}.txt" 2>&1 ||
        say "  memory $label: errors (see $OUT/mem-${label// /-}.txt)"
    kill "$sp" 2>/dev/null || true
    wait "$sp" 2>/dev/null || true
    hwm=$(vm "$HM_PID" VmHWM)
    peak=$(cat "$WORK/rss.max")
    [ "$hwm" -gt "$peak" ] && peak=$hwm
    awk -v l="$label" -v b="$before" -v p="$peak" \
        'BEGIN { printf "  %-32s %8.1f %8.1f %8.1f\n", l, b / 1024, p / 1024, (p - b) / 1024 }' \
        >> "$OUT/memory.txt"
}

if [ $MEMORY = 1 ] && [ -n "$HM_PORT" ] && kill -0 "$HM_PID" 2>/dev/null; then
    say "memory: 1 GiB PUT, 1 GiB GET, 64 x 64 MiB PUT"
    printf '  %-32s %8s %8s %8s\n' "hamster server, MiB" "before" "peak" "growth" > "$OUT/memory.txt"
    awk -v r="$HM_RSS_IDLE" 'BEGIN { printf "  %-32s %8.1f\n", "idle after start", r / 1024 }' \
        >> "$OUT/memory.txt"
    HMF=(-endpoint "127.0.0.1:$HM_PORT" -bucket compare)
    mem_phase "one 1 GiB PUT" put "${HMF[@]}" -size 1GiB -c 1 -ops 1 -keep -prefix mem-1g/ \
        -duration 120s -grace 60s
    mem_phase "one 1 GiB GET" get "${HMF[@]}" -size 1GiB -c 1 -ops 1 -objects 1 -prepared \
        -prefix mem-1g/ -duration 120s -grace 60s
    mem_phase "64 concurrent 64 MiB PUTs" put "${HMF[@]}" -size 64MiB -c 64 -ops 64 \
        -prefix mem-64/ -duration 30s -grace 30s
fi

: > "$OUT/cells.tsv"
run_target nginx get -- -endpoint "127.0.0.1:$NGX_PORT" -plain -bucket bench
run_target sink put -- -endpoint "127.0.0.1:$SINK_PORT" -plain -bucket sink -keep
if [ -n "$HM_PORT" ]; then
    run_target hamster put,get -- -endpoint "127.0.0.1:$HM_PORT" -bucket compare
fi
i=0
for p in "${PEERS[@]}"; do
    i=$((i + 1))
    IFS=, read -r url ak sk <<< "$p"
    run_target "peer$i" put,get -- -endpoint "$url" -access-key "$ak" -secret-key "$sk" \
        -bucket hamster-compare
done

# ---- table ----------------------------------------------------------------
{
    echo "# compare.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
    echo "# disk: $DISK_SEQ MiB/s streaming write + fdatasync, $DISK_SYNC ms per synchronous 4 KiB write"
    echo "# cells of $DUR (64 MiB: at most $BIG_OPS ops); GET verify: $([ $VERIFY = 1 ] && echo MD5 || echo size only)"
    python3 - "$OUT/cells.tsv" <<'EOF'
import json, sys
rows = []
for line in open(sys.argv[1]):
    target, op, size, conc, path = line.rstrip("\n").split("\t")
    try:
        j = json.load(open(path))
        r = [x for x in j["results"] if x["op"] == op][0]
    except Exception:
        r = None
    rows.append((target, op, size, int(conc), r))
ceiling = {}
for target, op, size, conc, r in rows:
    if r and ((target == "nginx" and op == "GET") or (target == "sink" and op == "PUT")):
        ceiling[(op, size, conc)] = r["mib_per_s"]
print("%-8s %-4s %6s %5s %9s %9s %9s %9s %7s %9s" %
      ("target", "op", "size", "conc", "MiB/s", "ops/s", "p50 ms", "p99 ms", "errors", "x ceiling"))
for target, op, size, conc, r in rows:
    if r is None:
        print("%-8s %-4s %6s %5d %9s" % (target, op, size, conc, "failed"))
        continue
    c = ceiling.get((op, size, conc))
    ratio = ("%9.2f" % (r["mib_per_s"] / c)) if c and target not in ("nginx", "sink") else "%9s" % "-"
    print("%-8s %-4s %6s %5d %9.1f %9.1f %9.2f %9.2f %7d %s" %
          (target, op, size, conc, r["mib_per_s"], r["ops_per_s"], r["p50_ms"], r["p99_ms"],
           r["errors"] + r["verify_fail"], ratio))
EOF
    if [ -f "$OUT/memory.txt" ]; then echo; cat "$OUT/memory.txt"; fi
} | tee "$OUT/table.txt"
say "done; results in $OUT"
