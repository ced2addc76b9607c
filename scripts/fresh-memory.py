#!/usr/bin/env python3
"""Frees memory the machine has used before, so that a run writing into the page cache next gets
memory that is ready: reads SCRATCH into the page cache and drops it from there again (making
SCRATCH first, MB mebibytes, synced, if it is missing). On a virtual machine, memory the guest
has never touched must first be provided by the host, and writes into it cost more; runs that
are compared should start alike (see scripts/bench-scale.sh).

usage: scripts/fresh-memory.py SCRATCH [MB]   (MB=1024)
"""
import os
import sys

path = sys.argv[1]
mb = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
if not os.path.exists(path):
    with open(path, "wb") as f:
        block = bytes(1 << 20)
        for _ in range(mb):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
fd = os.open(path, os.O_RDONLY)
while os.read(fd, 1 << 20):
    pass
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)
