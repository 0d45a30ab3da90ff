#!/bin/bash
# Stop the instance started by start.sh DIR, by PID.
DIR=$1
kill "$(tr -d ' ' < "$DIR/queue/pid/master.pid")" 2>/dev/null   # master stops its children
kill "$(cat "$DIR/dovecot/master.pid")" 2>/dev/null
exit 0
