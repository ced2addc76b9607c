#!/usr/bin/env bash
# Load test of MM1 submissions: a release `tern serve` on embedded defaults (in a scratch data
# directory) takes 30 KB m-send.req PDUs with one local recipient from h2load, an independent
# HTTP load tool (Debian package nghttp2-client). Prints h2load's report.
# usage: scripts/bench-mm1.sh [REQUESTS] [CONNECTIONS] [RATE_PER_CONNECTION]
# TERN_BIN=path runs that binary instead of building this checkout (to compare two builds);
# TERN_CONFIG=file gives it a configuration file (such as a protection profile).
# (without a rate, each connection sends as fast as answers come back)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-20000}
clients=${2:-64}
rate=${3:+--rps=$3}
command -v h2load >/dev/null || { echo "h2load missing: apt-get install -y nghttp2-client" >&2; exit 1; }
bin=${TERN_BIN:-}
if [ -z "$bin" ]; then cargo build --release --quiet; bin=./target/release/tern; fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# A 30 KB m-send.req: insert-address From, one local recipient, one image/jpeg part.
scripts/send-req.py 30720 "$work/send.mms"

port=18002
config=${TERN_CONFIG:+--config=$TERN_CONFIG}
TERN_LOG=warn TERN_MM1__LISTEN=127.0.0.1:$port TERN_STORE__DATA_DIR="$work/data" "$bin" serve $config &
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
echo "tern serve: $("$bin" --version), checkout $(git rev-parse --short HEAD), $(nproc) cores, body $(stat -c %s "$work/send.mms") octets"
h2load --h1 -n "$requests" -c "$clients" -m 1 $rate -d "$work/send.mms" \
  -H 'Content-Type: application/vnd.wap.mms-message' -H 'X-MSISDN: +15550100001' \
  "http://127.0.0.1:$port/mms"
echo "messages stored: $(sqlite3 "$work/data/tern.db" 'SELECT count(*) FROM messages')"
