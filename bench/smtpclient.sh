#!/bin/bash
# Loopback delivery rate of Postel's smtpclient next to Postfix's smtp-source (a C client),
# both sending to a fresh smtp-sink per run, in the same run of this script.
#
#   bash bench/smtpclient.sh                 # all 8 cells, median of 3 runs each
#   RUNS=1 SCALE=0.2 bash bench/smtpclient.sh   # quick look
#   CELLS="1:1024:1 10:102400:10" bash bench/smtpclient.sh
#
# A cell is CONNECTIONS:SIZE:RECIPIENTS. smtp-source runs as
#   smtp-source -s CONNS -m MSGS -l SIZE -r RCPTS -d -f src@example.org -t dst@example.net
# (-d: one persistent connection per session, as ours). Ours is bench/smtpclient.rs
# (the `smtpclient_bench` [[bench]] target, built with the bench profile): CONNS tokio tasks on
# the multi-thread runtime, each with one connection, each message a transaction with
# RCPTS recipients and a body of SIZE bytes in 80-byte lines like smtp-source's.
# Sink: smtp-sink -u nobody -c -m 1000 127.0.0.1:PORT 1000 (performance.md); its message
# counter must equal the number of messages sent, or the run fails.
# Needs: root (smtp-sink -u nobody), postfix installed (.ci/peers/install.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-3}
SCALE=${SCALE:-1}
CELLS=${CELLS:-"1:1024:1 1:1024:10 1:102400:1 1:102400:10 10:1024:1 10:1024:10 10:102400:1 10:102400:10"}
SINK=/usr/sbin/smtp-sink
SOURCE=/usr/sbin/smtp-source
[ -x "$SINK" ] && [ -x "$SOURCE" ] || { echo "smtp-sink/smtp-source missing: bash .ci/peers/install.sh" >&2; exit 1; }

# Messages per run, chosen so that each run takes a few seconds on this machine.
count_for() { # conns size rcpts
  local n
  case "$1:$2:$3" in
    1:1024:1) n=20000 ;;   1:1024:10) n=8000 ;;
    1:102400:1) n=3000 ;;  1:102400:10) n=3000 ;;
    10:1024:1) n=40000 ;;  10:1024:10) n=12000 ;;
    10:102400:1) n=5000 ;; 10:102400:10) n=5000 ;;
    *) n=5000 ;;
  esac
  python3 -c "print(max(10, int($n * $SCALE)) // 10 * 10)"
}

echo "building the bench client (cargo bench --no-run)..." >&2
OURS=$(cargo bench -q --bench smtpclient_bench --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="smtpclient_bench" and m.get("executable"): print(m["executable"])' | tail -1)
[ -x "$OURS" ] || { echo "could not build the smtpclient bench target" >&2; exit 1; }

WORK=$(mktemp -d /tmp/postel-bench.XXXXXX)
SINKPID=
cleanup() { [ -n "$SINKPID" ] && kill "$SINKPID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start_sink() {
  PORT=$(python3 .ci/peers/freeport.py)
  : > "$WORK/counters"
  "$SINK" -u nobody -c -m 1000 "127.0.0.1:$PORT" 1000 > "$WORK/counters" 2>&1 &
  SINKPID=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return; sleep 0.05; done
  echo "smtp-sink did not start on port $PORT" >&2; exit 1
}
stop_sink() { # expected message count
  local got
  for _ in $(seq 50); do
    got=$(tr '\r' '\n' < "$WORK/counters" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2)
    [ "${got:-0}" = "$1" ] && break; sleep 0.1
  done
  kill "$SINKPID"; wait "$SINKPID" 2>/dev/null || true; SINKPID=
  [ "${got:-0}" = "$1" ] || { echo "sink counted ${got:-0} messages, expected $1" >&2; exit 1; }
}
now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1 / ($3 - $2):.0f}')"; }

run_source() { # conns size rcpts msgs -> msgs/s
  start_sink
  local t0 t1; t0=$(now)
  "$SOURCE" -s "$1" -m "$4" -l "$2" -r "$3" -d -f src@example.org -t dst@example.net "127.0.0.1:$PORT"
  t1=$(now); stop_sink "$4"; rate "$4" "$t0" "$t1"
}
run_ours() {
  start_sink
  local t0 t1; t0=$(now)
  "$OURS" --addr "127.0.0.1:$PORT" --conns "$1" --size "$2" --rcpts "$3" --messages "$4" >&2
  t1=$(now); stop_sink "$4"; rate "$4" "$t0" "$t1"
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-22s %8s %16s %14s %7s\n' "cell (conns/size/rcpts)" msgs "smtp-source msg/s" "ours msg/s" ratio
for cell in $CELLS; do
  IFS=: read -r C S R <<< "$cell"
  M=$(count_for "$C" "$S" "$R")
  src=(); ours=()
  for _ in $(seq "$RUNS"); do
    src+=("$(run_source "$C" "$S" "$R" "$M")")
    ours+=("$(run_ours "$C" "$S" "$R" "$M")")
  done
  ms=$(median "${src[@]}"); mo=$(median "${ours[@]}")
  ratio=$(python3 -c "print(f'{$mo / $ms:.2f}')")
  printf '%-22s %8s %16s %14s %7s   (runs: source %s; ours %s)\n' "$C/$S/$R" "$M" "$ms" "$mo" "$ratio" \
    "${src[*]}" "${ours[*]}"
done
