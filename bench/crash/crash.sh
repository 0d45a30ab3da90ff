#!/bin/bash
# Crash safety of `postel serve`: SIGKILL at random points under submission load,
# restart on the same data dir, repeat ROUNDS times, drain, then check against
# what the sink received (bench/crash/check.py).
#
#   bash bench/crash/crash.sh            # 50 rounds, ~2-4 minutes
#   bash bench/crash/crash.sh 200        # more rounds
#   CONNS=16 RATE=300 SEED=42 KEEP=1 bash bench/crash/crash.sh 50
#
# Pieces: a fresh Postfix smtp-sink dumping every transaction to its own file
# (smtp-sink -d DIR/%Y%m%d%H%M%S.), `postel -c RUN/postel.toml serve` (release
# build) with a trusted-network submission listener and a smarthost route to
# the sink, and crash_harness (bench/crash/main.rs: load generator + kill
# controller). The run directory is removed on success unless KEEP=1.
# Needs: postfix's smtp-sink (.ci/peers/install.sh), python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
ROUNDS=${1:-50}
CONNS=${CONNS:-8}
RATE=${RATE:-150}
MIN_MS=${MIN_MS:-150}
MAX_MS=${MAX_MS:-1500}
SEED=${SEED:-$(date +%s%N)}
SINK=/usr/sbin/smtp-sink
[ -x "$SINK" ] || { echo "smtp-sink missing: bash .ci/peers/install.sh" >&2; exit 1; }

echo "building postel (release) and crash_harness..." >&2
cargo build -q --release -p postel-server --bin postel
POSTEL=$ROOT/target/release/postel
HARNESS=$(cargo bench -q --bench crash_harness --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="crash_harness" and m.get("executable"): print(m["executable"])' | tail -1)
[ -x "$HARNESS" ] || { echo "could not build crash_harness" >&2; exit 1; }

RUN=$(mktemp -d /tmp/postel-crash.XXXXXX)
chmod 755 "$RUN"
mkdir "$RUN/dumps"
SINKPID=
cleanup() {
  [ -n "$SINKPID" ] && kill "$SINKPID" 2>/dev/null || true
}
trap cleanup EXIT

# The disk's sync rate in this run, for context (the machine is shared).
python3 - "$RUN" >&2 <<'EOF'
import os, sys, time
p = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
n, t0 = 0, time.monotonic()
while time.monotonic() - t0 < 1.0:
    os.write(fd, b"x" * 512); os.fdatasync(fd); n += 1
os.close(fd); os.unlink(p)
print("disk: %d fdatasync/s (write 512 B + fdatasync, 1 s)" % (n / (time.monotonic() - t0)))
EOF

SINK_ARGS=(-c -d "$RUN/dumps/%Y%m%d%H%M%S.")
if [ "$(id -u)" = 0 ]; then
  chown nobody "$RUN/dumps"
  SINK_ARGS=(-u nobody "${SINK_ARGS[@]}")
fi
SINK_PORT=$(python3 .ci/peers/freeport.py)
"$SINK" "${SINK_ARGS[@]}" "127.0.0.1:$SINK_PORT" 256 > "$RUN/sink.counters" 2>&1 &
SINKPID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$SINK_PORT") 2>/dev/null && break; sleep 0.05; done

STATUS=0
"$HARNESS" --postel "$POSTEL" --dir "$RUN" --sink-port "$SINK_PORT" --rounds "$ROUNDS" \
  --conns "$CONNS" --rate "$RATE" --min-ms "$MIN_MS" --max-ms "$MAX_MS" --seed "$SEED" || STATUS=$?
sleep 1 # let the sink finish writing its last dumps
kill "$SINKPID" 2>/dev/null || true
wait "$SINKPID" 2>/dev/null || true
SINKPID=
if [ "$STATUS" = 0 ]; then
  python3 bench/crash/check.py "$RUN" || STATUS=$?
fi
if [ "$STATUS" != 0 ] || [ -n "${KEEP:-}" ]; then
  echo "run directory kept: $RUN" >&2
else
  rm -rf "$RUN"
fi
exit "$STATUS"
