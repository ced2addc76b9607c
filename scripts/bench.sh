#!/usr/bin/env bash
# The whole relay against the machine's own ceilings, each measured next to its ceiling in the
# same run (see "The whole relay against its ceilings" in docs/BENCHMARKS.md). Builds `tern` and
# the ceilings (crates/bench) in release mode; the load tool is h2load (nghttp2-client) unless a
# row says otherwise. Appends a dated section with the machine, the commit, the commands, the
# table and the targets to docs/BENCHMARKS.md (WRITE=0: print it only).
#
# usage: scripts/bench.sh
#   SECS=8         seconds of each saturation run (h2load -D, after a 1 s warm-up)
#   REPEAT=1       pairs (relay, then its ceilings) per saturation row
#   FILL=2000      messages stored before the retrieval rows
#   FIRST_30=30000, FIRST_300=10000
#                  fresh messages fetched once each in the first-retrieval rows
#   SCALE=1        adds the store-scale rows (fills to 10k, 100k, 1M messages; about 5 minutes or
#                  more); SCALE_LEVELS="10000 100000 1000000" to choose the sizes. Each level's MO
#                  run starts in freshly freed page cache. Then scripts/bench-scale.sh compares
#                  10k and 1M stored in turn, SCALE_ROUNDS=3 rounds (about 6 minutes more): the
#                  target's measure
#   E2E=0          leaves out the end-to-end rows (scripts/bench-ue-load.sh, pushes by SMPP through
#                  the SMSC peer, then by UDP; E2E_RATE=1000, 30 KB)
#   SMPP=0         leaves out the SMPP row (scripts/bench-smpp.sh at window 10, beside the SMSC
#                  peer's own rate)
#   MM7=0          leaves out the MM7 row (scripts/bench-mm7.sh) beside the HTTP ceiling
#   MM4=0          leaves out the MM4 row (scripts/bench-mm4.sh: two relays, forwards A to B)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECS:-8}
repeat=${REPEAT:-1}
fill=${FILL:-2000}
for tool in h2load sqlite3 python3; do
  command -v "$tool" >/dev/null || { echo "$tool missing (apt-get install -y nghttp2-client sqlite3 python3)" >&2; exit 1; }
done
cargo build --release --quiet -p tern -p tern-bench
bin=./target/release
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
started=$(date +%s)
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

rows=$work/rows.md        # the table: measurement | Tern | ceiling | ratio
cmds=$work/commands.md    # every command the table comes from
: >"$rows"; : >"$cmds"
declare -A result         # values the targets are checked against

. scripts/relay.sh
row() { echo "| $* |" >>"$rows"; }
cmd() { echo "    $*" >>"$cmds"; }
calc() { python3 -c "print($1)"; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{100*a/b:.0f}%' if b else 'n/a')" "$1" "$2"; }
fmt() { python3 -c "import sys; v=float(sys.argv[1]); print(f'{v:,.0f}' if v>=100 else f'{v:.1f}')" "$1"; }
rss_mb() { awk -v k="$2" '$1==k":" {printf "%.1f", $2/1024}' "/proc/$1/status"; }
# Resets the process's peak RSS (VmHWM) so that each load's peak is its own.
reset_peak() { echo 5 >"/proc/$1/clear_refs"; }

# An m-send.req with one local recipient and one image/jpeg part of $1 octets.
send_req() { scripts/send-req.py "$1" "$2"; }

# h2load's summary as "req_per_s succeeded answer_octets" (answer octets: body data per request,
# right only without a warm-up). Its --log-file appends, so any old one goes first.
h2() {
  local out; rm -f "$work/lat.log"; out=$(h2load --h1 -m 1 "$@")
  python3 - "$out" <<'PY'
import re, sys
s = sys.argv[1]
rate = float(re.search(r"finished in [^,]+, ([\d.]+) req/s", s).group(1))
ok = int(re.search(r"(\d+) succeeded", s).group(1))
data = int(re.search(r"traffic: .*?\((\d+)\) data", s).group(1))
print(rate, ok, data // max(ok, 1))
PY
}

# p50 and p99 in ms of an h2load --log-file (start µs, status, duration µs per request).
percentiles() {
  python3 - "$1" <<'PY'
import sys
d = sorted(int(l.split()[2]) for l in open(sys.argv[1]) if l.strip())
pick = lambda q: d[min(len(d) - 1, int(q * len(d)))] / 1000
print(f"{pick(0.50):.1f} {pick(0.99):.1f} {len(d)}")
PY
}

ceiling_pid=""
ceiling_port=""
start_ceiling() {  # answer octets
  ceiling_port=$(free_port)
  "$bin/http-ceiling" --listen "127.0.0.1:$ceiling_port" --answer-bytes "$1" &
  ceiling_pid=$!
  wait_port "$ceiling_port"
}
stop_ceiling() { kill "$ceiling_pid"; wait "$ceiling_pid" 2>/dev/null || true; }
stored() { sqlite3 "$1/tern.db" 'SELECT count(*) FROM messages'; }
# Before each measured run: what earlier rows and fills wrote is on disk, so that the kernel's
# writeback of it does not take the cores from the run (a fill of 300 KB bodies leaves 600 MB
# to write; the retrieval row right after it measured 47% of the ceiling without this).
settle() { sync; }
mms=(-H 'Content-Type: application/vnd.wap.mms-message' -H 'X-MSISDN: +15550100001')
cmd "cargo build --release -p tern -p tern-bench"

# ---- MO: saturation, each size next to the HTTP and storage ceilings; then latency at 1,000/s.
for size in 1024 30720 307200; do
  kb=$((size / 1024))
  send_req "$size" "$work/send-$kb.mms"
  body=$(stat -c %s "$work/send-$kb.mms")
  data="$work/mo-$kb"
  start_tern "$bin/tern" "$data"
  sleep 1
  if [ "$kb" = 1 ]; then
    result[idle_rss]=$(rss_mb "$tern_pid" VmRSS)
    row "Idle RSS (fresh \`tern serve\`, 1 s after start) | ${result[idle_rss]} MB | | | /proc/PID/status VmRSS"
  fi
  # The answer's size, for the ceiling, from one request of its own (h2load's byte counts
  # include its warm-up, its request counts do not).
  answer=$(curl -s -o /dev/null -w '%{size_download}' -H 'Expect:' --data-binary "@$work/send-$kb.mms" "${mms[@]}" \
    "http://127.0.0.1:$tern_port/mms")
  for r in $(seq "$repeat"); do
    settle
    reset_peak "$tern_pid"
    read -r t_rate _ _ < <(h2 -D "$secs" --warm-up-time 1 -c 64 -d "$work/send-$kb.mms" "${mms[@]}" "http://127.0.0.1:$tern_port/mms")
    peak=$(rss_mb "$tern_pid" VmHWM)
    settle
    start_ceiling "$answer"
    read -r c_rate _ _ < <(h2 -D "$secs" --warm-up-time 1 -c 64 -d "$work/send-$kb.mms" "http://127.0.0.1:$ceiling_port/mms")
    stop_ceiling
    settle
    s_rate=$("$bin/storage-ceiling" --dir "$work/storage" --size "$body" --batch 64 --seconds 5 |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["per_sec"])')
    rm -rf "$work/storage"
    low=$(calc "min($c_rate, $s_rate)")
    row "MO ${kb} KB ($body-octet m-send.req), 64 conn., accepted/s, run $r | $(fmt "$t_rate") | HTTP $(fmt "$c_rate"); storage $(fmt "$s_rate") | $(ratio "$t_rate" "$low") of the lower | answer $answer octets; peak RSS $peak MB"
    result[mo_$kb]=$(ratio "$t_rate" "$low")
    result[storage_$kb]=$s_rate
    result[peak_mo_$kb]=$peak
  done
  count=$(stored "$data")
  stop_tern
  bytes=$(du -sb "$data" | cut -f1)
  row "Disk per stored message, MO ${kb} KB | $(fmt "$(calc "$bytes / $count")") octets | body $body octets | $(ratio "$(calc "$bytes / $count")" "$body") of the body | du -sb of the data directory over $count messages"
  # Latency at 1,000/s offered: 10 connections at 100/s each, a fresh relay.
  settle
  start_tern "$bin/tern" "$data-rate"
  h2 -n 10000 -c 10 --rps 100 -d "$work/send-$kb.mms" "${mms[@]}" --log-file "$work/lat.log" \
    "http://127.0.0.1:$tern_port/mms" >/dev/null
  read -r t50 t99 tn < <(percentiles "$work/lat.log")
  stop_tern
  start_ceiling "$answer"
  h2 -n 10000 -c 10 --rps 100 -d "$work/send-$kb.mms" --log-file "$work/lat.log" "http://127.0.0.1:$ceiling_port/mms" >/dev/null
  read -r c50 c99 _ < <(percentiles "$work/lat.log")
  stop_ceiling
  row "MO ${kb} KB at 1,000/s offered (10 conn. x 100/s), p50 / p99 | $t50 / $t99 ms | HTTP $c50 / $c99 ms | | $tn requests"
  result[p99_$kb]=$t99
  rm -rf "$data" "$data-rate"
  cmd "h2load --h1 -m 1 -D $secs --warm-up-time 1 -c 64 -d send-$kb.mms -H 'Content-Type: application/vnd.wap.mms-message' -H 'X-MSISDN: +15550100001' http://127.0.0.1:PORT/mms   # tern, then http-ceiling --answer-bytes <tern's answer>"
  cmd "storage-ceiling --dir DIR --size $body --batch 64 --seconds 5"
  cmd "h2load --h1 -m 1 -n 10000 -c 10 --rps 100 --log-file lat.log -d send-$kb.mms ... http://127.0.0.1:PORT/mms   # tern, then http-ceiling"
done

# ---- Retrieval: FILL stored messages, h2load GETs spread over their retrieval URLs.
for size in 30720 307200; do
  kb=$((size / 1024))
  data="$work/rt-$kb"
  start_tern "$bin/tern" "$data"
  h2 -n "$fill" -c 64 -d "$work/send-$kb.mms" "${mms[@]}" "http://127.0.0.1:$tern_port/mms" >/dev/null
  sqlite3 "$data/tern.db" 'SELECT token FROM recipients WHERE token IS NOT NULL' |
    sed "s|^|http://127.0.0.1:$tern_port/m/|" >"$work/uris"
  answer=$(curl -s -o /dev/null -w '%{size_download}' "$(head -1 "$work/uris")")
  for r in $(seq "$repeat"); do
    settle
    reset_peak "$tern_pid"
    read -r t_rate _ _ < <(h2 -D "$secs" --warm-up-time 1 -c 16 -i "$work/uris")
    peak=$(rss_mb "$tern_pid" VmHWM)
    settle
    start_ceiling "$answer"
    read -r c_rate _ _ < <(h2 -D "$secs" --warm-up-time 1 -c 16 "http://127.0.0.1:$ceiling_port/m/x")
    stop_ceiling
    t_mb=$(calc "$t_rate * $answer / 1e6"); c_mb=$(calc "$c_rate * $answer / 1e6")
    row "Retrieval ${kb} KB (answer $answer octets), 16 conn., $fill messages, run $r | $(fmt "$t_rate")/s, $(fmt "$t_mb") MB/s | HTTP $(fmt "$c_rate")/s, $(fmt "$c_mb") MB/s | $(ratio "$t_mb" "$c_mb") | peak RSS $peak MB"
    result[rt_$kb]=$(ratio "$t_mb" "$c_mb")
    result[peak_rt_$kb]=$peak
  done
  # First retrievals: in the runs above every h2load client walks the same list, so all but
  # the first GET of each message are repeats, which record nothing. Here each of FIRST_N fresh
  # messages is fetched once (16 h2load processes of one connection, each on its own share of
  # the tokens), so every GET also records its recipient's move to retrieved.
  first=$([ "$kb" = 30 ] && echo "${FIRST_30:-30000}" || echo "${FIRST_300:-10000}")
  h2 -n "$first" -c 64 -d "$work/send-$kb.mms" "${mms[@]}" "http://127.0.0.1:$tern_port/mms" >/dev/null
  sqlite3 "$data/tern.db" "SELECT token FROM recipients WHERE state IN ('accepted', 'notified')" |
    sed "s|^|http://127.0.0.1:$tern_port/m/|" >"$work/fresh"
  rm -f "$work"/fresh.??*
  split -n r/16 -d "$work/fresh" "$work/fresh."
  settle
  reset_peak "$tern_pid"
  loaders=()
  t0=$(date +%s.%N)
  for part in "$work"/fresh.??; do
    h2load --h1 -m 1 -c 1 -n "$(wc -l <"$part")" -i "$part" >"$part.out" &
    loaders+=($!)
  done
  wait "${loaders[@]}"
  t1=$(date +%s.%N)
  ok=$(cat "$work"/fresh.*.out | sed -n 's/.* \([0-9]*\) succeeded.*/\1/p' | paste -sd+ | bc)
  sleep 1  # the retrievals' records are queued, not waited for: let the last commit land
  retrieved=$(sqlite3 "$data/tern.db" "SELECT count(*) FROM recipients WHERE state = 'retrieved'")
  f_rate=$(calc "$ok / ($t1 - $t0)")
  f_mb=$(calc "$f_rate * $answer / 1e6")
  result[peak_first_$kb]=$(rss_mb "$tern_pid" VmHWM)
  row "First retrievals ${kb} KB, 16 conn., each of $ok fresh messages once | $(fmt "$f_rate")/s, $(fmt "$f_mb") MB/s | HTTP $(fmt "$c_rate")/s, $(fmt "$c_mb") MB/s (above) | $(ratio "$f_mb" "$c_mb") | $retrieved recipients retrieved afterwards; peak RSS ${result[peak_first_$kb]} MB"
  stop_tern
  rm -rf "$data"
  cmd "h2load --h1 -m 1 -n $fill -c 64 -d send-$kb.mms ... http://127.0.0.1:PORT/mms   # the fill"
  cmd "h2load --h1 -m 1 -D $secs --warm-up-time 1 -c 16 -i uris   # uris: http://127.0.0.1:PORT/m/<token> for every token in recipients; then http-ceiling --answer-bytes <tern's answer>"
  cmd "h2load --h1 -m 1 -n $first -c 64 -d send-$kb.mms ...; then 16 x h2load --h1 -m 1 -c 1 -n <its share> -i <its share of the fresh tokens>, at once"
done

# ---- Store scale: the MO rate (30 KB) and retrieval latency with N messages already stored.
if [ "${SCALE:-0}" = 1 ]; then
  data="$work/scale"
  start_tern "$bin/tern" "$data"
  have=0
  for level in ${SCALE_LEVELS:-10000 100000 1000000}; do
    # The fast fill: 1 KB submissions from 256 connections, through the whole relay (no rows
    # are written behind its back), each with one local recipient whose notification waits.
    [ "$level" -gt "$have" ] && h2 -n $((level - have)) -c 256 -d "$work/send-1.mms" "${mms[@]}" \
      "http://127.0.0.1:$tern_port/mms" >/dev/null
    have=$(stored "$data")
    # The fill took memory the machine had not used before, which a virtual machine's host must
    # first provide; bodies written there cost a quarter more (see scripts/bench-scale.sh).
    # 3 GiB of page cache filled and dropped gives each level's run the same start.
    settle
    scripts/fresh-memory.py "$work/scratch" 3072
    read -r t_rate _ _ < <(h2 -D "$secs" --warm-up-time 1 -c 64 -d "$work/send-30.mms" "${mms[@]}" "http://127.0.0.1:$tern_port/mms")
    s_rate=$("$bin/storage-ceiling" --dir "$work/storage" --size 30767 --batch 64 --seconds 5 |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["per_sec"])')
    rm -rf "$work/storage"
    sqlite3 "$data/tern.db" 'SELECT token FROM recipients WHERE token IS NOT NULL ORDER BY random() LIMIT 2000' |
      sed "s|^|http://127.0.0.1:$tern_port/m/|" >"$work/uris"
    h2 -n 5000 -c 5 --rps 100 -i "$work/uris" --log-file "$work/lat.log" >/dev/null
    read -r r50 r99 _ < <(percentiles "$work/lat.log")
    bytes=$(du -sb "$data" | cut -f1)
    row "Store with $(fmt "$have") messages: MO 30 KB accepted/s; retrieval at 500/s p50 / p99 | $(fmt "$t_rate")/s; $r50 / $r99 ms | storage $(fmt "$s_rate")/s | $(ratio "$t_rate" "$s_rate") of storage | data directory $(calc "round($bytes / 1e9, 2)") GB; RSS $(rss_mb "$tern_pid" VmRSS) MB"
    have=$(stored "$data")
  done
  stop_tern
  rm -rf "$data"
  cmd "SCALE=1: fill with h2load --h1 -m 1 -n <to the level> -c 256 -d send-1.mms ...; then the MO 30 KB run above; h2load -n 5000 -c 5 --rps 100 -i <2,000 random tokens> --log-file lat.log"
  # The target's measure. The levels above are minutes apart, and the machine's writes change
  # speed in between (the storage ceiling beside each shows by how much), so the two sizes are
  # compared again in turn, each run in freshly freed memory, and the medians taken.
  rounds=${SCALE_ROUNDS:-3}
  scripts/bench-scale.sh "$rounds" 10000 1000000 >"$work/scale.out"
  read -r small_rate small_cpu large_rate large_cpu large_have < <(python3 - "$work/scale.out" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
# Each run's line: round, size, messages stored at its start, rate, CPU per acceptance.
runs = re.findall(r"^\d+ (\d+) (\d+) [\d.]+ \d+$", text, re.M)
(sr, sc), (lr, lc) = re.findall(r"^[\d,]+ stored: median ([\d,]+) accepted/s, (\d+) µs", text, re.M)
print(sr.replace(",", ""), sc, lr.replace(",", ""), lc, max(int(n) for size, n in runs if size == "1000000"))
EOF
  )
  row "MO 30 KB with 1,000,000 stored ($(fmt "$large_have") at the start of the last run) and with 10,000, in turn, $rounds rounds: median accepted/s; CPU per acceptance | $(fmt "$large_rate")/s; $large_cpu µs | with 10,000: $(fmt "$small_rate")/s; $small_cpu µs | $(ratio "$large_rate" "$small_rate") | scripts/bench-scale.sh, each run in freshly freed page cache"
  result[scale_1000000]=$large_rate
  result[scale_10000]=$small_rate
  cmd "scripts/bench-scale.sh $rounds 10000 1000000"
fi

# ---- End to end: tern ue load (send, push, retrieval, m-notifyresp.ind) at a fixed rate.
# The push goes by SMPP through the SMSC peer (which hands it on to the load generator), then
# straight over UDP for comparison.
if [ "${E2E:-1}" = 1 ]; then
  for bearer in smpp udp; do
    line=$(BEARER=$bearer RATES=${E2E_RATE:-1000} scripts/bench-ue-load.sh 10 30720 | tail -1)
    python3 - "$line" "$bearer" >>"$rows" <<'PY'
import sys
c = [x.strip() for x in sys.argv[1].strip("|").split("|")]
how = {"smpp": "SMPP push through the SMSC peer", "udp": "UDP push"}[sys.argv[2]]
print(f"| End to end, 30 KB text, {c[0]}/s asked for 10 s (`tern ue load --retrieve`, {how}): send p50 / p90 / p99 / max; end to end | {c[3]} ms; {c[5]} ms | | | achieved {c[1]}/s, retrieved {c[4]}, other: {c[6]} |")
PY
    cmd "BEARER=$bearer RATES=${E2E_RATE:-1000} scripts/bench-ue-load.sh 10 30720"
  done
fi

# ---- Notifications over SMPP: one bind at the default window (10), next to the SMSC peer's own
# rate with a plain client at the same window, measured just before (scripts/bench-smpp.sh).
if [ "${SMPP:-1}" = 1 ]; then
  line=$(WINDOWS=10 REPEAT=1 TERN=$bin/tern scripts/bench-smpp.sh 20000 20000 | grep '^| 10 | 1 |')
  python3 - "$line" >>"$rows" <<'PY'
import sys
# window | run | the SMSC's rate | Tern's (or "stalled") | share | relay CPU | SMSC CPU | notes
c = [x.strip() for x in sys.argv[1].strip("|").split("|")]
num = lambda v: f"{float(v):,.0f}" if v.replace(".", "").isdigit() else v
print(f"| Notifications over SMPP to the SMSC peer (20000 pushes waiting, one bind, window 10), submit_sm/s | {num(c[3])} | SMSC {num(c[2])} (plain npm smpp client) | {c[4]} | {c[7]}; CPU while sending: relay {c[5]}, SMSC {c[6]} |")
PY
  cmd "WINDOWS=10 REPEAT=1 scripts/bench-smpp.sh 20000 20000   # the SMSC's own rate with a plain client, then Tern's"
fi

# ---- MM7 submissions (30 KB attachment) next to the HTTP ceiling with a body of the same size.
if [ "${MM7:-1}" = 1 ]; then
  out=$(scripts/bench-mm7.sh 20000 64)
  t_rate=$(echo "$out" | sed -n 's/.*finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p')
  octets=$(echo "$out" | sed -n 's/.*request \([0-9]*\) octets.*/\1/p')
  answer=$(echo "$out" | python3 -c 'import re,sys; s=sys.stdin.read(); print(int(re.search(r"\((\d+)\) data", s).group(1)) // int(re.search(r"(\d+) succeeded", s).group(1)))')
  head -c "$octets" /dev/zero >"$work/mm7.bin"
  start_ceiling "$answer"
  read -r c_rate _ _ < <(h2 -n 20000 -c 64 -d "$work/mm7.bin" "http://127.0.0.1:$ceiling_port/mm7")
  stop_ceiling
  row "MM7 SubmitReq ($octets octets, 30 KB base64 attachment), 64 conn., accepted/s | $(fmt "$t_rate") | HTTP $(fmt "$c_rate") | $(ratio "$t_rate" "$c_rate") | answer $answer octets; includes the Argon2 start"
  cmd "scripts/bench-mm7.sh 20000 64; h2load --h1 -m 1 -n 20000 -c 64 -d <$octets octets> http://127.0.0.1:PORT/mm7   # http-ceiling --answer-bytes $answer"
fi

# ---- MM4 between two relays (30 KB), next to the storage ceiling of the MO 30 KB row: the
# receiving relay stores every forward durably, as MO does.
if [ "${MM4:-1}" = 1 ]; then
  line=$(scripts/bench-mm4.sh 20000 64 | tail -1)
  python3 - "$line" "${result[storage_30]}" >>"$rows" <<'PY'
import sys
c = [x.strip() for x in sys.argv[1].strip("|").split("|")]
s = float(sys.argv[2])
print(f"| MM4 forwards A to B ({c[0]} m-send.req of 30 KB to A over MM1, 64 conn.), stored by B per second | {float(c[2]):,.0f} | storage {s:,.0f} (MO 30 KB row) | {100 * float(c[2]) / s:.0f}% of storage | all {c[4]} at B after {c[3]} s; A's jobs: {c[5]}; MO into A {float(c[1]):,.0f}/s |")
PY
  cmd "scripts/bench-mm4.sh 20000 64   # two relays, A routes +1556 to B over MM4 (SMTP on loopback)"
fi

# ---- The section.
peak=0
for k in "${!result[@]}"; do
  case $k in peak_*) peak=$(calc "max($peak, ${result[$k]})") ;; esac
done
verdict() { python3 -c "print('met' if $1 else 'not met')"; }
pct() { echo "${1%\%}"; }
{
  echo
  echo "### Run of $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.lock || echo ' (+ local changes)')"
  echo
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(rustc --version | cut -d' ' -f1-2), release build;" \
    "load average at the start $load_at_start; $(h2load --version | head -1); $((($(date +%s) - started) / 60)) min." \
    "Load tool, relay and ceilings share the cores."
  echo
  echo "| measurement | Tern | ceiling (same run) | Tern / ceiling | notes |"
  echo "| --- | ---: | ---: | ---: | --- |"
  cat "$rows"
  echo
  echo "| target | result | holds |"
  echo "| --- | --- | --- |"
  echo "| MO 30 KB ≥ 50% of the lower of the HTTP and storage ceilings | ${result[mo_30]} | $(verdict "$(pct "${result[mo_30]}") >= 50") |"
  echo "| MO 30 KB p99 < 20 ms at 1,000/s offered | ${result[p99_30]} ms | $(verdict "${result[p99_30]} < 20") |"
  echo "| Retrieval 300 KB ≥ 70% of the HTTP ceiling's MB/s | ${result[rt_300]} | $(verdict "$(pct "${result[rt_300]}") >= 70") |"
  echo "| Idle RSS < 30 MB | ${result[idle_rss]} MB | $(verdict "${result[idle_rss]} < 30") |"
  echo "| RSS under load < 200 MB | highest peak $peak MB | $(verdict "$peak < 200") |"
  if [ -n "${result[scale_1000000]:-}" ] && [ -n "${result[scale_10000]:-}" ]; then
    echo "| MO rate with 1M stored within 10% of the rate with 10k (in turn) | $(ratio "${result[scale_1000000]}" "${result[scale_10000]}") | $(verdict "${result[scale_1000000]} >= 0.9 * ${result[scale_10000]}") |"
  else
    echo "| MO rate with 1M stored within 10% of the rate with 10k | not measured (SCALE=1) | |"
  fi
  echo
  echo "Commands (PORT: the relay's or the ceiling's; send-N.mms as in bench-mm1.sh with an N KiB part):"
  echo
  cat "$cmds"
} >"$work/section.md"
cat "$work/section.md"
[ "${WRITE:-1}" = 1 ] && cat "$work/section.md" >>docs/BENCHMARKS.md
exit 0
