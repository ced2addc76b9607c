#!/usr/bin/env bash
# End-to-end load with Tern's own handset simulator: a release `tern serve` on embedded defaults
# (scratch data directory; `[push] bearer = "udp"` to the load generator's socket) and
# `tern ue load --retrieve`, which submits at each RATE for DURATION seconds from 1,000 handsets,
# one recipient each, SIZE octets of text, and is every recipient too: it takes each push,
# retrieves the message and answers m-notifyresp.ind. A fresh relay for each rate. Prints one
# Markdown table row per rate.
# usage: scripts/bench-ue-load.sh [DURATION] [SIZE]      (RATES="100 500 1000 2000" to choose)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
size=${2:-1000}
rates=${RATES:-100 500 1000 2000}
command -v sqlite3 >/dev/null || { echo "sqlite3 missing: apt-get install -y sqlite3" >&2; exit 1; }
cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, getattr(socket, sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]);
for k in sys.argv[2].split("."): v = v[k] if v is not None else None
print("" if v is None else (round(v, 1) if isinstance(v, float) else v))' "$1" "$2"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//');" \
     "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.lock 2>/dev/null || echo ' (+ local changes)');" \
     "duration ${duration} s, ${size} octets of text, one recipient"
echo
echo "| rate asked /s | achieved /s | accepted | send p50 / p90 / p99 / max ms | retrieved | end-to-end p50 / p90 / p99 / max ms | other outcomes |"
echo "| ---: | ---: | ---: | --- | ---: | --- | --- |"
for rate in $rates; do
  dir=$work/r$rate
  mm1=$(free_port SOCK_STREAM); admin=$(free_port SOCK_STREAM); udp=$(free_port SOCK_DGRAM)
  TERN_LOG=error TERN_PUSH__BEARER=udp TERN_PUSH__UDP_TARGET=127.0.0.1:$udp \
    TERN_MM1__LISTEN=127.0.0.1:$mm1 TERN_MM1__PUBLIC_BASE_URL=http://127.0.0.1:$mm1 \
    TERN_ADMIN__LISTEN=127.0.0.1:$admin TERN_STORE__DATA_DIR="$dir" \
    ./target/release/tern serve 2>"$work/tern-$rate.err" &
  tern_pid=$!
  wait_port "$mm1" || { echo "tern serve did not start" >&2; cat "$work/tern-$rate.err" >&2; exit 1; }
  s=$(./target/release/tern ue load --json --relay "http://127.0.0.1:$mm1/mms" --rate "$rate" \
        --duration "$duration" --size "$size" --retrieve "127.0.0.1:$udp" || true)
  kill -TERM "$tern_pid"; wait "$tern_pid" 2>/dev/null || true
  [ -n "$s" ] || { echo "| $rate | no summary | | | | | |"; continue; }
  send="$(field "$s" send_latency.p50_ms) / $(field "$s" send_latency.p90_ms) / $(field "$s" send_latency.p99_ms) / $(field "$s" send_latency.max_ms)"
  e2e="$(field "$s" end_to_end_latency.p50_ms) / $(field "$s" end_to_end_latency.p90_ms) / $(field "$s" end_to_end_latency.p99_ms) / $(field "$s" end_to_end_latency.max_ms)"
  other=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]);
o=[f"send {k}: {n}" for k,n in s["answers"].items() if k!="ok"]+[f"retrieve {k}: {n}" for k,n in s.get("retrievals",{}).items() if k!="ok"]
print(", ".join(o) or "none")' "$s")
  echo "| $rate | $(field "$s" rate_achieved) | $(field "$s" accepted) | $send | $(field "$s" retrieved) of $(field "$s" expected_retrievals) | $e2e | $other |"
done
