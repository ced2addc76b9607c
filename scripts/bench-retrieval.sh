#!/usr/bin/env bash
# Retrieval of 300 KB messages, builds side by side: for each round, each given `tern` binary in
# turn serves FILL stored messages (as the retrieval row of bench.sh: h2load, 16 connections,
# -i the retrieval URLs) for SECS seconds; then the median rate of each binary, and the median
# CPU time (user + system, from /proc/PID/stat) the relay spent per GET. On a shared machine
# whose speed moves from minute to minute, the CPU time per GET compares builds better than the
# rate does. Copy each build aside first (cp target/release/tern /tmp/tern-before).
# With CEILING=path/to/http-ceiling, each run is followed by the HTTP ceiling answering the same
# number of octets for as long, and the median share of its MB/s is reported too. With BODIES=1
# as well, the ceiling holds FILL different answers and is asked for each in turn (as the relay
# is for its FILL messages), so that it too reads each answer from main memory rather than from
# the CPU's cache: a second reference, not the ceiling of bench.sh.
# usage: scripts/bench-retrieval.sh ROUNDS BINARY...   (SECS=5, FILL=2000, SIZE=307200, CEILING=, BODIES=)
set -euo pipefail
rounds=$1; shift
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${SECS:-5}; fill=${FILL:-2000}; size=${SIZE:-307200}
command -v h2load >/dev/null || { echo "h2load missing: apt-get install -y nghttp2-client" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
. "$root/scripts/relay.sh"

# An m-send.req with one local recipient and one image/jpeg part of $size octets.
"$root/scripts/send-req.py" "$size" "$work/send.mms"

hz=$(getconf CLK_TCK)
for round in $(seq "$rounds"); do
  for bin in "$@"; do
    rm -rf "$work/data"
    start_tern "$bin" "$work/data"
    port=$tern_port pid=$tern_pid
    h2load --h1 -m 1 -n "$fill" -c 64 -d "$work/send.mms" -H 'Content-Type: application/vnd.wap.mms-message' \
      -H 'X-MSISDN: +15550100001' "http://127.0.0.1:$port/mms" >/dev/null
    sqlite3 "$work/data/tern.db" 'SELECT token FROM recipients WHERE token IS NOT NULL' |
      sed "s|^|http://127.0.0.1:$port/m/|" >"$work/uris"
    sync  # the fill's bodies on disk, so that their writeback does not take the cores from the run
    before=$(cpu_ticks "$pid")
    h2load --h1 -m 1 -D "$secs" --warm-up-time 1 -c 16 -i "$work/uris" >"$work/out"
    after=$(cpu_ticks "$pid")
    answer=$(curl -s -o /dev/null -w '%{size_download}' "$(head -1 "$work/uris")")
    stop_tern
    rate=$(sed -n 's/.*finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$work/out")
    gets=$(sed -n 's/^requests: \([0-9]*\) total.*/\1/p' "$work/out")
    share=-
    if [ -n "${CEILING:-}" ]; then
      port=$(free_port)
      if [ -n "${BODIES:-}" ]; then
        "$CEILING" --listen "127.0.0.1:$port" --answer-bytes "$answer" --bodies "$fill" &
        seq 0 $((fill - 1)) | sed "s|^|http://127.0.0.1:$port/m/|" >"$work/ceiling-uris"
        targets=(-i "$work/ceiling-uris")
      else
        "$CEILING" --listen "127.0.0.1:$port" --answer-bytes "$answer" &
        targets=("http://127.0.0.1:$port/m/x")
      fi
      cpid=$!
      wait_port "$port"
      h2load --h1 -m 1 -D "$secs" --warm-up-time 1 -c 16 "${targets[@]}" >"$work/ceiling"
      kill "$cpid"; wait "$cpid" 2>/dev/null || true
      ceiling=$(sed -n 's/.*finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$work/ceiling")
      share=$(python3 -c "print(round($rate / $ceiling * 100))")
    fi
    echo "$round $bin $rate $(python3 -c "print(round(($after - $before) / $hz * 1e6 / $gets))") $share" | tee -a "$work/runs"
  done
done
for bin in "$@"; do
  awk -v b="$bin" '$2 == b {print $3, $4, $5}' "$work/runs" | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin]
line = f"{sys.argv[1]}: median {statistics.median(float(r[0]) for r in rows):,.0f} GETs/s, {statistics.median(float(r[1]) for r in rows):.0f} µs of CPU per GET"
if all(r[2] != "-" for r in rows):
    line += f", {statistics.median(float(r[2]) for r in rows):.0f}% of the {sys.argv[2]}"
print(line)' "$bin" "$([ -n "${BODIES:-}" ] && echo "ceiling holding $fill bodies" || echo "HTTP ceiling")"
done
