#!/usr/bin/python3
"""Golden ids of the shared corpora -> per-row digests.  Reads "<line>\t<id> <id> ..." on
stdin, writes "<line>\t#<count>:<fnv1a64 hex>", the 64-bit FNV-1a hash of the ids written
as decimal numbers joined by single spaces.  The corpus goldens are committed in this form:
the ids themselves would be a reversible copy of the ../shared corpus, which stays out of
the project; a digest still catches any differing id (tests/unit/test_tok_golden.c)."""
import sys

for raw in sys.stdin:
    line, ids = raw.rstrip("\n").split("\t", 1)
    text = " ".join(ids.split()).encode("ascii")
    h = 0xcbf29ce484222325
    for b in text:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    print(f"{line}\t#{len(ids.split())}:{h:016x}")
