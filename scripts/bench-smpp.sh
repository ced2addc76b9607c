#!/usr/bin/env bash
# Notification throughput over SMPP, against the SMSC peer `shared/peers/smsc.js` (npm smpp 0.5.1),
# in one run:
#  1. for each window in WINDOWS (1, 10, 64), REPEAT (3) times: the SMSC's own ceiling at that
#     window, `scripts/smpp-load-client.js` (a plain npm smpp client) submitting CEILING_N
#     one-segment binary submit_sm (140 octets, UDHI, data_coding 4) over one bind, keeping up to
#     that window awaiting their response; right after it
#  2. a fresh release `tern serve` (scratch data
#     directory, `[push] bearer = "smpp"`, compact notifications with the base URL http://mms so
#     each is one SMS, one link with that window) takes M m-send.req from h2load, one local
#     recipient each, while the SMSC is down (the pushes wait: no link is bound); then the SMSC
#     starts, Tern binds, and the notifications go out.
# Both are timed the same way, at the SMSC: `scripts/smsc-timed.js` runs smsc.js unchanged and
# notes when its first and its last submit_sm log line were written (the log itself goes to a
# file in both cases); the rate is (count - 1) / (last - first). Prints a Markdown table.
# usage: scripts/bench-smpp.sh [M] [CEILING_N]      (WINDOWS="1 10 64" REPEAT=3 to choose)
# With TERN=path/to/tern, that build is run instead of a fresh release build (to compare builds in
# turn: copy each aside first).
set -euo pipefail
cd "$(dirname "$0")/.."
m=${1:-60000}
ceiling_n=${2:-60000}
windows=${WINDOWS:-1 10 64}
# Runs per window, each a ceiling run followed by a Tern run, so that both see the same moment of
# a shared machine; the summary gives each pair and the medians.
repeat=${REPEAT:-3}
# push.batch (most pushes a delivery pass takes; Tern's default when unset) and how long the
# SMSC may log nothing before a run counts as stalled.
batch=${BATCH:-}
stall_secs=${STALL_SECS:-10}
recipients=8
modules=$PWD/.peers/npm/node_modules
smsc_js=${SMSC_JS:-$(cd .. && pwd)/shared/peers/smsc.js}
command -v h2load >/dev/null || { echo "h2load missing: apt-get install -y nghttp2-client" >&2; exit 1; }
command -v node >/dev/null || { echo "node missing: apt-get install -y nodejs npm" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 missing: apt-get install -y sqlite3" >&2; exit 1; }
[ -f "$modules/smpp/package.json" ] || { echo "npm smpp missing: npm install --prefix .peers/npm smpp@0.5.1" >&2; exit 1; }
[ -f "$smsc_js" ] || { echo "SMSC peer missing: $smsc_js (set SMSC_JS)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

. scripts/relay.sh
pick_tern
# Waits up to $2 seconds for a line matching $3 in file $1.
wait_line() { for _ in $(seq $(($2 * 20))); do grep -q -m1 "$3" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
hz=$(getconf CLK_TCK)

# Starts smsc-timed.js on port $1 expecting $2 submit_sm; log to $3.log, timings to $3.err.
start_smsc() {
  SMSC_JS=$smsc_js NODE_PATH=$modules PORT=$1 EXPECT=$2 node scripts/smsc-timed.js >"$3.log" 2>"$3.err" &
  smsc_pid=$!
  wait_line "$3.err" 15 '^SMSC listening' || { echo "the SMSC did not start" >&2; cat "$3.err" >&2; exit 1; }
}
# Stops the SMSC and prints its last timing line.
stop_smsc() {
  kill -TERM "$smsc_pid" 2>/dev/null || true
  wait "$smsc_pid" 2>/dev/null || true
  grep '^{"event":"\(done\|stopped\)"' "$1.err" | head -1
}

machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.lock 2>/dev/null || echo ' (+ local changes)')
echo "machine: $machine; commit $commit; node $(node --version); M=$m, ceiling N=$ceiling_n"

# --- 1. The SMSC's ceiling: a plain client at window $1 (run just before each Tern run) ------
# Prints the SMSC's rate; the client's own report goes to stderr.
ceiling_at() {
  local port; port=$(free_port)
  start_smsc "$port" "$ceiling_n" "$work/ceiling-$2"
  local client; client=$(NODE_PATH=$modules PORT=$port COUNT=$ceiling_n WINDOW=$1 node scripts/smpp-load-client.js)
  wait_line "$work/ceiling-$2.err" 30 '"event":"done"' || true
  local timing; timing=$(stop_smsc "$work/ceiling-$2")
  echo "SMSC ceiling, window $1 (run $2): client $client; SMSC $timing" >&2
  json_field "$timing" rate
}

# --- 2. Tern, one bind, each window ----------------------------------------------------------
# Small m-send.req, one per recipient +1555012000N: insert-address From, a text/plain part.
python3 - "$work" "$recipients" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2])
text = b"Load test notification over SMPP: " + b"x" * 66
for r in range(n):
    to = b"+155501200%02d/TYPE=PLMN" % r
    # X-Mms-Message-Type send-req, Transaction-ID, Version 1.2, From insert-address, To,
    # Content-Type multipart/mixed; one part: text/plain (0x83), its data.
    part_headers = b"\x83"
    pdu = (b"\x8c\x80\x98smpp-load\x00\x8d\x92\x89\x01\x81\x97" + to + b"\x00"
           b"\x84\xa3\x01" + bytes([len(part_headers), len(text)]) + part_headers + text)
    open(f"{work}/send-{r}.mms", "wb").write(pdu)
PY

declare -A ceiling rate sent cpu_tern cpu_node note
for w in $windows; do
for r in $(seq "$repeat"); do
  k=$w.$r
  ceiling[$k]=$(ceiling_at "$w" "$k")
  dir=$work/w$k
  mkdir -p "$dir"
  smsc_port=$(free_port); mm1_port=$(free_port); admin_port=$(free_port)
  # max_attempts = 1: a notification that went out is not sent again (with the 1 s backoff it
  # would be, a second later); pushes waiting for a bind do not use attempts and are looked at
  # again after initial_backoff_secs.
  cat >"$dir/tern.toml" <<EOF
[push]
bearer = "smpp"
compact = true
notification_base_url = "http://mms"
${batch:+batch = $batch}
[push.smpp]
[[push.smpp.links]]
port = $smsc_port
window = $w
[delivery]
initial_backoff_secs = 1
max_backoff_secs = 1
max_attempts = 1
EOF
  TERN_LOG=error TERN_PUSH__BEARER=smpp TERN_MM1__LISTEN=127.0.0.1:$mm1_port \
    TERN_ADMIN__LISTEN=127.0.0.1:$admin_port TERN_STORE__DATA_DIR="$dir/data" \
    "$tern" serve --config "$dir/tern.toml" 2>"$dir/tern.err" &
  tern_pid=$!
  wait_port "$mm1_port" || { echo "tern serve did not start" >&2; cat "$dir/tern.err" >&2; exit 1; }

  # Pre-load M messages while nothing listens on the SMSC port.
  for i in $(seq 0 $((recipients - 1))); do
    n=$(( m / recipients + (i < m % recipients ? 1 : 0) ))
    [ "$n" -gt 0 ] || continue
    h2load --h1 -n "$n" -c 32 -m 1 -d "$work/send-$i.mms" \
      -H 'Content-Type: application/vnd.wap.mms-message' -H 'X-MSISDN: +15550100001' \
      "http://127.0.0.1:$mm1_port/mms" >"$dir/h2load-$i.txt"
  done
  pending=$(sqlite3 "$dir/data/tern.db" "SELECT count(*) FROM pushes WHERE state IN ('pending', 'leased')")
  [ "$pending" -eq "$m" ] || { echo "window $w: $pending pushes pending, expected $m" >&2; grep -h 'status codes' "$dir"/h2load-*.txt >&2; exit 1; }

  # Start the SMSC; Tern binds at its next reconnect attempt (backoff up to 30 s).
  start_smsc "$smsc_port" "$m" "$dir/smsc"
  wait_line "$dir/smsc.log" 60 '"event":"submit_sm"' || { echo "window $w: Tern never submitted" >&2; exit 1; }
  t0=$(cpu_ticks "$tern_pid"); n0=$(cpu_ticks "$smsc_pid"); c0=$(date +%s.%N)
  # Until M submit_sm are logged, or the log stops growing for STALL_SECS. Watching the log's
  # size rather than counting its lines keeps this loop from taking CPU the SMSC and Tern need
  # (the ceiling runs have no such loop).
  stalled=; last_size=-1; still=0
  until grep -q '"event":"done"' "$dir/smsc.err"; do
    sleep 0.2
    size=$(stat -c %s "$dir/smsc.log")
    if [ "$size" -eq "$last_size" ]; then still=$((still + 1)); else still=0; last_size=$size; fi
    if [ "$still" -ge $((stall_secs * 5)) ]; then stalled=$(grep -c '"event":"submit_sm"' "$dir/smsc.log" || true); break; fi
  done
  t1=$(cpu_ticks "$tern_pid"); n1=$(cpu_ticks "$smsc_pid")
  wall=$(python3 -c "from time import time; print(time() - $c0 - (${stalled:+$stall_secs}+0))")
  timing=$(stop_smsc "$dir/smsc")
  # SIGTERM, then SIGKILL if it has not ended within 5 s (a stalled pass may not end).
  kill -TERM "$tern_pid"
  for _ in $(seq 50); do kill -0 "$tern_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$tern_pid" 2>/dev/null || true
  wait "$tern_pid" 2>/dev/null || true

  count=$(json_field "$timing" count)
  rate[$k]=$(json_field "$timing" rate); sent[$k]=$count
  one_sms=$(grep -c '"udh":\["05040b8423f0"\]' "$dir/smsc.log" || true)
  done_pushes=$(sqlite3 "$dir/data/tern.db" "SELECT count(*) FROM pushes WHERE state = 'done'")
  cpu_tern[$k]=$(python3 -c "print(round(100 * ($t1 - $t0) / $hz / $wall))")
  cpu_node[$k]=$(python3 -c "print(round(100 * ($n1 - $n0) / $hz / $wall))")
  note[$k]=${stalled:+"stalled: no submit_sm for ${stall_secs} s after $stalled of $m"}
  echo "window $w (run $r): $timing; one-SMS submit_sm $one_sms; pushes done in the store $done_pushes;" \
       "CPU while sending: tern ${cpu_tern[$k]}%, SMSC ${cpu_node[$k]}%${note[$k]:+; ${note[$k]}}"
  rm -rf "$dir"
done
done

# --- 3. Summary ------------------------------------------------------------------------------
# Per window: each run's pair (ceiling just before, Tern), and the medians.
echo
echo "| window | run | SMSC ceiling (plain client), submit_sm/s | Tern, submit_sm/s | of the ceiling | tern CPU | SMSC CPU | notes |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for w in $windows; do
  ratios=(); ceilings=(); rates=()
  for r in $(seq "$repeat"); do
    k=$w.$r
    if [ -n "${note[$k]}" ]; then
      # A stalled run has no meaningful rate: the few submit_sm it logged came in one burst.
      printf "| %s%s | %s | %'.0f | stalled | | %s%% | %s%% | %s |\n" "$w" "${batch:+, push.batch $batch}" "$r" \
        "${ceiling[$k]}" "${cpu_tern[$k]}" "${cpu_node[$k]}" "${note[$k]}"
      ratios+=(0); rates+=(0)
    else
      ratio=$(python3 -c "print(100 * ${rate[$k]} / ${ceiling[$k]})")
      printf "| %s%s | %s | %'.0f | %'.0f | %.0f%% | %s%% | %s%% | %s of %s notifications |\n" "$w" \
        "${batch:+, push.batch $batch}" "$r" "${ceiling[$k]}" "${rate[$k]}" "$ratio" \
        "${cpu_tern[$k]}" "${cpu_node[$k]}" "${sent[$k]}" "$m"
      ratios+=("$ratio"); rates+=("${rate[$k]}")
    fi
    ceilings+=("${ceiling[$k]}")
  done
  median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }
  printf "| **%s** | median | %'.0f | %'.0f | %.0f%% | | | |\n" "$w" "$(median "${ceilings[@]}")" \
    "$(median "${rates[@]}")" "$(median "${ratios[@]}")"
done
