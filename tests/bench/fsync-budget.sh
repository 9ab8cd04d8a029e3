#!/usr/bin/env bash
# fsync-budget.sh - syncs per PUT of `hamster serve`, counted twice.
#
#   tests/bench/fsync-budget.sh [-hamster BIN] [-bench BIN] [-ops N]
#                               [-sizes 4KiB,1MiB] [-conc 1,32] [-no-strace]
#
# For each size and concurrency: a fresh data directory, `hamster serve`
# started under `strace -f -c --seccomp-bpf -e trace=fsync,fdatasync,syncfs`,
# one `hamster-bench put -ops 1` to create the bucket and warm up, then
# `hamster-bench put -ops N`.  Printed per cell:
#   counter  the server's own count (hamster_fsyncs_total on its -metrics
#            page, read by hamster-bench -metrics) over the
#            measured phase, divided by the PUTs: what hamster-bench prints
#            as syncs/op.  "-" for a server without the counter.
#   strace   (fsync + fdatasync + syncfs calls at exit) minus the same for a
#            second server that only started, took the warm-up PUT and
#            stopped, divided by N: the kernel's view, LMDB's syncs included.
# -hamster points at another build's binary (an older one for the "before"
# column of docs/performance.md).  Figures are printed, never judged.
# Processes are stopped by the PIDs this script saved, never by name.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${HM_BUILD_DIR:-$ROOT/build}
HAMSTER=$BUILD/hamster
BENCH=$BUILD/tests/bench/hamster-bench
OPS=2000
SIZES=4KiB,1MiB
CONCS=1,32
STRACE=1
while [ $# -gt 0 ]; do
    case $1 in
        -hamster) HAMSTER=$2; shift 2 ;;
        -bench) BENCH=$2; shift 2 ;;
        -ops) OPS=$2; shift 2 ;;
        -sizes) SIZES=$2; shift 2 ;;
        -conc) CONCS=$2; shift 2 ;;
        -no-strace) STRACE=0; shift ;;
        *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2 ;;
    esac
done
[ -x "$HAMSTER" ] || { echo "fsync-budget.sh: no $HAMSTER" >&2; exit 2; }
[ -x "$BENCH" ] || { echo "fsync-budget.sh: no $BENCH" >&2; exit 2; }
[ "$STRACE" = 0 ] || command -v strace >/dev/null || { echo "fsync-budget.sh: no strace" >&2; exit 2; }

export HAMSTER_ACCESS_KEY_ID=${HAMSTER_ACCESS_KEY_ID:-bench-access}
export HAMSTER_SECRET_ACCESS_KEY=${HAMSTER_SECRET_ACCESS_KEY:-bench-secret-key-0123456789}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hamster-fsync.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$(( 20000 + (RANDOM % 20000) ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}

wait_http() {
    local i
    for i in $(seq 1 300); do
        curl -s -o /dev/null --noproxy '*' -m 1 "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    return 1
}

# serve NAME PORT: start hamster serve (under strace unless -no-strace)
# with its /metrics on a free port; sets SERVE_PID (the server), WRAP_PID
# (what to wait for) and METRICS_URL.
serve() {
    local name=$1 port=$2 mport
    mport=$(free_port)
    METRICS_URL="http://127.0.0.1:$mport/metrics"
    mkdir -p "$WORK/$name"
    if [ "$STRACE" = 1 ]; then
        # The shell records its own pid, then becomes the server.
        strace -f -c --seccomp-bpf -e trace=fsync,fdatasync,syncfs -o "$WORK/$name.strace" \
            sh -c 'echo $$ > "$1"; shift; exec "$@"' sh "$WORK/$name.pid" \
            "$HAMSTER" serve -data-dir "$WORK/$name/data" -s3 "127.0.0.1:$port" \
            -metrics "127.0.0.1:$mport" 2>"$WORK/$name.log" &
        WRAP_PID=$!
    else
        "$HAMSTER" serve -data-dir "$WORK/$name/data" -s3 "127.0.0.1:$port" \
            -metrics "127.0.0.1:$mport" 2>"$WORK/$name.log" &
        WRAP_PID=$!
        SERVE_PID=$WRAP_PID
    fi
    PIDS+=("$WRAP_PID")
    wait_http "$port" || { cat "$WORK/$name.log" >&2; echo "server did not start" >&2; exit 1; }
    [ "$STRACE" = 0 ] || SERVE_PID=$(cat "$WORK/$name.pid")
}

stop() {
    kill -TERM "$SERVE_PID"
    wait "$WRAP_PID" || true
}

# Sum of the sync calls in a strace -c summary.
strace_syncs() {
    awk '$NF == "fsync" || $NF == "fdatasync" || $NF == "syncfs" { n += $4 } END { print n + 0 }' "$1"
}

bench() {
    local port=$1 size=$2 conc=$3 ops=$4 out=$5
    "$BENCH" put -endpoint "127.0.0.1:$port" -bucket fsync-budget -size "$size" -c "$conc" \
        -ops "$ops" -duration 10m -keep -prefix "p$ops/" -metrics "$METRICS_URL" > "$out" 2>&1 ||
        { cat "$out" >&2; echo "hamster-bench failed" >&2; exit 1; }
}

printf '%-8s %5s %7s %10s %10s %10s\n' size conc puts 'PUT/s' counter strace
IFS=, read -ra size_list <<< "$SIZES"
IFS=, read -ra conc_list <<< "$CONCS"
for size in "${size_list[@]}"; do
    for conc in "${conc_list[@]}"; do
        cell="$size-c$conc"
        # The baseline: start, warm-up PUT, stop.
        port=$(free_port)
        serve "$cell-base" "$port"
        bench "$port" "$size" 1 1 "$WORK/$cell-base.warm"
        stop
        # The measured server.
        port=$(free_port)
        serve "$cell" "$port"
        bench "$port" "$size" 1 1 "$WORK/$cell.warm"
        bench "$port" "$size" "$conc" "$OPS" "$WORK/$cell.out"
        stop
        rate=$(awk '$1 == "PUT" { print $3 }' "$WORK/$cell.out")
        counter=$(awk '$1 == "PUT" { print $NF }' "$WORK/$cell.out")
        grep -q 'server syncs: unknown' "$WORK/$cell.out" && counter=-
        st=-
        if [ "$STRACE" = 1 ]; then
            a=$(strace_syncs "$WORK/$cell.strace")
            b=$(strace_syncs "$WORK/$cell-base.strace")
            st=$(awk -v a="$a" -v b="$b" -v n="$OPS" 'BEGIN { printf "%.3f", (a - b) / n }')
        fi
        printf '%-8s %5s %7s %10s %10s %10s\n' "$size" "$conc" "$OPS" "$rate" "$counter" "$st"
    done
done
