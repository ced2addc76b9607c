#!/usr/bin/env bash
# The MO rate with a small and with a large store, side by side: two data directories are filled
# through the relay (1 KB m-send.req from 256 connections, one local recipient each, whose
# notification waits: no bearer), SMALL and LARGE messages. Then for each round, a relay on each
# in turn takes 30 KB m-send.req from h2load (64 connections, SECS seconds after a second of
# warm-up). The small directory is put back as filled before each of its runs, so that it stays
# small; the large one keeps what the runs add. On a shared machine whose speed moves from minute
# to minute, runs taken in turn compare the two better than one run of each at different times.
# Before each run, PRIME_MB (3072, more than a run writes) of page cache is filled from a scratch
# file and dropped again (scripts/fresh-memory.py): each run writes its bodies into freshly freed
# memory. Without it the comparison is unfair on a virtual machine: putting the small directory
# back frees the memory its last run wrote, while the large one's writes took memory the guest
# had not touched (and the host had to provide first), which measured as a quarter slower with
# the store's size playing no part. With 1 GiB the large store was still 81% of the small.
# Prints each run (rate and the relay's CPU per acceptance) and the medians.
# usage: scripts/bench-scale.sh ROUNDS [SMALL] [LARGE]   (defaults 10000 1000000; SECS=5, PRIME_MB=3072)
set -euo pipefail
rounds=$1
small=${2:-10000}
large=${3:-1000000}
secs=${SECS:-5}
prime_mb=${PRIME_MB:-3072}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v h2load >/dev/null || { echo "h2load missing: apt-get install -y nghttp2-client" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 missing: apt-get install -y sqlite3" >&2; exit 1; }
(cd "$root" && cargo build --release --quiet -p tern)
bin=$root/target/release/tern
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
. "$root/scripts/relay.sh"
hz=$(getconf CLK_TCK)
mms=(-H 'Content-Type: application/vnd.wap.mms-message' -H 'X-MSISDN: +15550100001')
"$root/scripts/send-req.py" 1024 "$work/send-1.mms"
"$root/scripts/send-req.py" 30720 "$work/send-30.mms"

stored() { sqlite3 "$1/tern.db" 'SELECT count(*) FROM messages'; }

for size in "$small" "$large"; do
  start_tern "$bin" "$work/data-$size"
  h2load --h1 -m 1 -n "$size" -c 256 -d "$work/send-1.mms" "${mms[@]}" "http://127.0.0.1:$tern_port/mms" >/dev/null
  stop_tern
  echo "filled: $(stored "$work/data-$size") messages, $(du -sh "$work/data-$size" | cut -f1)"
done
cp -a "$work/data-$small" "$work/pristine"

for round in $(seq "$rounds"); do
  for size in "$small" "$large"; do
    if [ "$size" = "$small" ]; then rm -rf "$work/data-$small"; cp -a "$work/pristine" "$work/data-$small"; fi
    before_count=$(stored "$work/data-$size")
    sync  # what the fill and the last run wrote is on disk before this run starts
    "$root/scripts/fresh-memory.py" "$work/scratch" "$prime_mb"
    start_tern "$bin" "$work/data-$size"
    before=$(cpu_ticks "$tern_pid")
    h2load --h1 -m 1 -D "$secs" --warm-up-time 1 -c 64 -d "$work/send-30.mms" "${mms[@]}" \
      "http://127.0.0.1:$tern_port/mms" >"$work/out"
    after=$(cpu_ticks "$tern_pid")
    stop_tern
    rate=$(sed -n 's/.*finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$work/out")
    ok=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' "$work/out")
    echo "$round $size $before_count $rate $(python3 -c "print(round(($after - $before) / $hz * 1e6 / max($ok, 1)))")" |
      tee -a "$work/runs"
  done
done
python3 - "$work/runs" "$small" "$large" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for size in sys.argv[2:]:
    mine = [r for r in rows if r[1] == size]
    med[size] = statistics.median(float(r[3]) for r in mine)
    cpu = statistics.median(float(r[4]) for r in mine)
    print(f"{int(size):,} stored: median {med[size]:,.0f} accepted/s, {cpu:.0f} µs of CPU per acceptance")
print(f"large / small: {med[sys.argv[3]] / med[sys.argv[2]] * 100:.0f}%")
EOF
