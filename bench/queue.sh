#!/bin/bash
# Submission → queue → smarthost benchmark of `postel serve` (issue 5), with the
# disk's fsync rate and the smtp-source → smtp-sink ceiling measured in the same run.
# A benchmark, not a test: not run by .ci/run. Needs root (smtp-sink -u nobody),
# postfix installed (bash .ci/peers/install.sh) and python3.
#
#   bash bench/queue.sh                        # the 1 KiB / 1 recipient cells
#   CELLS=all bash bench/queue.sh              # the full matrix (16 cells)
#   CELLS="8:1024:1:10 64:102400:10:1" bash bench/queue.sh
#   SYNCS=1 bash bench/queue.sh                # untimed: sync calls per message (strace)
#   BACKLOG=1 bash bench/queue.sh              # the first cell with/without a backlog
#   MEMORY=1 bash bench/queue.sh               # peak RSS with 10,000 queued
#
# A cell is CONNS:SIZE:RCPTS:DOMAINS. Per cell: a fresh data dir, a fresh
# smtp-sink, `postel -c bench.toml serve` (config from bench/queue.template.toml:
# trusted network 127.0.0.0/8 → account "bench", unlimited daily limits, one
# smarthost route to the sink, no TLS), then bench/loadgen (lock-step, persistent
# connections) submits MSGS messages. "accepted msgs/s" = accepted / generator
# wall time; "e2e msgs/s" = accepted / time from the generator's start until the
# sink counted all transactions (one per message and destination domain).
# Peak RSS is VmHWM of the postel process at the end of the cell; "CPU s" is the
# CPU time postel used in the cell (steadier than rates when neighbours compile).
#
# Environment: MSGS (messages per cell, default 4000 for 1 KiB, 1000 for 100 KiB),
# CONCURRENCY (queue.concurrency, 64), PER_DOMAIN (queue.per_domain_concurrency, 16),
# BACKLOG_FUTURE (100000), BACKLOG_SLOW (1000), MEMORY_N (10000),
# DRAIN_TIMEOUT (seconds to wait for the sink, 300), POSTEL_BIN and GEN_BIN (prebuilt
# binaries instead of building).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SINK=/usr/sbin/smtp-sink
SOURCE=/usr/sbin/smtp-source
[ -x "$SINK" ] && [ -x "$SOURCE" ] || { echo "smtp-sink/smtp-source missing: bash .ci/peers/install.sh" >&2; exit 1; }
CONCURRENCY=${CONCURRENCY:-64}
PER_DOMAIN=${PER_DOMAIN:-16}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-300}
CELLS=${CELLS:-"8:1024:1:1 8:1024:1:10 64:1024:1:1 64:1024:1:10"}
if [ "$CELLS" = all ]; then
  CELLS=
  for s in 1024 102400; do for r in 1 10; do for c in 8 64; do for d in 1 10; do
    CELLS="$CELLS $c:$s:$r:$d"; done; done; done; done
fi

# POSTEL_BIN and GEN_BIN run prebuilt binaries (e.g. copies, so that a
# rebuild by someone else in the same checkout does not change them mid-run).
if [ -n "${POSTEL_BIN:-}" ] && [ -n "${GEN_BIN:-}" ]; then
  POSTEL=$POSTEL_BIN GEN=$GEN_BIN
else
  echo "building (release postel, bench loadgen)..." >&2
  cargo build -q --release -p postel-server
  POSTEL=$ROOT/target/release/postel
  GEN=$(cargo bench -q --bench queue_loadgen --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="queue_loadgen" and m.get("executable"): print(m["executable"])' | tail -1)
fi
[ -x "$GEN" ] && [ -x "$POSTEL" ] || { echo "build failed" >&2; exit 1; }

WORK=$(mktemp -d /tmp/postel-qbench.XXXXXX)
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
kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<< "$2"; }   # value of key in a key=value line

# start_sink NAME [smtp-sink options...]: sets ${NAME}_PORT, ${NAME}_PID, counter in $WORK/NAME.counters
start_sink() {
  local name=$1; shift
  local port; port=$(freeport)
  "$SINK" -u nobody -c "$@" "127.0.0.1:$port" 1000 > "$WORK/$name.counters" 2>&1 &
  local pid=$!; PIDS+=("$pid")
  printf -v "${name}_PORT" %s "$port"; printf -v "${name}_PID" %s "$pid"
  wait_port "$port"
}
sink_count() { tr '\r' '\n' < "$WORK/$1.counters" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2; }
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# fsync rate: append 4 KiB + fsync for 2 s on the disk that holds the data dir.
fsync_rate() {
  python3 - "$WORK" <<'EOF'
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
EOF
}

# smtp-source ceiling: performance.md arguments, fresh sink per run.
ceiling() { # conns msgs size
  start_sink ceil -m 1000
  local t0 t1; t0=$(now)
  "$SOURCE" -s "$1" -m "$2" -l "$3" -d -f src@example.org -t dst@example.net "127.0.0.1:$ceil_PORT"
  t1=$(now)
  for _ in $(seq 50); do [ "$(sink_count ceil)" = "$2" ] && break; sleep 0.1; done
  stop_pid "$ceil_PID"
  python3 -c "print(f'{$2 / ($t1 - $t0):.0f}')"
}

# start_postel DIR [wrapper...]: config in DIR/bench.toml, sets POSTEL_PID (the postel process) and SUBPORT.
start_postel() {
  local dir=$1; shift
  SUBPORT=$(freeport)
  mkdir -p "$dir/data"
  sed -e "s|@DATA@|$dir/data|" -e "s|@SUBPORT@|$SUBPORT|" -e "s|@SINKPORT@|$sink_PORT|" \
      -e "s|@SLOWPORT@|${slow_PORT:-9}|" -e "s|@CONCURRENCY@|$CONCURRENCY|" -e "s|@PER_DOMAIN@|$PER_DOMAIN|" \
      bench/queue.template.toml > "$dir/bench.toml"
  RUST_LOG=${RUST_LOG:-warn} "$@" "$POSTEL" -c "$dir/bench.toml" serve > "$dir/postel.log" 2>&1 &
  WRAP_PID=$!; PIDS+=("$WRAP_PID")
  wait_port "$SUBPORT" || { cat "$dir/postel.log" >&2; exit 1; }
  POSTEL_PID=$WRAP_PID
  if [ $# -gt 0 ]; then POSTEL_PID=$(pgrep -n -P "$WRAP_PID" -f "$dir/bench.toml"); fi
}
stop_postel() { stop_pid "$WRAP_PID"; }
hwm_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
# CPU seconds (user + system) the process used so far: less noisy than rates on a shared machine.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# wait_sink NAME TARGET: until the sink counted TARGET messages or DRAIN_TIMEOUT; prints the end time.
wait_sink() {
  local deadline; deadline=$(( $(date +%s) + DRAIN_TIMEOUT ))
  while [ "$(sink_count "$1")" -lt "$2" ] 2>/dev/null || [ -z "$(sink_count "$1")" ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "timeout: sink counted $(sink_count "$1") of $2" >&2; break
    fi
    sleep 0.02
  done
  now
}

msgs_for() { if [ -n "${MSGS:-}" ]; then echo "$MSGS"; elif [ "$1" -ge 102400 ]; then echo 1000; else echo 4000; fi; }

# run_cell CELL [extra postel setup fn]: prints "accepted e2e p50 p99 hwm note"
run_cell() {
  local cell=$1 setup=${2:-}
  IFS=: read -r C S R D <<< "$cell"
  local M; M=$(msgs_for "$S")
  local dir; dir=$(mktemp -d "$WORK/cell.XXXX")
  start_sink sink
  start_postel "$dir"
  [ -n "$setup" ] && "$setup" "$dir"
  local base; base=$(sink_count sink); base=${base:-0}
  local t0 out t_end; t0=$(now)
  out=$("$GEN" --addr "127.0.0.1:$SUBPORT" --conns "$C" --messages "$M" --size "$S" --rcpts "$R" --domains "$D")
  local acc; acc=$(kv accepted "$out")
  local tx; tx=$(kv transactions "$out")
  t_end=$(wait_sink sink $((base + tx)))
  local got; got=$(sink_count sink)
  local hwm; hwm=$(hwm_mib "$POSTEL_PID")
  local cpu; cpu=$(cpu_s "$POSTEL_PID")
  stop_postel; stop_pid "$sink_PID"
  local note=""
  [ "$(kv failed "$out")" != 0 ] || [ "$(kv conn_errors "$out")" != 0 ] && note="$note failed=$(kv failed "$out") conn_errors=$(kv conn_errors "$out")"
  [ "${got:-0}" -ne $((base + tx)) ] && note="$note sink=$((got - base))/$tx"
  if [ "$setup" = backlog_setup ]; then
    # The backlog must still be there, and the 451 domain must have been tried.
    local q; q=$("$POSTEL" --dir "$dir/data" queue list --to slow.bench.test --max 5000 --json \
      | python3 -c 'import json,sys; v=json.load(sys.stdin); print(str(sum(1 for m in v if m["attempts"] > 0)) + "/" + str(len(v)))')
    local f; f=$("$POSTEL" --dir "$dir/data" queue list --to .bench.test --when ">now" --max 200000 --json \
      | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    note="$note slow_tried=$q due_later=$f"
  fi
  local e2e; e2e=$(python3 -c "print(f'{$acc / ($t_end - $t0):.0f}')")
  echo "$(kv rate "$out") $e2e $(kv p50_ms "$out") $(kv p99_ms "$out") $hwm $cpu $acc ${note:-ok}"
}

FSYNC=$(fsync_rate)
echo "disk: append 4 KiB + fsync: $FSYNC fsyncs/s (same run)"

# ---------------------------------------------------------------- SYNCS=1
if [ "${SYNCS:-}" = 1 ]; then
  command -v strace >/dev/null || apt-get install -y -q strace >/dev/null
  N=${MSGS:-2000}
  dir=$(mktemp -d "$WORK/syncs.XXXX")
  start_sink sink
  start_postel "$dir" strace -f -qq -o "$dir/strace.log" -e trace=fsync,fdatasync,sync_file_range,syncfs,sync,msync,open,openat
  sleep 1
  before=$(wc -l < "$dir/strace.log")
  out=$("$GEN" --addr "127.0.0.1:$SUBPORT" --conns 8 --messages "$N" --size 1024 --rcpts 1 --domains 10)
  wait_sink sink "$(kv transactions "$out")" > /dev/null
  sleep 1
  kill "$POSTEL_PID"; stop_pid "$WRAP_PID"
  acc=$(kv accepted "$out")
  tail -n +"$((before + 1))" "$dir/strace.log" > "$dir/run.log"
  python3 - "$dir/run.log" "$acc" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[2])
counts = {}
sync_opens = 0
for l in lines:
    m = re.match(r"\d+\s+(\w+)\(", l)
    if not m: continue
    name = m.group(1)
    if name in ("open", "openat"):
        if re.search(r"O_(D)?SYNC", l): sync_opens += 1
        continue
    counts[name] = counts.get(name, 0) + 1
total = sum(counts.values())
print(f"sync calls while submitting and delivering {n} messages (8 conns, 1 KiB, 1 rcpt, 10 domains):")
for k, v in sorted(counts.items()): print(f"  {k:16} {v:8}  {v/n:.2f}/msg")
print(f"  opens with O_SYNC/O_DSYNC: {sync_opens}")
print(f"  total sync calls per message: {total/n:.2f}")
EOF
  exit 0
fi

# ---------------------------------------------------------------- MEMORY=1
if [ "${MEMORY:-}" = 1 ]; then
  N=${MEMORY_N:-10000}
  dir=$(mktemp -d "$WORK/mem.XXXX")
  start_sink sink
  start_postel "$dir"
  idle=$(rss_mib "$POSTEL_PID")
  out=$("$GEN" --addr "127.0.0.1:$SUBPORT" --conns 8 --messages "$N" --size 1024 --rcpts 1 --domains 10 --holdfor 3600:0 --tag mem)
  sleep 2
  hwm1=$(hwm_mib "$POSTEL_PID"); rss1=$(rss_mib "$POSTEL_PID")
  stop_postel
  start_postel "$dir"   # restart: scheduling state rebuilt from the store
  sleep 3
  hwm2=$(hwm_mib "$POSTEL_PID"); rss2=$(rss_mib "$POSTEL_PID")
  stop_postel
  echo "memory: idle RSS $idle MiB; after queueing $(kv accepted "$out") (held 1h): peak $hwm1 MiB, now $rss1 MiB;"
  echo "        after a restart with them queued: peak $hwm2 MiB, now $rss2 MiB   (target: peak <= 64 MiB)"
  exit 0
fi

# ---------------------------------------------------------------- timed cells
CEIL=$(ceiling 20 20000 1024)
echo "ceiling: smtp-source -s 20 -m 20000 -l 1024 -d -> fresh smtp-sink: $CEIL msgs/s (same run)"
case "$CELLS" in *102400*)
  CEIL100=$(ceiling 20 3000 102400)
  echo "ceiling: smtp-source -s 20 -m 3000 -l 102400 -d -> fresh smtp-sink: $CEIL100 msgs/s (same run)" ;;
esac
echo "postel: queue.concurrency=$CONCURRENCY per_domain_concurrency=$PER_DOMAIN; machine shared with other agents: figures are noisy"

backlog_setup() { # enqueue the backlog into a running postel
  local dir=$1
  start_sink slow -r MAIL -b "451 4.3.0 Try again later"
  # The route file was written before the slow sink existed: rewrite its port and restart.
  stop_postel
  sed -i "s|^port = 9$|port = $slow_PORT|" "$dir/bench.toml"
  RUST_LOG=${RUST_LOG:-warn} "$POSTEL" -c "$dir/bench.toml" serve >> "$dir/postel.log" 2>&1 &
  WRAP_PID=$!; POSTEL_PID=$WRAP_PID; PIDS+=("$WRAP_PID"); wait_port "$SUBPORT"
  local t0; t0=$(now)
  local o1 o2
  o1=$("$GEN" --addr "127.0.0.1:$SUBPORT" --conns 8 --messages "${BACKLOG_FUTURE:-100000}" --size 1024 \
       --domains 10 --holdfor 300:3300 --tag future)
  o2=$("$GEN" --addr "127.0.0.1:$SUBPORT" --conns 8 --messages "${BACKLOG_SLOW:-1000}" --size 1024 \
       --rcpt-domain slow.bench.test --tag slow)
  echo "backlog: $(kv accepted "$o1") due over the next hour, $(kv accepted "$o2") due now to a 451 domain; enqueued in $(python3 -c "print(f'{$(now) - $t0:.0f}')") s" >&2
  sleep 2
}

printf '\n%-18s %9s %9s %8s %8s %9s %7s %7s  %s\n' "cell c:size:r:d" "acc/s" "e2e/s" "p50 ms" "p99 ms" "RSS MiB" "CPU s" msgs note
for cell in $CELLS; do
  read -r acc e2e p50 p99 hwm cpu n note <<< "$(run_cell "$cell")"
  printf '%-18s %9s %9s %8s %8s %9s %7s %7s  %s\n' "$cell" "$acc" "$e2e" "$p50" "$p99" "$hwm" "$cpu" "$n" "$note"
  if [ "${BACKLOG:-}" = 1 ]; then
    read -r acc e2e p50 p99 hwm cpu n note <<< "$(run_cell "$cell" backlog_setup)"
    printf '%-18s %9s %9s %8s %8s %9s %7s %7s  %s\n' "  +backlog" "$acc" "$e2e" "$p50" "$p99" "$hwm" "$cpu" "$n" "$note"
  fi
done
echo "(fsync $FSYNC/s; smtp-source ceiling $CEIL msgs/s${CEIL100:+, 100 KiB: $CEIL100 msgs/s})"
