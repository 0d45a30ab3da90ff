#!/usr/bin/env python3
"""Checks a crash-harness run: every acknowledged number reached the sink,
and every extra copy is explained by a delivery that straddled a kill.

    python3 bench/crash/check.py RUN_DIR [DUMP_DIR]

Inputs (written by the harness, crash_harness, and the sink):
  RUN/outcomes.tsv   seq status (acked | unknown | refused | unsent)
  RUN/acked.log      the fsynced record of 250s (must equal the acked set)
  RUN/kills.log      round kill_ms restart_ms
  RUN/data/queue.db  the store: retired rows with their attempt results
  DUMP_DIR           one smtp-sink -d file per received transaction
                     (default RUN/dumps); its mtime is when the sink wrote it

A copy is explained when the row's history holds an attempt that never got
its result recorded (still "delivering...": the process died under it), the
attempt started before a kill, and the extra dump was written between the
attempt's start and that kill (plus a little for the sink to finish writing
what was already on the wire). The row's successful attempt explains one
more dump. Exit status 0 only if nothing is lost and nothing is unexplained.
"""

import json
import os
import re
import sqlite3
import sys
import time
from bisect import bisect_left
from collections import defaultdict

DELIVERING = "delivering..."
# The sink may write a dump whose final dot was already in its socket
# buffer when we were killed: allow this long after the kill.
AFTER_KILL_MS = 2000
# File times and our millisecond clock readings may differ by a tick.
SLACK_MS = 20


def fmt(ms):
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000)) + ".%03d" % (ms % 1000)


def load_outcomes(run):
    out = {}
    with open(os.path.join(run, "outcomes.tsv")) as f:
        for line in f:
            seq, status = line.split()
            out[int(seq)] = status
    return out


def load_acklog(run):
    with open(os.path.join(run, "acked.log")) as f:
        return [int(x) for x in f if x.strip()]


def load_kills(run):
    kills = []
    with open(os.path.join(run, "kills.log")) as f:
        for line in f:
            r, k, s = line.split()
            kills.append((int(r), int(k), int(s)))
    return kills


SEQ_RE = re.compile(rb"^X-Crash-Seq: (\d+)\r?$", re.M)
RCPT_RE = re.compile(rb"^X-Rcpt-Args: <([^>]*)>", re.M)


def load_dumps(dump_dir):
    """seq -> sorted list of (mtime_ms, file name, recipient)."""
    dumps = defaultdict(list)
    stray = []
    for name in os.listdir(dump_dir):
        path = os.path.join(dump_dir, name)
        with open(path, "rb") as f:
            data = f.read()
        m = SEQ_RE.search(data)
        if not m:
            stray.append(name)
            continue
        rcpt = RCPT_RE.search(data)
        mtime_ms = os.stat(path).st_mtime_ns // 1_000_000
        dumps[int(m.group(1))].append(
            (mtime_ms, name, rcpt.group(1).decode() if rcpt else "")
        )
    for v in dumps.values():
        v.sort()
    return dumps, stray


def load_store(run):
    db = sqlite3.connect(os.path.join(run, "data", "queue.db"))
    queued = db.execute("SELECT COUNT(*) FROM msgs").fetchone()[0]
    rows = {}
    for mid, results, event, success, recipient in db.execute(
        "SELECT message_id, results, event, success, recipient FROM retired"
    ):
        m = re.match(r"<crash-(\d+)@example\.org>", mid)
        if not m:
            continue
        rows[int(m.group(1))] = {
            "results": json.loads(results),
            "event": event,
            "success": bool(success),
            "recipient": recipient,
        }
    db.close()
    return queued, rows


def first_kill_after(kill_times, start_ms):
    """Index of the first kill at or after start_ms, None if none."""
    i = bisect_left(kill_times, start_ms - SLACK_MS)
    return i if i < len(kill_times) else None


def explain(seq, copies, row, kills, kill_times):
    """Matches each dump of `seq` to an attempt. Returns (explained lines,
    unexplained dumps)."""
    if row is None:
        return [], list(copies)
    windows = []  # (lo, hi, label)
    for r in row["results"]:
        start = r.get("start_ms", 0)
        if r.get("error") == DELIVERING:
            k = first_kill_after(kill_times, start)
            if k is None:
                continue
            kill_ms = kill_times[k]
            windows.append(
                (
                    start - SLACK_MS,
                    kill_ms + AFTER_KILL_MS,
                    "attempt started %s, in flight at kill %d (%s)"
                    % (fmt(start), kills[k][0], fmt(kill_ms)),
                )
            )
        elif r.get("success"):
            end = start + max(r.get("duration_ms", 0), 0)
            windows.append(
                (
                    start - SLACK_MS,
                    end + AFTER_KILL_MS,
                    "attempt started %s, success recorded" % fmt(start),
                )
            )
    # Points (dumps) against intervals (attempts): each attempt explains at
    # most one dump; take the interval that closes first among those open.
    windows.sort()
    used = [False] * len(windows)
    lines, unexplained = [], []
    for mtime, name, _ in copies:
        best = None
        for i, (lo, hi, _) in enumerate(windows):
            if not used[i] and lo <= mtime <= hi and (best is None or hi < windows[best][1]):
                best = i
        if best is None:
            unexplained.append((mtime, name))
        else:
            used[best] = True
            lines.append("  dump %s (%s) <- %s" % (fmt(mtime), name, windows[best][2]))
    return lines, unexplained


def main():
    run = sys.argv[1]
    dump_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(run, "dumps")
    with open(os.path.join(run, "run.json")) as f:
        meta = json.load(f)
    outcomes = load_outcomes(run)
    acklog = load_acklog(run)
    kills = load_kills(run)
    kill_times = [k for _, k, _ in kills]
    dumps, stray = load_dumps(dump_dir)
    queued, rows = load_store(run)

    failures = []
    acked = {s for s, st in outcomes.items() if st == "acked"}
    if set(acklog) != acked or len(acklog) != len(acked):
        failures.append(
            "acked.log (%d lines) differs from the acked outcomes (%d)"
            % (len(acklog), len(acked))
        )
    if queued:
        failures.append("%d rows still in the queue" % queued)
    if stray:
        failures.append("%d sink dumps without X-Crash-Seq, e.g. %s" % (len(stray), stray[0]))
    never_issued = sorted(s for s in dumps if s not in outcomes)
    if never_issued:
        failures.append("sink got numbers never handed out: %s" % never_issued[:10])

    lost = sorted(s for s in acked if not dumps.get(s))
    if lost:
        failures.append("LOST (acknowledged, never delivered): %s" % lost[:20])

    by_status = defaultdict(list)
    for s, st in outcomes.items():
        by_status[st].append(s)
    for st in ("refused", "unsent"):
        wrong = sorted(s for s in by_status[st] if dumps.get(s))
        if wrong:
            failures.append("%s numbers were delivered: %s" % (st, wrong[:20]))

    delivered = {s for s in dumps if s in outcomes}
    dup_seqs = sorted(s for s in delivered if len(dumps[s]) > 1)
    extra_copies = sum(len(dumps[s]) - 1 for s in dup_seqs)
    explained_lines = []
    unexplained = []
    for s in dup_seqs:
        lines, bad = explain(s, dumps[s], rows.get(s), kills, kill_times)
        explained_lines.append(
            "seq %d (%s): %d copies, recipient %s"
            % (s, outcomes[s], len(dumps[s]), dumps[s][0][2])
        )
        explained_lines.extend(lines)
        for mtime, name in bad:
            explained_lines.append("  dump %s (%s) <- UNEXPLAINED" % (fmt(mtime), name))
            unexplained.append((s, name))
    if unexplained:
        failures.append(
            "%d copies not explained by a delivery straddling a kill: %s"
            % (len(unexplained), unexplained[:10])
        )
    unacked_dups = [s for s in dup_seqs if outcomes[s] != "acked"]

    interrupted = sum(
        1 for r in rows.values() for a in r["results"] if a.get("error") == DELIVERING
    )
    failed_rows = sorted(s for s, r in rows.items() if not r["success"])
    if failed_rows:
        failures.append("rows retired as failed: %s" % failed_rows[:20])
    not_in_history = sorted(s for s in acked if s not in rows)
    if not_in_history:
        failures.append("acknowledged numbers missing from the history: %s" % not_in_history[:20])
    bound = len(kills) * meta["conns"]
    if extra_copies > max(bound, 0):
        failures.append("more extra copies (%d) than kills x concurrency (%d)" % (extra_copies, bound))

    unknown = by_status["unknown"]
    unknown_delivered = sum(1 for s in unknown if dumps.get(s))
    print("crash run %s (seed %d)" % (run, meta["seed"]))
    print(
        "  rounds (SIGKILLs)      %d  over %.0f s of load, drain %.0f s"
        % (len(kills), meta["load_secs"], meta["drain_secs"])
    )
    print("  numbers handed out     %d" % len(outcomes))
    print("  acknowledged (250)     %d" % len(acked))
    print(
        "  unknown (dot sent, no reply) %d, of which delivered %d (committed before the kill)"
        % (len(unknown), unknown_delivered)
    )
    print("  refused / unsent       %d / %d (delivered: must be 0)" % (len(by_status["refused"]), len(by_status["unsent"])))
    print("  delivered (distinct)   %d  in %d sink transactions" % (len(delivered), sum(len(v) for v in dumps.values())))
    print(
        "  duplicates             %d numbers, %d extra copies (%d unacknowledged); bound kills x conns = %d"
        % (len(dup_seqs), extra_copies, len(unacked_dups), bound)
    )
    print("  interrupted attempts   %d (\"delivering...\" left by a kill)" % interrupted)
    print("  unexplained copies     %d" % len(unexplained))
    print("  lost                   %d" % len(lost))
    if explained_lines:
        print("duplicates, each matched to the attempt that straddled a kill:")
        for line in explained_lines[:200]:
            print("  " + line)
        if len(explained_lines) > 200:
            print("  ... %d more lines" % (len(explained_lines) - 200))
    if failures:
        for f in failures:
            print("FAIL: " + f)
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
