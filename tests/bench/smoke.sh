#!/usr/bin/env bash
# smoke.sh - bench-smoke: hamster-bench against a fresh `hamster serve`.
#
# Runs a few operations of every mode and checks that the JSON report
# parses and that its counts are exact (operations done, reads verified,
# no errors), and that the server's syncs are read from its /metrics page.
# Speed is printed by the tool and never checked here.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../e2e/lib.sh
. "$HERE/../e2e/lib.sh"

BENCH=$HM_BUILD_DIR/tests/bench/hamster-bench
[ -x "$BENCH" ] || fail "no $BENCH"
PORT=$(free_port); MPORT=$(free_port)
start_serve "$E2E_TMP/data" "$PORT" -metrics "127.0.0.1:$MPORT"
EP=(-endpoint "127.0.0.1:$PORT" -bucket bench-smoke -duration 60s
    -metrics "http://127.0.0.1:$MPORT/metrics")

# run NAME MODE FLAGS...: one hamster-bench run; its JSON in $E2E_TMP/NAME.json.
run() {
  local name=$1
  shift
  "$BENCH" "$@" "${EP[@]}" -json "$E2E_TMP/$name.json" > "$E2E_TMP/$name.out" 2>&1 ||
    { cat "$E2E_TMP/$name.out" >&2; fail "$name: hamster-bench exited non-zero"; }
}

# check NAME OP FIELD VALUE: results[op][field] == value in NAME.json.
check() {
  local got
  got=$($PY -c 'import json,sys
j = json.load(open(sys.argv[1]))
r = [x for x in j["results"] if x["op"] == sys.argv[2]]
print(r[0][sys.argv[3]] if r else "missing")' "$E2E_TMP/$1.json" "$2" "$3") ||
    fail "$1: JSON report does not parse"
  [ "$got" = "$4" ] || fail "$1: $2 $3 is $got, want $4"
}

# Uploads of mixed sizes, including a multi-stripe one and an empty one.
run put put -ops 24 -c 4 -size 0-3MiB -keep -prefix smoke-put/
check put PUT ops 24
check put PUT errors 0
# 24 PUTs (23 with a body) made the server sync: the count comes from
# hamster_fsyncs_total on its -metrics page, and the parts add up.
syncs=$($PY -c 'import json,sys
s = json.load(open(sys.argv[1]))["syncs"]
print(s["total"] >= 23 and s["file"] > 0 and s["total"] == s["file"] + s["dir"] + s["kv"])' \
  "$E2E_TMP/put.json") || fail "put: no syncs in the JSON report"
[ "$syncs" = True ] || fail "put: server syncs do not add up: $(cat "$E2E_TMP/put.json")"

# Reads of prepared objects are size- and MD5-verified, every one of them.
run get get -ops 40 -c 4 -objects 12 -size 1KiB-2MiB
check get GET ops 40
check get GET verified 40
check get GET verify_fail 0

# The objects kept by the put run are read back with the same seed.
run reuse get -ops 24 -c 3 -objects 24 -size 0-3MiB -prepared -prefix smoke-put/
check reuse GET ops 24
check reuse GET verified 24

run stat stat -ops 30 -c 4 -objects 8 -size 4KiB
check stat STAT ops 30

# 1,100 keys take two listing pages; the count is checked per listing.
run list list -ops 3 -c 1 -objects 1100 -size 1
check list LIST ops 3
check list LIST verify_fail 0

run delete delete -c 4 -objects 20 -size 1KiB
check delete DELETE ops 20

run mixed mixed -ops 50 -c 4 -objects 10 -size 64KiB -mix 50
n=$($PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(sum(r["ops"] for r in j["results"]), j["errors_total"] + j["verify_fail_total"])' "$E2E_TMP/mixed.json")
[ "$n" = "50 0" ] || fail "mixed: ops and errors are '$n', want '50 0'"

pass "hamster-bench smoke"
