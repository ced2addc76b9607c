#!/usr/bin/env bash
# Load test of MM7 submissions: a release `tern serve` on embedded defaults (in a scratch data
# directory) with one VASP account takes SubmitReq requests (SOAP with a 30 KB image/jpeg
# attachment, one local recipient) from h2load, an independent HTTP load tool (Debian package
# nghttp2-client). Prints h2load's report and how many messages were stored.
# usage: scripts/bench-mm7.sh [REQUESTS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-20000}
clients=${2:-64}
command -v h2load >/dev/null || { echo "h2load missing: apt-get install -y nghttp2-client" >&2; exit 1; }
cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

hash=$(echo "bench-secret" | ./target/release/tern hash-password | sed 's/^password_hash = //')
cat > "$work/tern.toml" <<TOML
[mm7]
enabled = true
listen = "127.0.0.1:18007"

[[mm7.vasps]]
name = "bench"
vasp_id = "bench"
username = "bench"
password_hash = $hash
short_codes = ["4444"]
TOML

# A SubmitReq as a VASP sends it: the envelope, then the content as a binary attachment.
python3 - "$work/submit.bin" <<'PY'
import base64, sys
ns = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"
envelope = f"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header>
<mm7:TransactionID xmlns:mm7="{ns}" env:mustUnderstand="1">bench-1</mm7:TransactionID></env:Header>
<env:Body><SubmitReq xmlns="{ns}"><MM7Version>6.8.0</MM7Version>
<SenderIdentification><VASPID>bench</VASPID><SenderAddress><ShortCode>4444</ShortCode></SenderAddress></SenderIdentification>
<Recipients><To><Number>+15550100002</Number></To></Recipients><Subject>load</Subject>
<Content href="cid:mms-content"/></SubmitReq></env:Body></env:Envelope>"""
data = base64.encodebytes(bytes(i % 251 for i in range(30 * 1024))).replace(b"\n", b"\r\n")
body = (b"--b\r\nContent-Type: text/xml; charset=utf-8\r\nContent-ID: <soap>\r\n\r\n" + envelope.encode()
        + b"\r\n--b\r\nContent-Type: image/jpeg\r\nContent-ID: <mms-content>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + data + b"\r\n--b--\r\n")
open(sys.argv[1], "wb").write(body)
PY

TERN_LOG=warn TERN_MM1__LISTEN=127.0.0.1:18002 TERN_ADMIN__LISTEN=127.0.0.1:18003 \
  TERN_STORE__DATA_DIR="$work/data" ./target/release/tern serve --config "$work/tern.toml" &
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/18007) 2>/dev/null && break; sleep 0.1; done
echo "tern serve: commit $(git rev-parse --short HEAD), $(nproc) cores, request $(stat -c %s "$work/submit.bin") octets"
h2load --h1 -n "$requests" -c "$clients" -m 1 -d "$work/submit.bin" \
  -H 'Content-Type: multipart/related; type="text/xml"; start="<soap>"; boundary="b"' \
  -H "Authorization: Basic $(printf 'bench:bench-secret' | base64)" -H 'SOAPAction: ""' \
  "http://127.0.0.1:18007/mm7"
echo "messages stored: $(sqlite3 "$work/data/tern.db" 'SELECT count(*) FROM messages')"
