#!/usr/bin/env bash
# sync-mutation.sh - every sync in the production code must be load-bearing.
#
# Finds every call of sync / sync_dir (the hm_env vtable) and of fsync /
# fdatasync in the production code (common/, hamster-*/) by pattern, never
# by line number, then for each call site in turn: replaces the call by 0
# (as `(0 && (call))`, so the call never runs and the code still compiles
# warning-free), rebuilds, and runs the unit and simulator tests.  A
# mutation is KILLED when some test fails, SURVIVED when all pass.  A
# survivor is a sync no test depends on: either a missing test (add a
# crash check: tests/sim/test_sim_crash.c) or a sync that is not needed.
#
# The env binding's own system calls (common/env/posix.c: the fdatasync and
# fsync behind hm_env's sync and sync_dir) are listed but not mutated: the
# tests run on the simulated disk or on a live file system, and only a real
# power cut shows their absence.
#
# It works on a copy of the tracked sources (your tree is never modified)
# in BUILD_ROOT (default: <repo>/build-mutation), builds it once (a few
# minutes on two cores), then rebuilds one file per mutation.  Tests of a
# mutation run in stages and stop at the first failure: the crash tests of
# tests/sim first, then `ctest -L unit`, then `ctest -L sim`.  A full run
# takes about half an hour when every mutation is killed early.
#
#   tests/mutation/sync-mutation.sh [--list] [--only PATTERN] [BUILD_ROOT]
#   cmake --build build --target sync-mutation
#
#   --list          print the call sites found and exit
#   --only PATTERN  mutate only sites whose "file:line" matches PATTERN
#                   (grep -E), e.g. --only hm_meta_log
#
# Output: one line per site (KILLED by <test> / SURVIVED), then
# "sync mutations: N of M killed".  Exit status 0 only when every mutation
# was killed.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//; /^set -euo/d'
    exit 2
}

list_only=0
only=""
root=""
while [ $# -gt 0 ]; do
    case "$1" in
    --list) list_only=1 ;;
    --only)
        [ $# -ge 2 ] || usage
        only="$2"
        shift
        ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) root="$1" ;;
    esac
    shift
done

src=$(cd "$(dirname "$0")/../.." && pwd)
root=${root:-$src/build-mutation}
jobs=${HM_MUTATION_JOBS:-2}

# The call sites: file:line, production code only, comments skipped.
find_sites() {
    (cd "$src" && git ls-files -- 'common/*.c' 'hamster-*/*.c') |
        while IFS= read -r f; do
            perl -ne '
                next if m{^\s*(//|/?\*)};
                print "$ARGV:$.\n" if /(->|\.)\s*(sync|sync_dir)\s*\(/ || /\b(fsync|fdatasync)\s*\(/;
            ' "$src/$f" | sed "s|^$src/||"
        done
}

is_binding() { [[ "$1" == common/env/posix.c:* ]]; }

mapfile -t sites < <(find_sites)
if [ -n "$only" ]; then
    mapfile -t sites < <(printf '%s\n' "${sites[@]}" | grep -E -- "$only" || true)
fi
if [ "${#sites[@]}" -eq 0 ]; then
    echo "sync-mutation: no call sites found" >&2
    exit 2
fi

if [ "$list_only" = 1 ]; then
    for s in "${sites[@]}"; do
        line=$(sed -n "${s##*:}p" "$src/${s%%:*}" | sed 's/^ *//')
        if is_binding "$s"; then
            printf '%-40s (env binding, not mutated)  %s\n' "$s" "$line"
        else
            printf '%-40s %s\n' "$s" "$line"
        fi
    done
    exit 0
fi

# A private copy of the tracked sources, refreshed from the tree: a file
# whose content changed is copied with a new mtime (never the tree's, which
# may be older than an object built from an earlier copy).
work="$root/src"
mkdir -p "$work"
(cd "$src" && git ls-files -z) | while IFS= read -r -d '' f; do
    if [ -f "$src/$f" ] && ! cmp -s "$src/$f" "$work/$f"; then
        mkdir -p "$work/$(dirname "$f")"
        cp "$src/$f" "$work/$f"
    fi
done
build="$root/build"
log="$root/log"
rm -rf "$log"
mkdir -p "$log"

export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=1
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
echo "sync-mutation: building $build (first time: a few minutes)"
cmake -S "$work" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >"$log/cmake.log" 2>&1
cmake --build "$build" -j"$jobs" >"$log/build.log" 2>&1 || {
    echo "sync-mutation: the unmutated tree does not build (see $log/build.log)" >&2
    exit 2
}

# Restore the file being mutated whatever happens.
current=""
restore() {
    if [ -n "$current" ] && [ -f "$log/orig.c" ]; then
        cp "$log/orig.c" "$work/$current"
        current=""
    fi
}
trap restore EXIT
trap 'restore; exit 130' INT TERM

# Run one ctest stage; prints the first failing test, returns 1 on failure.
stage() {
    local out="$1"
    shift
    if ctest --test-dir "$build" -j"$jobs" --stop-on-failure --output-on-failure "$@" >"$out" 2>&1; then
        return 0
    fi
    grep -m1 -oE '[0-9]+ - [^ ]+ \(' "$out" | sed 's/^[0-9]* - //; s/ ($//' ||
        grep -m1 -E 'Failed|\*\*\*' "$out" || echo "(see $out)"
    return 1
}

killed=0
total=0
survivors=()
for s in "${sites[@]}"; do
    file=${s%%:*}
    lineno=${s##*:}
    if is_binding "$s"; then
        printf '%-40s SKIPPED (env binding)\n' "$s"
        continue
    fi
    total=$((total + 1))
    tag=$(echo "$s" | tr '/:.' '___')
    current="$file"
    cp "$work/$file" "$log/orig.c"
    if ! perl -i -pe '
        BEGIN { $n = shift @ARGV; $done = 0 }
        if ($. == $n && !$done) {
            $done = 1 if s/((?:[A-Za-z_]\w*(?:->|\.))+(?:sync|sync_dir)\s*(\((?:[^()]++|(?-1))*\)))/(0 && ($1))/
                      || s/\b((?:fsync|fdatasync)\s*(\((?:[^()]++|(?-1))*\)))/(0 && ($1))/;
        }
        END { exit($done ? 0 : 1) }
    ' "$lineno" "$work/$file"; then
        restore
        printf '%-40s ERROR (could not rewrite the call)\n' "$s"
        survivors+=("$s (not rewritten)")
        continue
    fi
    if ! cmake --build "$build" -j"$jobs" >"$log/$tag.build.log" 2>&1; then
        restore
        printf '%-40s ERROR (mutant does not build: %s)\n' "$s" "$log/$tag.build.log"
        survivors+=("$s (does not build)")
        continue
    fi
    by=""
    if by=$(stage "$log/$tag.crash.log" -L sim -R 'test_sim_'); then
        if by=$(stage "$log/$tag.unit.log" -L unit); then
            if by=$(stage "$log/$tag.sim.log" -L sim); then
                by=""
            fi
        fi
    fi
    restore
    if [ -n "$by" ]; then
        killed=$((killed + 1))
        printf '%-40s KILLED by %s\n' "$s" "$by"
    else
        printf '%-40s SURVIVED\n' "$s"
        survivors+=("$s")
    fi
done
# Leave the copy built unmutated for the next run.
cmake --build "$build" -j"$jobs" >"$log/build.log" 2>&1 || true

echo "sync mutations: $killed of $total killed"
if [ "${#survivors[@]}" -gt 0 ]; then
    printf 'survived: %s\n' "${survivors[@]}"
    exit 1
fi
exit 0
