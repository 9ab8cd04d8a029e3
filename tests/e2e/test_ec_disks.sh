#!/usr/bin/env bash
# Six disks (the default profile for six failure domains): a mix of sizes,
# 0 B to HM_E2E_EC_BIG_MIB MiB (multipart included), through the aws CLI;
# the contents of two disks are deleted while the server runs; the disks
# are marked missing (status, readiness, metrics), writes go on, and after
# a restart every object reads back with its MD5.  Then bytes are flipped
# inside one shard file: GETs still return the right bytes and the
# corruption is logged.
source "$(dirname "$0")/lib.sh"

BIG_MIB=${HM_E2E_EC_BIG_MIB:-300}
B=$HM_BUILD_DIR
port=$(free_port); mport=$(free_port); rpc=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
cd "$E2E_TMP"
disks=d0,d1,d2,d3,d4,d5
serve() { start_serve data "$port" -listen "127.0.0.1:$rpc" -metrics "127.0.0.1:$mport" \
            -disks "$disks"; }
serve
s3 s3 mb s3://ec >/dev/null

# name size: 0 B, inline, one stripe and less, several stripes, big.
sizes="empty:0 tiny:100 small:3000 k64:65536 m1:1048577 m5:5242880 m17:17825795"
mk() { head -c "$2" /dev/urandom > "src.$1"; md5 "src.$1" > "md5.$1"; }
for s in $sizes; do mk "${s%%:*}" "${s##*:}"; done
mk big $((BIG_MIB << 20))
mk mpu $((12 << 20 | 12345))
put_all() { # suffix
  for s in $sizes; do
    n=${s%%:*}
    s3 s3api put-object --bucket ec --key "$n$1" --body "src.$n" >/dev/null || fail "put $n$1"
  done
}
put_all ""
s3 s3 cp src.big s3://ec/big >/dev/null || fail "put big"   # the CLI's multipart
s3 s3 cp src.mpu s3://ec/mpu --expected-size $((12 << 20 | 12345)) >/dev/null || fail "put mpu"
pass "objects of 0 B .. $BIG_MIB MiB stored on six disks"

check_all() { # suffixes...
  for sfx in "$@"; do
    for s in $sizes big mpu; do
      n=${s%%:*}
      s3 s3api get-object --bucket ec --key "$n$sfx" back >/dev/null || fail "get $n$sfx"
      [ "$(md5 back)" = "$(cat "md5.$n")" ] || fail "$n$sfx: wrong MD5"
    done
  done
}

# Two disks lose their contents while the server runs and takes writes.
rm -rf d1/* d4/*
put_all ".during"
for _ in $(seq 1 50); do
  curl -s "http://127.0.0.1:$mport/metrics" > m
  [ "$(grep -c 'hamster_disk_state{.*state="missing"} 1' m)" = 2 ] && break
  sleep 0.2
done
grep -E '^hamster_disk_state\{disk="1",disk_id="[0-9a-f]{32}",state="missing"\} 1$' m >/dev/null ||
  fail "disk 1 not missing in metrics: $(grep disk_state m)"
grep -E '^hamster_disk_state\{disk="4",disk_id="[0-9a-f]{32}",state="missing"\} 1$' m >/dev/null ||
  fail "disk 4 not missing in metrics"
curl -s "$ENDPOINT/health/ready" > ready || true
grep -q "path d1 id [0-9a-f]*: missing" ready || fail "ready does not name d1: $(cat ready)"
for _ in $(seq 1 30); do
  "$B/hamster" status -data-dir data > status || fail "status: $(cat status)"
  [ "$(grep -cE '^[14] +missing ' status)" = 2 ] && break
  sleep 0.2
done
[ "$(grep -cE '^[14] +missing ' status)" = 2 ] || fail "status: $(cat status)"
grep -q DEGRADED status || fail "status not degraded"
[ -e d1/shards ] && fail "d1 re-created"
[ -e d4/tmp ] && fail "d4 re-created"
pass "two disks emptied at run time: missing in metrics, readiness and status; not re-created"

stop_pid "$SERVE_PID"
: > data.log
serve
check_all "" ".during"
pass "after a restart with two disks empty every object reads back with its MD5"

# Flip bytes inside one shard of m5 on a healthy disk: reads stay right, the
# corruption is logged.
stop_pid "$SERVE_PID"
f=$(find d0 d2 d3 d5 -path '*/shards/*' -type f -name '*.0' -size +100k | head -1)
[ -n "$f" ] || fail "no shard file to damage"
sz=$(stat -c %s "$f")
printf '\xde\xad\xbe\xef' | dd of="$f" bs=1 seek=$((sz / 2)) conv=notrunc status=none
: > data.log
serve
check_all "" ".during"
grep -q "fails its CRC32C" data.log || fail "corruption not logged"
pass "flipped bytes in $f: every GET right, the corruption logged"
stop_pid "$SERVE_PID"
echo "test_ec_disks: all passed"
