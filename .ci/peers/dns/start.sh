#!/bin/bash
# Signed test zone postel.test: Knot (authoritative, auto-DNSSEC) + Unbound (validating).
#   sh start.sh DIR [AUTHPORT] [RESPORT]   (defaults 5300, 5353)
# Needs: apt-get install --no-install-recommends knot knot-dnsutils unbound
# Ask: kdig @127.0.0.1 -p 5353 +dnssec mx postel.test   -> flags include "ad"
# Stop: kill $(cat DIR/knot.pid) $(cat DIR/unbound.pid)
set -eu
DIR=$1; AUTHPORT=${2:-5300}; RESPORT=${3:-5353}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR/run" "$DIR/db" "$DIR/zones"
fill() { sed -e "s|@DIR@|$DIR|g" -e "s|@AUTHPORT@|$AUTHPORT|g" -e "s|@RESPORT@|$RESPORT|g" "$1" > "$2"; }
fill "$HERE/knot.conf.in" "$DIR/knot.conf"
fill "$HERE/unbound.conf.in" "$DIR/unbound.conf"
[ -f "$DIR/zones/postel.test.zone" ] || cp "$HERE/postel.test.zone" "$DIR/zones/"
knotd -c "$DIR/knot.conf" >/dev/null 2>&1 & echo $! > "$DIR/knot.pid"
for i in $(seq 50); do
  kdig +timeout=1 +retry=0 @127.0.0.1 -p "$AUTHPORT" +short postel.test DNSKEY 2>/dev/null | grep -q . && break; sleep 0.1
done
kdig @127.0.0.1 -p "$AUTHPORT" +noall +answer postel.test DNSKEY > "$DIR/postel.test.ds"
grep -q DNSKEY "$DIR/postel.test.ds" || { echo "knot on port $AUTHPORT gave no DNSKEY (see $DIR/knot.log)" >&2; exit 1; }
unbound -d -c "$DIR/unbound.conf" >"$DIR/unbound.log" 2>&1 & echo $! > "$DIR/unbound.pid"
for i in $(seq 50); do
  kdig +timeout=1 +retry=0 @127.0.0.1 -p "$RESPORT" +short postel.test SOA 2>/dev/null | grep -q . && break; sleep 0.1
done
kdig +timeout=1 +retry=0 @127.0.0.1 -p "$RESPORT" +short postel.test SOA 2>/dev/null | grep -q . \
  || { echo "unbound on port $RESPORT does not answer for postel.test (see $DIR/unbound.log)" >&2; exit 1; }
echo "knot pid $(cat "$DIR/knot.pid") port $AUTHPORT; unbound pid $(cat "$DIR/unbound.pid") port $RESPORT"
