"""Reads MMS PDUs with python-messaging and prints, per file, one JSON line with what it decoded.

usage: python_messaging_read.py FILE...
"""
import json
import sys

from messaging.mms.message import MMSMessage


def text(value):
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


for path in sys.argv[1:]:
    out = {"path": path}
    try:
        with open(path, "rb") as f:
            m = MMSMessage.from_data(f.read())
        h = m.headers
        to = h.get("To")
        out.update({
            "message_type": text(h.get("Message-Type")),
            "transaction_id": text(h.get("Transaction-Id")),
            "version": text(h.get("MMS-Version")),
            "from": text(h.get("From")),
            "to": [text(t) for t in to] if isinstance(to, list) else ([text(to)] if to else []),
            "subject": text(h.get("Subject")),
            "content_location": text(h.get("Content-Location")),
            "content_type": text(h["Content-Type"][0]) if "Content-Type" in h else None,
            "parts": [text(p.content_type) for p in m.data_parts],
        })
    except Exception as e:  # report, do not stop: the Rust side says which case failed
        out["error"] = repr(e)
    print(json.dumps(out))
