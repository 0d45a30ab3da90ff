#!/bin/bash
# Stop the Knot + Unbound pair started by start.sh DIR, by PID.
DIR=$1
for f in "$DIR/unbound.pid" "$DIR/knot.pid"; do
  [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
done
exit 0
