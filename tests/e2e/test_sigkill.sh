#!/usr/bin/env bash
# Crash safety over real processes: 8 boto3 clients PUT and overwrite mixed
# sizes (inline, 3 MiB, multipart) against `hamster serve`, which is killed
# with SIGKILL at a random point once writes are being acknowledged; five
# rounds on one data directory.  After every kill the server must come
# back, and before anything more is written every acknowledged object reads
# back whole with the MD5 the client was acknowledged (or that of an
# overwrite still in flight at the crash), and nothing listed is partial or
# unknown (tests/e2e/sigkill_clients.py).
# HM_SIGKILL_SEED replays the kill points.
source "$(dirname "$0")/lib.sh"

seed=${HM_SIGKILL_SEED:-$(( $(date +%s) % 100000 ))}
echo "seed $seed (HM_SIGKILL_SEED=$seed replays the kill points)"
RANDOM=$seed
port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
data="$E2E_TMP/data"
journal="$E2E_TMP/journal"
mkdir -p "$journal"
clients() { $PY "$HM_SOURCE_DIR/tests/e2e/sigkill_clients.py" "$@"; }
acks() { cat "$journal"/client-*.log 2>/dev/null | grep -c '^A ' || true; }

start_serve "$data" "$port"
clients setup "$ENDPOINT" "$journal"
# One client process for all rounds.  After each kill it parks its
# writers, the server restarts, and it checks every key before writing on.
$PY "$HM_SOURCE_DIR/tests/e2e/sigkill_clients.py" run "$ENDPOINT" "$journal" "$seed" &
cpid=$!
E2E_PIDS+=("$cpid")
for round in 1 2 3 4 5; do
  before=$(acks)
  # Kill once this round's writes are being acknowledged, 0-1.5 s later.
  for _ in $(seq 1 300); do [ "$(acks)" -ge $((before + 8)) ] && break; sleep 0.1; done
  [ "$(acks)" -ge $((before + 8)) ] || fail "round $round: writes are not being acknowledged"
  sleep "$((RANDOM % 16 / 10)).$((RANDOM % 10))"
  kill -KILL "$SERVE_PID"
  touch "$journal/pause"
  wait "$SERVE_PID" 2>/dev/null || true
  echo "round $round: $(( $(acks) - before )) writes acknowledged before the kill"
  start_serve "$data" "$port"
  touch "$journal/verify-$round"
  for _ in $(seq 1 600); do [ -e "$journal/verified-$round" ] && break; sleep 0.1; done
  [ -e "$journal/verified-$round" ] || fail "round $round: no verification"
  read -r vrc vmsg < "$journal/verified-$round"
  [ "$vrc" -eq 0 ] || fail "round $round: $vmsg"
  echo "round $round: $vmsg"
  rm "$journal/pause"
done
touch "$journal/stop"
wait "$cpid" || fail "the clients failed"
pass "5 SIGKILL rounds: every acknowledged object reads back whole"
stop_pid "$SERVE_PID"
echo "test_sigkill: all passed"
