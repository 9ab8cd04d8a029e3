#!/usr/bin/env bash
# Six disks (the default profile for six failure domains): a mix of sizes,
# 0 B to HM_E2E_EC_BIG_MIB MiB (multipart included), through the aws CLI.
# Bytes flipped inside one data shard: GETs still return the right bytes
# and the corruption is logged.  Then the contents of two disks are deleted
# while the server runs: the disks are marked missing (status, readiness,
# metrics), writes answer 503 or land whole, and after a restart every
# object reads back with its MD5.
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
s3 s3 mb s3://ecdisks >/dev/null

# name size: 0 B, inline, one stripe and less, several stripes, big.
sizes="empty:0 tiny:100 small:3000 k64:65536 m1:1048577 m5:5242880 m17:17825795"
mk() { head -c "$2" /dev/urandom > "src.$1"; md5 "src.$1" > "md5.$1"; }
for s in $sizes; do mk "${s%%:*}" "${s##*:}"; done
mk big $((BIG_MIB << 20))
mk mpu $((12 << 20 | 12345))
put_all() { # suffix
  for s in $sizes; do
    n=${s%%:*}
    s3 s3api put-object --bucket ecdisks --key "$n$1" --body "src.$n" >/dev/null || fail "put $n$1"
  done
}
put_all ""
s3 s3 cp src.big s3://ecdisks/big >/dev/null || fail "put big"   # the CLI's multipart
s3 s3 cp src.mpu s3://ecdisks/mpu --expected-size $((12 << 20 | 12345)) >/dev/null || fail "put mpu"
pass "objects of 0 B .. $BIG_MIB MiB stored on six disks"

# The PUTs' encode work is counted for the 3+2 profile.
curl -s "http://127.0.0.1:$mport/metrics" > m
enc=$(awk '$1 == "hamster_ec_encode_bytes_total{profile=\"3+2\"}" {print $2}' m)
[ "${enc:-0}" -ge $((BIG_MIB << 20)) ] || fail "3+2 encode bytes not counted: $(grep ec_encode m)"
grep -q '^hamster_ec_encode_seconds_total{profile="3+2"} [0-9]' m ||
  fail "3+2 encode seconds not counted: $(grep ec_encode m)"
pass "encode work counted in metrics"

check_all() { # suffixes...
  for sfx in "$@"; do
    for s in $sizes big mpu; do
      n=${s%%:*}
      s3 s3api get-object --bucket ecdisks --key "$n$sfx" back >/dev/null || fail "get $n$sfx"
      [ "$(md5 back)" = "$(cat "md5.$n")" ] || fail "$n$sfx: wrong MD5"
    done
  done
}

# Flip bytes inside a data shard (index 0) of one object: every GET stays
# right, the corruption is logged.  The shard is then put back as it was,
# so that the two disks lost below are the only damage.
f=$(find d*/shards -type f -name '*.0' -size +100k | head -1)
[ -n "$f" ] || fail "no data shard found"
cp -p "$f" shard.orig
sz=$(stat -c %s "$f")
printf '\xde\xad\xbe\xef' | dd of="$f" bs=1 seek=$((sz / 2)) conv=notrunc status=none
cmp -s "$f" shard.orig && fail "the shard was not changed"
check_all ""
grep -q "fails its CRC32C" data.log || fail "corruption not logged"
cp -p shard.orig "$f"
pass "flipped bytes in $f: every GET right, the corruption logged"

# Two disks lose their contents while the server runs and takes writes.
# With four of six disks left a 4+2 write cannot reach its floor (k + 1
# durable shards): it answers 503 SlowDown (the write-ack floor,
# docs/adr/0010-write-ack-rule.md), or lands whole when it is inline.
rm -rf d1/* d4/*
during=""
for s in $sizes; do
  n=${s%%:*}
  if s3 s3api put-object --bucket ecdisks --key "$n.during" --body "src.$n" >/dev/null 2>err; then
    during="$during $n"
  else
    grep -q SlowDown err || fail "put $n.during: $(cat err)"
  fi
done
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
check_all ""
for n in $during; do
  s3 s3api get-object --bucket ecdisks --key "$n.during" back >/dev/null || fail "get $n.during"
  [ "$(md5 back)" = "$(cat "md5.$n")" ] || fail "$n.during: wrong MD5"
done
pass "after a restart with two disks empty every object reads back with its MD5"

stop_pid "$SERVE_PID"
echo "test_ec_disks: all passed"
