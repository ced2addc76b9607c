#!/usr/bin/env bash
# End-to-end load with Tern's own handset simulator: a release `tern serve` on embedded defaults
# (scratch data directory; `[push] bearer = "udp"` to the load generator's socket) and
# `tern ue load --retrieve`, which submits at each RATE for DURATION seconds from 1,000 handsets,
# one recipient each, SIZE octets of text, and is every recipient too: it takes each push,
# retrieves the message and answers m-notifyresp.ind. A fresh relay for each rate. Prints one
# Markdown table row per rate.
# With BEARER=smpp the pushes go by SMPP to the SMSC peer `shared/peers/smsc.js` (npm smpp
# 0.5.1) instead, through `scripts/smsc-forward.js`, which puts each push's SMS segments back
# together and hands the push to the load generator over UDP, as the air would.
# usage: scripts/bench-ue-load.sh [DURATION] [SIZE]      (RATES="100 500 1000 2000" to choose)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
size=${2:-1000}
rates=${RATES:-100 500 1000 2000}
bearer=${BEARER:-udp}
modules=$PWD/.peers/npm/node_modules
smsc_js=${SMSC_JS:-$(cd .. && pwd)/shared/peers/smsc.js}
command -v sqlite3 >/dev/null || { echo "sqlite3 missing: apt-get install -y sqlite3" >&2; exit 1; }
if [ "$bearer" = smpp ]; then
  command -v node >/dev/null || { echo "node missing: apt-get install -y nodejs npm" >&2; exit 1; }
  [ -f "$modules/smpp/package.json" ] || { echo "npm smpp missing: npm install --prefix .peers/npm smpp@0.5.1" >&2; exit 1; }
  [ -f "$smsc_js" ] || { echo "SMSC peer missing: $smsc_js (set SMSC_JS)" >&2; exit 1; }
fi
cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
. scripts/relay.sh
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]);
for k in sys.argv[2].split("."): v = v[k] if v is not None else None
print("" if v is None else (round(v, 1) if isinstance(v, float) else v))' "$1" "$2"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//');" \
     "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.lock 2>/dev/null || echo ' (+ local changes)');" \
     "duration ${duration} s, ${size} octets of text, one recipient, pushes by $bearer"
echo
echo "| rate asked /s | achieved /s | accepted | send p50 / p90 / p99 / max ms | retrieved | end-to-end p50 / p90 / p99 / max ms | other outcomes |"
echo "| ---: | ---: | ---: | --- | ---: | --- | --- |"
for rate in $rates; do
  dir=$work/r$rate
  mm1=$(free_port); admin=$(free_port); udp=$(free_port udp)
  mkdir -p "$dir"
  : >"$dir/tern.toml"
  if [ "$bearer" = smpp ]; then
    smsc=$(free_port)
    SMSC_JS=$smsc_js NODE_PATH=$modules PORT=$smsc UE_UDP=127.0.0.1:$udp node scripts/smsc-forward.js \
      >"$work/smsc-$rate.log" 2>"$work/smsc-$rate.err" &
    smsc_pid=$!
    wait_port "$smsc" || { echo "the SMSC did not start" >&2; cat "$work/smsc-$rate.err" >&2; exit 1; }
    printf '[push.smpp]\n[[push.smpp.links]]\nport = %s\n' "$smsc" >"$dir/tern.toml"
  fi
  TERN_LOG=error TERN_PUSH__BEARER=$bearer TERN_PUSH__UDP_TARGET=127.0.0.1:$udp \
    TERN_MM1__LISTEN=127.0.0.1:$mm1 TERN_MM1__PUBLIC_BASE_URL=http://127.0.0.1:$mm1 \
    TERN_ADMIN__LISTEN=127.0.0.1:$admin TERN_STORE__DATA_DIR="$dir/data" \
    ./target/release/tern serve --config "$dir/tern.toml" 2>"$work/tern-$rate.err" &
  tern_pid=$!
  wait_port "$mm1" || { echo "tern serve did not start" >&2; cat "$work/tern-$rate.err" >&2; exit 1; }
  s=$(./target/release/tern ue load --json --relay "http://127.0.0.1:$mm1/mms" --rate "$rate" \
        --duration "$duration" --size "$size" --retrieve "127.0.0.1:$udp" || true)
  kill -TERM "$tern_pid"; wait "$tern_pid" 2>/dev/null || true
  if [ "$bearer" = smpp ]; then kill "$smsc_pid"; wait "$smsc_pid" 2>/dev/null || true; fi
  [ -n "$s" ] || { echo "| $rate | no summary | | | | | |"; continue; }
  send="$(field "$s" send_latency.p50_ms) / $(field "$s" send_latency.p90_ms) / $(field "$s" send_latency.p99_ms) / $(field "$s" send_latency.max_ms)"
  e2e="$(field "$s" end_to_end_latency.p50_ms) / $(field "$s" end_to_end_latency.p90_ms) / $(field "$s" end_to_end_latency.p99_ms) / $(field "$s" end_to_end_latency.max_ms)"
  other=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]);
o=[f"send {k}: {n}" for k,n in s["answers"].items() if k!="ok"]+[f"retrieve {k}: {n}" for k,n in s.get("retrievals",{}).items() if k!="ok"]
print(", ".join(o) or "none")' "$s")
  echo "| $rate | $(field "$s" rate_achieved) | $(field "$s" accepted) | $send | $(field "$s" retrieved) of $(field "$s" expected_retrievals) | $e2e | $other |"
done
