#!/usr/bin/env bash
# CI entry point, run on a fresh clone with `shared/` beside it: installs the independent peers
# the tests check against (tshark, python-messaging, the sqlite3 shell, the npm smpp SMSC,
# Kannel's push proxy gateway, dnsmasq and dig for ENUM, postfix and aiosmtpd for MM4 and MM3,
# lxml for MM7), checks formatting and lints, then runs the same test command as the README.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=""
command -v tshark >/dev/null 2>&1 || missing="$missing tshark"
command -v sqlite3 >/dev/null 2>&1 || missing="$missing sqlite3"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -x /usr/sbin/bearerbox ] || missing="$missing kannel"
[ -x /usr/sbin/dnsmasq ] || missing="$missing dnsmasq-base"
command -v dig >/dev/null 2>&1 || missing="$missing bind9-dnsutils"
if [ ! -x /usr/sbin/postfix ]; then
  missing="$missing postfix"
  # Installed unconfigured and not started: the MM4 and MM3 tests run their own instances, each
  # with its own configuration directory.
  echo 'postfix postfix/main_mailer_type select No configuration' | as_root debconf-set-selections
fi
if [ -n "$missing" ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
if ! .venv/bin/python3 -c 'import messaging' >/dev/null 2>&1; then
  python3 -m venv .venv
  .venv/bin/pip install -q python-messaging==0.5.13
fi
if ! .venv/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
  .venv/bin/pip install -q aiosmtpd==1.4.6
fi
# The independent XML parser the MM7 SOAP tests read the written messages with.
if ! .venv/bin/python3 -c 'import lxml' >/dev/null 2>&1; then
  .venv/bin/pip install -q lxml==6.1.3
fi
# The SMSC peer of the SMPP tests (shared/peers/smsc.js); tests/smpp.rs looks for it here.
if [ ! -f .peers/npm/node_modules/smpp/package.json ]; then
  npm install --silent --no-audit --no-fund --prefix .peers/npm smpp@0.5.1
fi

