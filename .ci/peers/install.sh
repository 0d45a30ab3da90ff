#!/bin/bash
# Install the real peer programs used by the ignored interop tests (as root, Debian 12).
#   bash .ci/peers/install.sh [VENV_DIR]     (default: .peers-venv in the repository root)
# Idempotent: packages already present and an existing venv with its modules are kept.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${1:-$ROOT/.peers-venv}
export DEBIAN_FRONTEND=noninteractive

say() { echo "[peers/install] $*"; }
die() { echo "[peers/install] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get install, smtp-sink -u nobody)"

need_apt=()
for bin in /usr/sbin/smtp-sink /usr/sbin/smtp-source /usr/sbin/postfix /usr/bin/swaks \
           /usr/sbin/dovecot /usr/sbin/knotd /usr/bin/kdig /usr/sbin/unbound /usr/bin/openssl \
           /usr/bin/strace /usr/bin/curl; do
  [ -x "$bin" ] || need_apt+=("$bin")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  say "missing: ${need_apt[*]}; installing Debian packages"
  apt-get update -q >/dev/null || die "apt-get update failed"
  # Keep Postfix from writing /etc/postfix/main.cf: no system MTA, only private instances.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get install -y -q postfix swaks dovecot-core openssl strace curl >/dev/null \
    || die "apt-get install postfix swaks dovecot-core strace curl failed"
  apt-get install -y -q --no-install-recommends knot knot-dnsutils unbound >/dev/null \
    || die "apt-get install knot knot-dnsutils unbound failed"
fi
for bin in /usr/sbin/smtp-sink /usr/sbin/smtp-source /usr/sbin/postfix /usr/sbin/dovecot \
           /usr/sbin/knotd /usr/bin/kdig /usr/sbin/unbound /usr/bin/strace /usr/bin/curl; do
  [ -x "$bin" ] || die "$bin still missing after apt-get install"
done
say "debian packages present: postfix $(postconf -d -h mail_version 2>/dev/null), dovecot $(dovecot --version | cut -d' ' -f1), knot $(knotd --version | awk '{print $NF}'), unbound $(unbound -V | awk 'NR==1{print $2}')"

# Any CPython 3 with the venv module: $PEERS_BASE_PYTHON, python3 on PATH, else Debian's.
PY=${PEERS_BASE_PYTHON:-}
if [ -z "$PY" ]; then
  if command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; then
    PY=python3
  else
    say "no python3 with venv on PATH; installing Debian's python3-venv"
    apt-get install -y -q python3-venv >/dev/null || die "apt-get install python3-venv failed"
    PY=/usr/bin/python3
  fi
fi
if ! "$VENV/bin/python" -c 'import aiosmtpd, scramp, standardwebhooks, dkim, spf, dns' 2>/dev/null; then
  say "creating python venv $VENV"
  "$PY" -m venv "$VENV" || die "python3 -m venv $VENV failed"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    aiosmtpd scramp standardwebhooks dkimpy pyspf dnspython \
    || die "pip install into $VENV failed"
fi
"$VENV/bin/python" -c 'import aiosmtpd, scramp' || die "venv $VENV lacks aiosmtpd/scramp"
say "python venv ready: $VENV"
