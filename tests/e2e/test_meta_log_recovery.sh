#!/usr/bin/env bash
# Metadata log recovery over a real process (docs/adr/0004-log-batch-framing.md):
#  1. after kill -9, a torn unacknowledged batch at the log's tail (its first
#     sector lost, a later record of it intact: what a power cut can leave)
#     does not stop `hamster serve` from starting; the tail is cut and every
#     acknowledged object reads back;
#  2. a flipped bit in an acknowledged record makes it refuse to start, name
#     the segment and offset, and leave the file alone; once the bit is
#     restored it starts with the object there.
. "$(dirname "$0")/lib.sh"

DATA="$E2E_TMP/data"
PORT=$(free_port)
ENDPOINT="http://127.0.0.1:$PORT"
SRC="$E2E_TMP/src"
mkdir -p "$SRC"

start_serve "$DATA" "$PORT"
s3 s3 mb s3://logrec >/dev/null
head -c 70017 /dev/urandom >"$SRC/o1"
s3 s3 cp "$SRC/o1" s3://logrec/o1 >/dev/null
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true

SEG=$(ls "$DATA"/meta/log/*.seg | sort | tail -n 1)
[ -n "$SEG" ] || fail "no log segment under $DATA/meta/log"

# The log tool: find the last index, append a torn batch, flip a bit.
LOGPY="$E2E_TMP/log.py"
cat >"$LOGPY" <<'EOF'
import struct, sys

def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xffffffff

def last_index(buf):
    magic, = struct.unpack_from('<I', buf, 0)
    assert magic == 0x534C4D48, "not a format-2 segment"
    off, last = 32, None
    while off + 40 <= len(buf):
        m, count, first = struct.unpack_from('<IIQ', buf, off)
        body, = struct.unpack_from('<I', buf, off + 24)
        assert m == 0x424C4D48
        last = first + count - 1
        off += 40 + body
    assert off == len(buf)
    return last

cmd, path = sys.argv[1], sys.argv[2]
buf = open(path, 'rb').read()
if cmd == 'torn':
    # A batch of three whose first sector (header and record 1) never
    # landed, while the sector holding record 3 did.
    idx = last_index(buf) + 3
    payload = b'never acknowledged'
    body = struct.pack('<QQ', 1, idx) + payload
    rec = struct.pack('<II', len(payload), crc32c(body)) + body
    with open(path, 'ab') as f:
        f.write(b'\0' * 512 + rec)
elif cmd == 'flip':
    off = int(sys.argv[3])
    with open(path, 'r+b') as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x10]))
EOF

SIZE=$(stat -c %s "$SEG")
$PY "$LOGPY" torn "$SEG"
[ "$(stat -c %s "$SEG")" -gt "$SIZE" ] || fail "the torn batch was not appended"
start_serve "$DATA" "$PORT"
s3 s3 cp s3://logrec/o1 "$E2E_TMP/back1" >/dev/null
[ "$(md5 "$E2E_TMP/back1")" = "$(md5 "$SRC/o1")" ] || fail "o1 differs after recovery"
[ "$(stat -c %s "$SEG")" -ge "$SIZE" ] || fail "recovery cut acknowledged records"
grep -q 'truncating the unsynced tail' "$DATA.log" || fail "no truncation logged"
pass "a torn unacknowledged batch (record 3 intact) is cut at start; the object reads back"

kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true

# Rot inside the first batch: a record that was acknowledged.
SIZE=$(stat -c %s "$SEG")
$PY "$LOGPY" flip "$SEG" 100
: >"$DATA.log"
rc=0
timeout 20 "$HM_BUILD_DIR/hamster" serve -data-dir "$DATA" -s3 "127.0.0.1:$PORT" 2>>"$DATA.log" || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "serve started (or hung, rc $rc) over a damaged acknowledged record"
grep -q "$(basename "$SEG") offset" "$DATA.log" || fail "the refusal does not name the segment and offset"
[ "$(stat -c %s "$SEG")" -eq "$SIZE" ] || fail "the damaged log was changed"
pass "damage to an acknowledged record: serve refuses (rc $rc), names segment and offset, changes nothing"

$PY "$LOGPY" flip "$SEG" 100
start_serve "$DATA" "$PORT"
s3 s3 cp s3://logrec/o1 "$E2E_TMP/again1" >/dev/null
[ "$(md5 "$E2E_TMP/again1")" = "$(md5 "$SRC/o1")" ] || fail "o1 differs after the repair"
stop_pid "$SERVE_PID"
pass "after the bit is restored serve starts and the object reads back"
