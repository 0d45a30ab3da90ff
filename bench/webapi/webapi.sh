#!/bin/bash
# Web API benchmark of `postel serve` (issue 6): Send calls of 1 KiB text mail
# over CONNS keep-alive HTTP connections, 10 recipient domains delivered to
# smtp-sink, a `delivered` webhook per message posted to a fast Rust receiver
# (per-endpoint concurrency raised); then SMTP submission of the same number
# of messages to the same server, for comparison. The disk's fsync rate is
# measured in the same run. A benchmark, not a test: not run by .ci/run.
# Needs root (smtp-sink -u nobody), postfix (bash .ci/peers/install.sh), python3.
#
#   bash bench/webapi/webapi.sh
#   MSGS=20000 CONNS=16 HOOK_CONCURRENCY=32 bash bench/webapi/webapi.sh
#
# Figures: "Send/s" = calls answered 200 / load generator wall time; p50/p99 =
# Send call latency; "delivered/s" = messages / time from the generator's start
# until the sink counted all; "webhooks/s" = messages / time from the start
# until the receiver counted a webhook for each; "CPU s" = postel's user+system
# CPU seconds over that span (steadier than the rates on a shared machine).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SINK=/usr/sbin/smtp-sink
[ -x "$SINK" ] || { echo "smtp-sink missing: bash .ci/peers/install.sh" >&2; exit 1; }
MSGS=${MSGS:-10000}
CONNS=${CONNS:-16}
CONCURRENCY=${CONCURRENCY:-64}
PER_DOMAIN=${PER_DOMAIN:-16}
HOOK_CONCURRENCY=${HOOK_CONCURRENCY:-32}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-300}
PASSWORD=benchbench

# POSTEL_BIN, LOAD_BIN, RECV_BIN, GEN_BIN run prebuilt copies instead (a
# neighbour's rebuild then cannot swap a binary mid-run, and nothing is built).
if [ -z "${POSTEL_BIN:-}" ]; then
  echo "building (release postel, bench load generators, receiver)..." >&2
  cargo build -q --release -p postel-server
fi
POSTEL=${POSTEL_BIN:-$ROOT/target/release/postel}
exe() {
  cargo bench -q --bench "$1" --no-run --message-format=json 2>/dev/null | python3 -c 'import json,sys
name=sys.argv[1]
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]==name and m.get("executable"): print(m["executable"])' "$1" | tail -1
}
LOAD=${LOAD_BIN:-$(exe webapi_load)}; RECV=${RECV_BIN:-$(exe webhook_receiver)}; GEN=${GEN_BIN:-$(exe queue_loadgen)}
for x in "$POSTEL" "$LOAD" "$RECV" "$GEN"; do [ -x "$x" ] || { echo "build failed: $x" >&2; exit 1; }; done

WORK=$(mktemp -d /tmp/postel-wbench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

freeport() { python3 .ci/peers/freeport.py; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "nothing listening on port $1" >&2; return 1; }
now() { date +%s.%N; }
kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<< "$2"; }
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
sink_count() { tr '\r' '\n' < "$WORK/sink.counters" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2; }
cpu_s() { python3 -c 'import os,sys
f=open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")",1)[1].split()
print((int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK"))' "$POSTEL_PID"; }
hook_count() { sed -n 's/.*count=\([0-9]*\).*/\1/p' "$WORK/hooks.count" 2>/dev/null; }

# wait_for COUNTER TARGET: until the counter reaches TARGET or DRAIN_TIMEOUT; prints the end time.
wait_for() {
  local deadline; deadline=$(( $(date +%s) + DRAIN_TIMEOUT ))
  while :; do
    local n; n=$("$1"); n=${n:-0}
    [ "$n" -ge "$2" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "timeout: $1 counted $n of $2" >&2; break; fi
    sleep 0.02
  done
  now
}

fsync_rate() {
  python3 - "$WORK" <<'PY'
import os, sys, time
p = os.path.join(sys.argv[1], "fsync.test")
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
buf = b"x" * 4096
n, t0 = 0, time.monotonic()
while time.monotonic() - t0 < 2.0:
    os.write(fd, buf); os.fsync(fd); n += 1
dt = time.monotonic() - t0
os.close(fd); os.unlink(p)
print(f"{n / dt:.0f}")
PY
}

FSYNC=$(fsync_rate)
echo "disk: append 4 KiB + fsync: $FSYNC fsyncs/s (same run)"

SINKPORT=$(freeport)
"$SINK" -u nobody -c "127.0.0.1:$SINKPORT" 1000 > "$WORK/sink.counters" 2>&1 &
PIDS+=("$!"); wait_port "$SINKPORT"
HOOKPORT=$(freeport)
"$RECV" --listen "127.0.0.1:$HOOKPORT" --out "$WORK/hooks.count" > "$WORK/receiver.log" 2>&1 &
PIDS+=("$!"); wait_port "$HOOKPORT"

SUBPORT=$(freeport); WEBPORT=$(freeport)
mkdir -p "$WORK/data"
sed -e "s|@DATA@|$WORK/data|" -e "s|@SUBPORT@|$SUBPORT|" -e "s|@WEBPORT@|$WEBPORT|" \
    -e "s|@SINKPORT@|$SINKPORT|" -e "s|@HOOKPORT@|$HOOKPORT|" -e "s|@CONCURRENCY@|$CONCURRENCY|" \
    -e "s|@PER_DOMAIN@|$PER_DOMAIN|" -e "s|@HOOK_CONCURRENCY@|$HOOK_CONCURRENCY|" \
    bench/webapi/webapi.template.toml > "$WORK/bench.toml"
RUST_LOG=${RUST_LOG:-warn} "$POSTEL" -c "$WORK/bench.toml" serve > "$WORK/postel.log" 2>&1 &
POSTEL_PID=$!; PIDS+=("$POSTEL_PID")
wait_port "$WEBPORT" || { cat "$WORK/postel.log" >&2; exit 1; }
echo "$PASSWORD" | "$POSTEL" -c "$WORK/bench.toml" account password bench > /dev/null 2>&1
AUTH=$(printf 'bench@example.org:%s' "$PASSWORD" | base64 -w0)
echo "postel: queue.concurrency=$CONCURRENCY per_domain_concurrency=$PER_DOMAIN webhook concurrency=$HOOK_CONCURRENCY; $MSGS messages of 1 KiB, 1 recipient, 10 domains; machine shared with other agents: figures are noisy"

# A short warm-up (login cache, connections to the sink).
"$LOAD" --addr "127.0.0.1:$WEBPORT" --auth "$AUTH" --conns 2 --messages 50 --domains 10 --size 1024 --tag warm > /dev/null
wait_for sink_count 50 > /dev/null; wait_for hook_count 50 > /dev/null

printf '\n%-24s %9s %8s %8s %12s %11s %6s  %s\n' "path" "calls/s" "p50 ms" "p99 ms" "delivered/s" "webhooks/s" "CPU s" note
run() { # name command...
  local name=$1; shift
  local s0 h0; s0=$(sink_count); s0=${s0:-0}; h0=$(hook_count); h0=${h0:-0}
  local c0; c0=$(cpu_s)
  local t0 out; t0=$(now)
  out=$("$@")
  local ok; ok=$(kv calls "$out"); [ -z "$ok" ] && ok=$(kv accepted "$out")
  local td th; td=$(wait_for sink_count $((s0 + ok))); th=$(wait_for hook_count $((h0 + ok)))
  local cpu; cpu=$(python3 -c "print(f'{$(cpu_s) - $c0:.2f}')")
  local d w; d=$(python3 -c "print(f'{$ok / ($td - $t0):.0f}')"); w=$(python3 -c "print(f'{$ok / ($th - $t0):.0f}')")
  local note="ok"; [ "$(kv failed "$out")" != 0 ] && note="failed=$(kv failed "$out")"
  printf '%-24s %9s %8s %8s %12s %11s %6s  %s\n' "$name" "$(kv rate "$out")" "$(kv p50_ms "$out")" "$(kv p99_ms "$out")" "$d" "$w" "$cpu" "$note"
}
run "web API Send ($CONNS conns)" "$LOAD" --addr "127.0.0.1:$WEBPORT" --auth "$AUTH" --conns "$CONNS" \
  --messages "$MSGS" --domains 10 --size 1024 --tag web
run "SMTP submission ($CONNS c)" "$GEN" --addr "127.0.0.1:$SUBPORT" --conns "$CONNS" --messages "$MSGS" \
  --size 1024 --rcpts 1 --domains 10 --tag smtp
stop_pid "$POSTEL_PID"
echo "(fsync $FSYNC/s in the same run; target: >= 1,500 Send calls/s and >= 1,500 delivered/s with webhooks)"
