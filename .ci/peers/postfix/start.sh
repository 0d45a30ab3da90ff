#!/bin/bash
# Start a private Postfix (+ Dovecot SASL) instance on loopback, as root.
#   bash start.sh DIR [PORT] [SUBMISSION_PORT] [RELAY] [TLS_PORT]
#   PORT (default 2525): SMTP, STARTTLS optional, AUTH after STARTTLS, loopback may relay
#   SUBMISSION_PORT (default 2588): STARTTLS required, AUTH required
#   RELAY (default discard:): e.g. smtp:[127.0.0.1]:2526 to hand every message to smtp-sink
#   TLS_PORT (default 2465): implicit TLS (submissions, RFC 8314), AUTH required
# Users: alice/secret, bob/hunter2 (DIR/dovecot/users). Stop: sh stop.sh DIR
# Needs: apt-get install postfix dovecot-core openssl
set -eu
DIR=$1; PORT=${2:-2525}; SUBPORT=${3:-2588}; RELAY=${4:-discard:}; TLSPORT=${5:-2465}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR/etc" "$DIR/data" "$DIR/queue" "$DIR/dovecot/state"
chmod 755 "$DIR" "$DIR/dovecot"
fill() {
  sed -e "s|@DIR@|$DIR|g" -e "s|@PORT@|$PORT|g" -e "s|@SUBPORT@|$SUBPORT|g" -e "s|@TLSPORT@|$TLSPORT|g" \
      -e "s|@RELAY@|$RELAY|g" -e "s|@HOST@|mx.postel.test|g" \
      -e "s|@LISTEN4@|127.0.0.1|g" -e "s|@LISTEN6@|[::1]|g" "$1" > "$2"
}
fill "$HERE/main.cf.in" "$DIR/etc/main.cf"
fill "$HERE/master.cf.in" "$DIR/etc/master.cf"
fill "$HERE/dovecot.conf.in" "$DIR/dovecot.conf"
[ -f "$DIR/etc/cert.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
  -keyout "$DIR/etc/key.pem" -out "$DIR/etc/cert.pem" -subj /CN=mx.postel.test \
  -addext "subjectAltName=DNS:mx.postel.test,DNS:localhost,IP:127.0.0.1,IP:::1" 2>/dev/null
printf 'alice:{PLAIN}secret\nbob:{PLAIN}hunter2\n' > "$DIR/dovecot/users"
chown postfix "$DIR/data"
dovecot -c "$DIR/dovecot.conf" </dev/null >/dev/null 2>&1  # daemonizes; pid in $DIR/dovecot/master.pid
postfix -c "$DIR/etc" check || { echo "postfix check failed for $DIR/etc" >&2; exit 1; }
postfix -c "$DIR/etc" start                            # pid in $DIR/queue/pid/master.pid
for i in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1
done
(exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null \
  || { echo "postfix does not listen on 127.0.0.1:$PORT (see $DIR/maillog)" >&2; exit 1; }
echo "postfix master pid $(tr -d ' ' < "$DIR/queue/pid/master.pid") dovecot pid $(cat "$DIR/dovecot/master.pid") port $PORT submission $SUBPORT submissions $TLSPORT"
