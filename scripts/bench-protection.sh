#!/usr/bin/env bash
# The cost of protection on MM1 submissions: scripts/bench-mm1.sh (30 KB m-send.req, one local
# recipient, h2load) run alternately against a relay with no protection profile and against one
# whose default profile scans every part with a real clamd (over its unix socket) and filters
# parts by real type and checksum. clamd runs here with a signature database of its own (the
# EICAR test file), so no signature download is needed.
# usage: scripts/bench-protection.sh [REQUESTS] [CONNECTIONS] [ROUNDS] [RATE_PER_CONNECTION]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-20000}
clients=${2:-64}
rounds=${3:-2}
rate=${4:-}
for tool in clamd sigtool h2load; do
  command -v $tool >/dev/null || { echo "$tool missing: apt-get install -y clamav clamav-daemon nghttp2-client" >&2; exit 1; }
done
cargo build --release --quiet
export TERN_BIN=./target/release/tern
work=$(mktemp -d)
# clamd is stopped and waited for before its directory goes.
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir "$work/db"
printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > "$work/eicar.com"
sigtool --md5 "$work/eicar.com" > "$work/db/local.hdb"
cat > "$work/clamd.conf" <<EOF
Foreground yes
DatabaseDirectory $work/db
LocalSocket $work/clamd.sock
LogFile $work/clamd.log
PidFile $work/clamd.pid
StreamMaxLength 50M
EOF
[ "$(id -u)" -eq 0 ] && echo "User root" >> "$work/clamd.conf"
clamd -c "$work/clamd.conf" > "$work/clamd.out" 2>&1 &
for _ in $(seq 300); do
  [ -S "$work/clamd.sock" ] && python3 - "$work/clamd.sock" <<'PY' 2>/dev/null && break
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"zPING\0")
sys.exit(0 if s.recv(16).startswith(b"PONG") else 1)
PY
  sleep 0.1
done

cat > "$work/default.toml" <<EOF
[protection.clamd]
address = "$work/clamd.sock"

[[protection.profiles]]
name = "default"
virus = { actions = ["block"], on_error = "closed" }
file_filter = { types = ["application/x-executable", "application/vnd.microsoft.portable-executable"], mislabelled = true, actions = ["block"] }
checksums = { sha256 = ["$(sha256sum "$work/eicar.com" | cut -d' ' -f1)"], actions = ["block"] }

[[protection.policies]]
interfaces = ["mm1-sent"]
profile = "default"
EOF

echo "clamd: $(clamd --version)"
for round in $(seq "$rounds"); do
  for side in none default; do
    config=""
    [ "$side" = default ] && config="$work/default.toml"
    echo "== round $round, profile: $side"
    TERN_CONFIG=$config scripts/bench-mm1.sh "$requests" "$clients" $rate | grep -E 'finished in|requests:|status codes|time for request|messages stored|tern serve'
  done
done
