#!/usr/bin/env python3
"""The m-send.req the load scripts post: insert-address From, one recipient (TO, by default the
local +15550100002), one image/jpeg part of SIZE octets (a byte pattern). Written to OUT.

usage: scripts/send-req.py SIZE OUT [TO]
"""
import sys


def uintvar(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.insert(0, 0x80 | (n & 0x7F))
        n >>= 7
    return bytes(out)


size, out = int(sys.argv[1]), sys.argv[2]
to = sys.argv[3] if len(sys.argv) > 3 else "+15550100002"
data = bytes(i % 251 for i in range(size))
part_headers = b"\x9e"  # image/jpeg
pdu = (b"\x8c\x80\x98load-1\x00\x8d\x92\x89\x01\x81\x97" + to.encode() + b"/TYPE=PLMN\x00"
       b"\x84\xa3" + uintvar(1) + uintvar(len(part_headers)) + uintvar(len(data)) + part_headers + data)
with open(out, "wb") as f:
    f.write(pdu)
