#!/usr/bin/env python3
"""Checks in an strace of `postel serve` that each message was synced to the
queue's WAL before its 250 was written (see sync_order.sh).

    python3 bench/crash/sync_order.py TRACE SUBMISSIONS SUBMISSION_PORT

TRACE comes from strace -f -ttt -T -yy -s 65536; SUBMISSIONS has one line
per message: index client_port marker final_reply.
"""

import re
import sys

LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
DURATION = re.compile(r"<(\d+\.\d+)>$")
CALL = re.compile(r"^(\w+)\((\d+)<(.*?)>[,)]")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")


class Call:
    def __init__(self, pid, start, text, raw):
        self.pid = pid
        self.start = start
        self.text = text
        self.raw = raw
        d = DURATION.search(text)
        self.end = start + (float(d.group(1)) if d else 0.0)
        m = CALL.match(text)
        self.name = m.group(1) if m else text.split("(", 1)[0]
        self.fd_path = m.group(3) if m else ""
        ret = re.search(r"\) = (-?\d+)", text)
        self.ret = int(ret.group(1)) if ret else None

    def short(self):
        """The trace line(s) with long string arguments cut."""
        return QUOTED.sub(
            lambda m: m.group(0) if len(m.group(0)) <= 60 else m.group(0)[:45].rstrip("\\") + '"...', self.raw
        )


def parse(path):
    calls, pending = [], {}
    with open(path, errors="replace") as f:
        for raw in f:
            raw = raw.rstrip("\n")
            m = LINE.match(raw)
            if not m:
                continue
            pid, ts, rest = m.group(1), float(m.group(2)), m.group(3)
            if rest.startswith(("+++", "---")):
                continue
            if rest.endswith("<unfinished ...>"):
                pending[pid] = (ts, rest[: -len("<unfinished ...>")].rstrip(), raw)
                continue
            r = RESUMED.match(rest)
            if r:
                if pid not in pending:
                    continue
                start, head, first_raw = pending.pop(pid)
                calls.append(Call(pid, start, head + r.group(2), first_raw + " ... " + raw))
                continue
            calls.append(Call(pid, ts, rest, raw))
    calls.sort(key=lambda c: c.start)
    return calls


def fmt(t):
    return "%.6f" % t


def main():
    calls = parse(sys.argv[1])
    port = sys.argv[3]
    subs = []
    with open(sys.argv[2]) as f:
        for line in f:
            i, cport, marker, final = line.split()
            subs.append((int(i), cport, marker, final.replace("_", " ")))
    syncs = [
        c
        for c in calls
        if c.name in ("fsync", "fdatasync")
        and c.fd_path.endswith("queue.db-wal")
        and c.ret == 0
    ]
    failures = 0
    for i, cport, marker, final in subs:
        sock = "127.0.0.1:%s->127.0.0.1:%s]" % (port, cport)
        on_sock = [c for c in calls if sock in c.fd_path]
        print("message %d (client port %s, marker %s, reply %r)" % (i, cport, marker, final))
        problems = []
        data_end = [
            c
            for c in on_sock
            if c.name in ("read", "recvfrom") and "\\r\\n.\\r\\n" in c.text and (c.ret or 0) > 0
        ]
        if not final.startswith("250"):
            problems.append("the submission was not accepted")
        if not data_end:
            problems.append("no read of the end of DATA on the client's socket")
        else:
            got = data_end[-1]
            reply = next(
                (
                    c
                    for c in on_sock
                    if c.name in ("write", "writev", "sendto", "sendmsg")
                    and c.start >= got.end
                    and '"250 ' in c.text
                ),
                None,
            )
            wal = next(
                (
                    c
                    for c in calls
                    if c.name in ("pwrite64", "write")
                    and c.fd_path.endswith("queue.db-wal")
                    and c.start >= got.end
                    and marker in c.text
                ),
                None,
            )
            sync = None
            if wal is not None:
                sync = next(
                    (c for c in syncs if c.start >= wal.end and c.fd_path == wal.fd_path), None
                )
            print("  %s end of DATA read   %s" % (fmt(got.end), got.short()))
            if wal:
                print("  %s WAL write (marker) %s" % (fmt(wal.end), wal.short()))
            if sync:
                print("  %s sync returned      %s" % (fmt(sync.end), sync.short()))
            if reply:
                print("  %s 250 written        %s" % (fmt(reply.start), reply.short()))
            if reply is None:
                problems.append("no 250 written on the client's socket after the end of DATA")
            if wal is None:
                problems.append("no WAL write holding the marker after the end of DATA")
            if sync is None:
                problems.append("no fsync/fdatasync of the WAL after that write")
            if reply is not None and sync is not None and sync.end > reply.start:
                problems.append(
                    "the 250 was written at %s, before the sync returned at %s"
                    % (fmt(reply.start), fmt(sync.end))
                )
            if reply is not None and wal is not None and wal.start > reply.start:
                problems.append("the WAL write came after the 250")
        if problems:
            failures += 1
            for p in problems:
                print("  FAIL: " + p)
        else:
            print("  PASS: sync returned %.3f ms before the 250 was written" % ((reply.start - sync.end) * 1000))
    total_syncs = len(syncs)
    print(
        "%d of %d messages PASS; %d syncs of queue.db-wal in the trace"
        % (len(subs) - failures, len(subs), total_syncs)
    )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
