#!/usr/bin/env bash
# ec-bench.sh - the erasure-coded data path beside its baselines, one build,
# one machine, one run, one client (hamster-bench):
#
#   tests/bench/ec-bench.sh [-build DIR] [-runs N] [-out DIR] [-no-memory]
#                           [-put-only] [-vs DIR]
#
#   PUT 64 MiB, 1 stream: six disks (default profile 3+2) vs one disk (1+0)
#   PUT 64 MiB, six disks: 4 streams vs 1 stream
#   encode in PUT: the server's hamster_ec_encode_* counters (/metrics)
#       read around each six-disk PUT cell give the GB/s of its
#       Reed-Solomon encode, held against hamster-micro's raw ISA-L figure
#       for the same profile (hamster-micro -rs 3+2), run after every PUT
#       round so both see the same machine; the same at 8+4 for the
#       memory phase's 1 GiB PUT
#   GET 64 MiB, 4 streams, six disks healthy vs nginx serving the same bytes
#       (Debian's nginx, static files written through WebDAV with the same
#       seed; skipped with a note when nginx is not installed)
#   GET 64 MiB, 4 streams, six disks with data shard 0 of every blob
#       removed (every stripe decodes) vs healthy
#   memory: server VmRSS growth (peak over the phase, VmHWM and 50 ms
#       samples) for one 1 GiB PUT and one 1 GiB GET at 8+4 (13 disks)
#
# -put-only skips the GET and memory phases.  -vs DIR is a second build
# (before a change, say) whose six-disk PUT cells and encode figures run
# in the same rounds, alternating with this build's; its cells are named
# with a trailing "@vs".
#
# Each cell runs -runs times (default 3); the PUT configurations alternate
# run by run so that drift on a shared machine falls on both.  The table
# prints the median of each cell and the ratios of medians.  Nothing here
# judges a timing.  Only 127.0.0.1 is used; processes are stopped by the
# PIDs this script saved.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${HM_BUILD_DIR:-$ROOT/build}
RUNS=3
OUT=""
MEMORY=1
PUT_ONLY=0
VS=""
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        -build) BUILD=$2; shift ;;
        -runs) RUNS=$2; shift ;;
        -out) OUT=$2; shift ;;
        -no-memory) MEMORY=0 ;;
        -put-only) PUT_ONLY=1; MEMORY=0 ;;
        -vs) VS=$2; shift ;;
        -h|-help|--help) usage ;;
        *) echo "ec-bench.sh: unknown argument $1" >&2; usage ;;
    esac
    shift
done
BENCH=$BUILD/tests/bench/hamster-bench
HAMSTER=$BUILD/hamster
MICRO=$BUILD/tests/bench/hamster-micro
for b in "$BUILD" ${VS:+"$VS"}; do
    if [ ! -x "$b/hamster" ] || [ ! -x "$b/tests/bench/hamster-micro" ] || [ ! -x "$BENCH" ]; then
        echo "ec-bench.sh: build hamster, hamster-bench and hamster-micro in $b" >&2
        exit 1
    fi
done

WORK=$(mktemp -d /tmp/hamster-ec-bench.XXXXXX)
[ -n "$OUT" ] || OUT=$WORK/results
mkdir -p "$OUT"
: > "$OUT/cells.tsv"
: > "$OUT/encode.tsv"
PIDS=()
HM_PID=""
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK/hm" "$WORK/www" "$WORK/nginx"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
T0=$(date +%s)
say() { printf '[%4ds] %s\n' $(( $(date +%s) - T0 )) "$*" >&2; }
export HAMSTER_ACCESS_KEY_ID=${HAMSTER_ACCESS_KEY_ID:-hamster-bench}
export HAMSTER_SECRET_ACCESS_KEY=${HAMSTER_SECRET_ACCESS_KEY:-hamster-bench-secret-key}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_http() {
    local i
    for i in $(seq 1 300); do
        curl -s -o /dev/null --noproxy '*' -m 1 "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    return 1
}

# start_hamster NDISKS [BUILD]: a fresh `hamster serve` on NDISKS disks;
# sets HM_PORT, HM_MPORT (its /metrics), HM_PID.
start_hamster() {
    local n=$1 bin=${2:-$BUILD}/hamster i list=""
    rm -rf "$WORK/hm"
    mkdir -p "$WORK/hm"
    for i in $(seq 0 $((n - 1))); do list="$list${list:+,}$WORK/hm/disk$i"; done
    HM_PORT=$(free_port)
    HM_MPORT=$(free_port)
    "$bin" serve -data-dir "$WORK/hm/data" -disks "$list" -s3 "127.0.0.1:$HM_PORT" \
        -metrics "127.0.0.1:$HM_MPORT" \
        -listen "127.0.0.1:$(free_port)" >> "$OUT/hamster-$n.log" 2>&1 &
    HM_PID=$!
    PIDS+=("$HM_PID")
    wait_http "$HM_PORT" || { say "hamster serve ($n disks) did not start: $OUT/hamster-$n.log"; exit 1; }
}
stop_hamster() {
    kill "$HM_PID" 2>/dev/null || true
    wait "$HM_PID" 2>/dev/null || true
    HM_PID=""
}

# cell NAME RUN -- hamster-bench args: one measurement, MiB/s to cells.tsv.
cell() {
    local name=$1 run=$2 json
    shift 3
    json="$OUT/$name-r$run.json"
    "$BENCH" "$@" -json "$json" > "$OUT/$name-r$run.txt" 2>&1 ||
        say "  $name run $run: errors (see $OUT/$name-r$run.txt)"
    python3 - "$json" "$name" >> "$OUT/cells.tsv" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))["results"][0]
    print("%s\t%.1f\t%.1f\t%d" % (sys.argv[2], r["mib_per_s"], r["p50_ms"],
                                  r["errors"] + r["verify_fail"]))
except Exception:
    print("%s\tnan\tnan\t-1" % sys.argv[2])
EOF
    say "  $name run $run: $(tail -n 1 "$OUT/cells.tsv" | cut -f2) MiB/s"
}
HMF() { echo -endpoint "127.0.0.1:$HM_PORT" -bucket ecbench; }

# enc_read PROFILE: "bytes seconds" of the server's encode counters.
enc_read() {
    curl -s --noproxy '*' -m 5 "http://127.0.0.1:$HM_MPORT/metrics" |
        awk -v p="{profile=\"$1\"}" '
            $1 == "hamster_ec_encode_bytes_total" p { b = $2 }
            $1 == "hamster_ec_encode_seconds_total" p { s = $2 }
            END { printf "%s %s\n", b + 0, s + 0 }'
}
# enc_cell NAME PROFILE BEFORE AFTER: the encode GB/s between two readings
# to encode.tsv.
enc_cell() {
    echo "$1 $2 $3 $4" | awk '{ b = $5 - $3; s = $6 - $4
        printf "%s\t%s\t%.0f\t%.6f\t%s\n", $1, $2, b, s, (s > 0 ? sprintf("%.3f", b / s / 1e9) : "nan") }' \
        >> "$OUT/encode.tsv"
    say "  $1 encode in PUT: $(tail -n 1 "$OUT/encode.tsv" | cut -f5) GB/s"
}
# micro_raw NAME PROFILE [BUILD]: hamster-micro's raw ISA-L GB/s for PROFILE.
micro_raw() {
    local v
    v=$("${3:-$BUILD}/tests/bench/hamster-micro" -rs "$2" -runs 5 -ms 200 |
        awk -v p="RS $2 raw" 'index($0, p) { for (i = 1; i <= NF; i++) if ($i == "GB/s") print $(i - 1) }')
    printf '%s\t%s\t\t\t%s\n' "$1" "$2" "${v:-nan}" >> "$OUT/encode.tsv"
    say "  $1 raw: ${v:-nan} GB/s"
}
# put6 BUILD SUFFIX RUN: the six-disk PUT cells of one round and their
# encode figures.
put6() {
    local b=$1 sfx=$2 r=$3 e0 e1 e2
    say "PUT run $r: six disks${sfx:+ ($b)}"
    start_hamster 6 "$b"
    e0=$(enc_read 3+2)
    # shellcheck disable=SC2046
    cell "put-6disk-c1$sfx" "$r" -- put $(HMF) -size 64MiB -c 1 -ops 4 -duration 120s -prefix p1/
    e1=$(enc_read 3+2)
    enc_cell "encode-put-6disk-c1$sfx" 3+2 "$e0" "$e1"
    # shellcheck disable=SC2046
    cell "put-6disk-c4$sfx" "$r" -- put $(HMF) -size 64MiB -c 4 -ops 16 -duration 120s -prefix p4/
    e2=$(enc_read 3+2)
    enc_cell "encode-put-6disk-c4$sfx" 3+2 "$e1" "$e2"
    stop_hamster
    micro_raw "raw-3+2$sfx" 3+2 "$b"
}

# ---- PUT: six disks vs one, 4 streams vs 1 ---------------------------------
for r in $(seq 1 "$RUNS"); do
    say "PUT run $r: one disk (1+0)"
    start_hamster 1
    # shellcheck disable=SC2046
    cell put-1disk-c1 "$r" -- put $(HMF) -size 64MiB -c 1 -ops 4 -duration 120s -prefix p1/
    stop_hamster
    if [ -n "$VS" ] && [ $((r % 2)) = 0 ]; then put6 "$VS" @vs "$r"; fi
    put6 "$BUILD" "" "$r"
    if [ -n "$VS" ] && [ $((r % 2)) = 1 ]; then put6 "$VS" @vs "$r"; fi
done

# ---- GET: six disks healthy, nginx, data shard 0 missing -------------------
if [ "$PUT_ONLY" = 0 ]; then
GET_FLAGS=(-size 64MiB -c 4 -duration 6s -objects 8 -noverify -prefix g/)
NGX_PORT=""
if command -v nginx > /dev/null; then
    NGX_PORT=$(free_port)
    mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp" "$WORK/www/ecbench"
    chmod 0777 "$WORK/www" "$WORK/www/ecbench" "$WORK/nginx/tmp"
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
        location / { dav_methods PUT DELETE; create_full_put_path on; client_body_buffer_size 1m; }
    }
}
EOF
    nginx -p "$WORK/nginx" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx/nginx.conf" &
    PIDS+=($!)
    wait_http "$NGX_PORT" || { say "nginx did not start"; NGX_PORT=""; }
else
    say "nginx is not installed: no GET ceiling"
fi
say "GET: six disks healthy${NGX_PORT:+ and nginx}, alternating"
start_hamster 6
for r in $(seq 1 "$RUNS"); do
    prep=(-keep)
    [ "$r" = 1 ] || prep+=(-prepared)
    # shellcheck disable=SC2046
    cell get-6disk-c4 "$r" -- get $(HMF) "${GET_FLAGS[@]}" "${prep[@]}"
    if [ -n "$NGX_PORT" ]; then
        cell get-nginx-c4 "$r" -- get -endpoint "127.0.0.1:$NGX_PORT" -plain -bucket ecbench \
            "${GET_FLAGS[@]}" "${prep[@]}"
    fi
done
# Remove data shard 0 of every blob: every stripe of every GET now reads
# parity and decodes (the server logs a repair line per read).
n0=$(find "$WORK/hm" -path '*/shards/*' -type f -name '*.0' | wc -l)
find "$WORK/hm" -path '*/shards/*' -type f -name '*.0' -delete
say "GET: removed data shard 0 of $n0 blobs"
for r in $(seq 1 "$RUNS"); do
    # shellcheck disable=SC2046
    cell get-6disk-c4-shard0-missing "$r" -- get $(HMF) "${GET_FLAGS[@]}" -prepared -keep
done
stop_hamster
fi

# ---- memory at 8+4 ---------------------------------------------------------
vm() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
sample_rss() {
    local pid=$1 out=$2 max=0 v
    while kill -0 "$pid" 2>/dev/null; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ -n "$v" ] && [ "$v" -gt "$max" ] && max=$v && echo "$max" > "$out"
        sleep 0.05
    done
}
mem_phase() {
    local label=$1 before peak hwm sp
    shift
    echo 5 > "/proc/$HM_PID/clear_refs" 2>/dev/null || true
    before=$(vm "$HM_PID" VmRSS)
    echo "$before" > "$WORK/rss.max"
    sample_rss "$HM_PID" "$WORK/rss.max" &
    sp=$!
    "$BENCH" "$@" > "$OUT/mem-${label// /-}.txt" 2>&1 || say "  $label: errors"
    kill "$sp" 2>/dev/null || true
    wait "$sp" 2>/dev/null || true
    hwm=$(vm "$HM_PID" VmHWM)
    peak=$(cat "$WORK/rss.max")
    [ "$hwm" -gt "$peak" ] && peak=$hwm
    awk -v l="$label" -v b="$before" -v p="$peak" \
        'BEGIN { printf "%-28s %10.1f %10.1f %10.1f\n", l, b / 1024, p / 1024, (p - b) / 1024 }' \
        >> "$OUT/memory.txt"
}
if [ "$MEMORY" = 1 ]; then
    say "memory: 1 GiB PUT and GET at 8+4 (13 disks)"
    start_hamster 13
    printf '%-28s %10s %10s %10s\n' "server VmRSS, MiB" before peak growth > "$OUT/memory.txt"
    # shellcheck disable=SC2046
    "$BENCH" put $(HMF) -size 4KiB -c 1 -ops 1 -prefix warm/ > /dev/null 2>&1 || true
    e0=$(enc_read 8+4)
    # shellcheck disable=SC2046
    mem_phase "one 1 GiB PUT at 8+4" put $(HMF) -size 1GiB -c 1 -ops 1 -keep -prefix m/ \
        -duration 300s -grace 120s
    enc_cell encode-put-13disk-1GiB 8+4 "$e0" "$(enc_read 8+4)"
    # shellcheck disable=SC2046
    mem_phase "one 1 GiB GET at 8+4" get $(HMF) -size 1GiB -c 1 -ops 1 -objects 1 -prepared \
        -prefix m/ -duration 300s -grace 120s
    shards=$(find "$WORK/hm" -path '*/shards/*' -type f -name '*.[0-9]*' | sed 's/.*\.//' | sort -un | tr '\n' ' ')
    echo "shard indexes on disk at 13 disks: $shards" >> "$OUT/memory.txt"
    stop_hamster
    micro_raw raw-8+4 8+4
fi

# ---- table -----------------------------------------------------------------
{
    echo "# ec-bench.sh $(date -u +%Y-%m-%dT%H:%M:%SZ), $RUNS runs per cell, medians"
    echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    python3 - "$OUT/cells.tsv" <<'EOF'
import statistics, sys
cells = {}
for line in open(sys.argv[1]):
    name, mib, p50, err = line.rstrip("\n").split("\t")
    cells.setdefault(name, []).append((float(mib), float(p50), int(err)))
med = {}
print("%-30s %10s %10s %8s  %s" % ("cell", "MiB/s", "p50 ms", "errors", "runs (MiB/s)"))
for name, rs in cells.items():
    good = [r for r in rs if r[0] == r[0]]
    m = statistics.median([r[0] for r in good]) if good else float("nan")
    p = statistics.median([r[1] for r in good]) if good else float("nan")
    med[name] = m
    print("%-30s %10.1f %10.1f %8d  %s" % (name, m, p, sum(max(r[2], 0) for r in rs),
                                          " ".join("%.1f" % r[0] for r in rs)))
print()
def ratio(label, a, b, target):
    if a in med and b in med and med[b] > 0:
        print("%-52s %6.2f   (issue's target %s)" % (label, med[a] / med[b], target))
    else:
        print("%-52s %6s" % (label, "n/a"))
ratio("PUT c1: six disks / one disk (1+0)", "put-6disk-c1", "put-1disk-c1", ">= 0.8")
ratio("PUT six disks: 4 streams / 1 stream", "put-6disk-c4", "put-6disk-c1", ">= 1.5")
ratio("GET c4: six disks healthy / nginx", "get-6disk-c4", "get-nginx-c4", ">= 0.8")
ratio("GET c4: data shard 0 missing / healthy", "get-6disk-c4-shard0-missing", "get-6disk-c4",
      ">= 0.5")
if "put-6disk-c1@vs" in med:
    ratio("PUT c1 six disks: this build / -vs build", "put-6disk-c1", "put-6disk-c1@vs", "-")
    ratio("PUT c4 six disks: this build / -vs build", "put-6disk-c4", "put-6disk-c4@vs", "-")
EOF
    python3 - "$OUT/encode.tsv" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, prof, b, s, gbs = line.rstrip("\n").split("\t")
    rows.setdefault(name, (prof, []))[1].append(float(gbs))
if not rows:
    sys.exit(0)
med = {}
print()
print("Reed-Solomon encode, GB/s of data: in PUT from the server's hamster_ec_encode_*")
print("counters around each cell; raw is hamster-micro -rs (ISA-L's ec_encode_data")
print("on one cache-resident stripe), run after each round")
print("%-30s %8s %10s  %s" % ("cell", "profile", "GB/s", "runs"))
for name, (prof, v) in rows.items():
    good = [x for x in v if x == x]
    med[name] = statistics.median(good) if good else float("nan")
    print("%-30s %8s %10.2f  %s" % (name, prof, med[name], " ".join("%.2f" % x for x in v)))
print()
def ratio(label, a, b):
    if a in med and b in med and med[b] > 0 and med[a] == med[a]:
        print("%-52s %6.2f   (issue's target >= 0.9)" % (label, med[a] / med[b]))
    elif a in med or b in med:
        print("%-52s %6s" % (label, "n/a"))
for sfx in ("", "@vs"):
    ratio("encode in PUT c1 / raw, 3+2" + (" (-vs build)" if sfx else ""),
          "encode-put-6disk-c1" + sfx, "raw-3+2" + sfx)
    ratio("encode in PUT c4 / raw, 3+2" + (" (-vs build)" if sfx else ""),
          "encode-put-6disk-c4" + sfx, "raw-3+2" + sfx)
ratio("encode in 1 GiB PUT / raw, 8+4", "encode-put-13disk-1GiB", "raw-8+4")
EOF
    if [ -f "$OUT/memory.txt" ]; then echo; cat "$OUT/memory.txt"; fi
} | tee "$OUT/table.txt"
say "done; results in $OUT"
