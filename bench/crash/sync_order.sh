#!/bin/bash
# Power loss: shows from a syscall trace that each submitted message is on
# disk before its 250 is written. Runs `postel serve` (release build) under
#   strace -f -ttt -T -yy -s 65536 -e trace=fsync,fdatasync,write,pwrite64,writev,sendto,sendmsg,read,recvfrom
# submits MESSAGES (default 5) messages one by one, each on its own
# connection and carrying a unique marker, and checks per message
# (bench/crash/sync_order.py) that on the server:
#   1. the read that brought the end of DATA (<CRLF>.<CRLF>) on that client's socket,
#   2. then a write to queue.db-wal whose bytes hold the message's marker,
#   3. then an fsync/fdatasync of queue.db-wal that has returned,
#   4. and only then the write of "250 " on that socket.
# -yy makes strace name each fd (the WAL's path, the socket's ports), so no
# fd bookkeeping is needed. Prints PASS/FAIL per message with the trace lines.
#
#   bash bench/crash/sync_order.sh [MESSAGES]      # KEEP=1 keeps the trace
# Needs: strace (apt-get install -y strace), smtp-sink (.ci/peers/install.sh), python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
MESSAGES=${1:-5}
command -v strace >/dev/null || { echo "strace missing: apt-get install -y strace" >&2; exit 1; }
[ -x /usr/sbin/smtp-sink ] || { echo "smtp-sink missing: bash .ci/peers/install.sh" >&2; exit 1; }

cargo build -q --release -p postel-server --bin postel
POSTEL=$ROOT/target/release/postel

RUN=$(mktemp -d /tmp/postel-syncorder.XXXXXX)
SINKPID=
TRACEPID=
cleanup() {
  [ -n "$TRACEPID" ] && kill "$TRACEPID" 2>/dev/null || true
  [ -n "$SINKPID" ] && kill "$SINKPID" 2>/dev/null || true
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done
  echo "nothing listens on port $1" >&2; exit 1
}

SINK_PORT=$(python3 .ci/peers/freeport.py)
SINK_USER=()
[ "$(id -u)" = 0 ] && SINK_USER=(-u nobody)
/usr/sbin/smtp-sink "${SINK_USER[@]}" "127.0.0.1:$SINK_PORT" 64 >/dev/null 2>&1 &
SINKPID=$!
wait_port "$SINK_PORT"

SUB_PORT=$(python3 .ci/peers/freeport.py)
cat > "$RUN/postel.toml" <<EOF
hostname = "sync.example.org"
data_dir = "$RUN/data"
[listeners]
submission = { address = "127.0.0.1", port = $SUB_PORT }
[domains."example.org"]
[accounts.app]
addresses = ["app@example.org"]
[[trusted_networks]]
network = "127.0.0.0/8"
account = "app"
[[routes]]
transport = "sink"
[transports.sink.smtp]
host = "127.0.0.1"
port = $SINK_PORT
no_starttls = true
EOF

strace -f -ttt -T -yy -s 65536 \
  -e trace=fsync,fdatasync,write,pwrite64,writev,sendto,sendmsg,read,recvfrom \
  -o "$RUN/trace" "$POSTEL" -c "$RUN/postel.toml" serve 2>"$RUN/postel.log" &
TRACEPID=$!
wait_port "$SUB_PORT"

python3 - "$SUB_PORT" "$MESSAGES" > "$RUN/submissions" <<'EOF'
import os, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])

def reply(f):
    while True:
        line = f.readline().decode()
        if not line:
            raise SystemExit("connection closed")
        if line[3:4] != "-":
            return line.strip()

for i in range(1, n + 1):
    marker = "sync-probe-%d-%s" % (i, os.urandom(6).hex())
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    cport = s.getsockname()[1]
    reply(f)
    for cmd in (b"EHLO probe.example\r\n", b"MAIL FROM:<app@example.org>\r\n",
                b"RCPT TO:<probe@sink.example>\r\n", b"DATA\r\n"):
        s.sendall(cmd)
        r = reply(f)
        assert r[0] in "23", r
    s.sendall(("From: <app@example.org>\r\nTo: <probe@sink.example>\r\n"
               "Subject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\n%s\r\n.\r\n"
               % (marker, marker, marker)).encode())
    final = reply(f)
    s.sendall(b"QUIT\r\n")
    reply(f)
    s.close()
    print(i, cport, marker, final.replace(" ", "_"))
EOF

sleep 1
kill -TERM "$(pgrep -P "$TRACEPID" -x postel)" 2>/dev/null || true
wait "$TRACEPID" 2>/dev/null || true
TRACEPID=
STATUS=0
python3 bench/crash/sync_order.py "$RUN/trace" "$RUN/submissions" "$SUB_PORT" || STATUS=$?
if [ "$STATUS" != 0 ] || [ -n "${KEEP:-}" ]; then
  echo "trace kept: $RUN/trace" >&2
else
  rm -rf "$RUN"
fi
exit "$STATUS"
