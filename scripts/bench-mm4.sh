#!/usr/bin/env bash
# MM4 between two relays: operator A (+1555) routes +1556 to operator B over SMTP. h2load (an
# independent HTTP load tool, Debian package nghttp2-client) submits REQUESTS 30 KB m-send.req
# to A over MM1, each to one of B's subscribers; A's outbound worker forwards each as an
# MM4_forward.REQ to B's SMTP listener, B stores it (and answers with an MM4_forward.RES to A's
# listener). Prints one line: the forwards stored by B per second between the first 10% and the
# last 10% of them, how long the whole took, and what A and B hold afterwards.
# With TERN=path/to/tern, that build runs both relays instead of a fresh release build (to
# compare builds in turn: copy each aside first).
# usage: scripts/bench-mm4.sh [REQUESTS] [CONNECTIONS]   (TERN=)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-20000}
clients=${2:-64}
for tool in h2load sqlite3 python3; do
  command -v "$tool" >/dev/null || { echo "$tool missing (apt-get install -y nghttp2-client sqlite3 python3)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
. scripts/relay.sh
pick_tern
smtp_a=$(free_port); smtp_b=$(free_port); mm1_a=$(free_port)

# operator NAME DOMAIN RANGE PEER PEER_DOMAIN PEER_RANGE OWN_SMTP PEER_SMTP
operator() {
  cat >"$work/$1.toml" <<TOML
[subscribers]
local = ["$3"]

[mm4]
enabled = true
domain = "$2"

[[mm4.peers]]
name = "$4"
domain = "$5"
send = { via = "relay", host = "127.0.0.1", port = $8 }
admit = ["127.0.0.0/8"]

[smtp]
listen = "127.0.0.1:$7"
hostname = "mm4.$1.bench"

[smtp_out]
hello_name = "mm4.$1.bench"
tls = "none"

[routing]
rules = [{ prefix = "$6", action = "mm4", peer = "$4" }]
TOML
}
operator a mms.mnc001.mcc001.gprs +1555 b mms.mnc002.mcc001.gprs +1556 "$smtp_a" "$smtp_b"
operator b mms.mnc002.mcc001.gprs +1556 a mms.mnc001.mcc001.gprs +1555 "$smtp_b" "$smtp_a"

# An m-send.req from +15550100001 to B's +15560100002 with one 30 KiB image/jpeg part.
scripts/send-req.py 30720 "$work/send.mms" +15560100002

for op in a b; do
  [ $op = a ] && mm1=$mm1_a || mm1=$(free_port)
  TERN_LOG=warn TERN_MM1__LISTEN=127.0.0.1:$mm1 TERN_ADMIN__LISTEN=127.0.0.1:$(free_port) \
    TERN_STORE__DATA_DIR="$work/$op" "$tern" serve --config "$work/$op.toml" 2>>"$work/$op.err" &
done
wait_port "$mm1_a" && wait_port "$smtp_a" && wait_port "$smtp_b" || { cat "$work"/*.err >&2; exit 1; }

# B's stored forwards, counted every 50 ms until all are there (or nothing new for 30 s).
python3 - "$work/b/tern.db" "$requests" >"$work/arrivals" <<'PY' &
import sqlite3, sys, time
db, want = sys.argv[1], int(sys.argv[2])
seen, last_change = 0, time.time()
while seen < want and time.time() - last_change < 30:
    try:
        n = sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("SELECT count(*) FROM messages").fetchone()[0]
    except sqlite3.Error:
        n = seen
    if n != seen:
        seen, last_change = n, time.time()
    print(f"{time.time():.3f} {n}", flush=True)
    time.sleep(0.05)
PY
watcher=$!
start=$(date +%s.%N)
h2load --h1 -m 1 -n "$requests" -c "$clients" -d "$work/send.mms" \
  -H 'Content-Type: application/vnd.wap.mms-message' -H 'X-MSISDN: +15550100001' \
  "http://127.0.0.1:$mm1_a/mms" >"$work/h2load.out"
wait "$watcher"
python3 - "$work/arrivals" "$requests" "$start" "$(sed -n 's/.*finished in \([^,]*\), \([0-9.]*\) req\/s.*/\2/p' "$work/h2load.out")" \
  "$(sqlite3 "$work/a/tern.db" "SELECT state, count(*) FROM outbound GROUP BY state" | tr '\n' ' ')" \
  "$(sqlite3 "$work/b/tern.db" "SELECT count(*) FROM messages")" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
want, start, mo = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
at = lambda k: next(t for t, n in rows if n >= k)
lo, hi = int(want * 0.1), int(want * 0.9)
rate = (hi - lo) / (at(hi) - at(lo))
print(f"| {want} | {mo} | {rate:.0f} | {rows[-1][0] - start:.1f} | {sys.argv[6]} | {sys.argv[5].strip()} |")
PY
