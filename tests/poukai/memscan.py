#!/usr/bin/env python3
"""memscan.py PID NEEDLE... - looks for byte strings in a running process's
memory, read from the host (/proc/PID/mem), for the tests that check a
secret is not where it must not be. Each NEEDLE is hex:HEX or txt:TEXT; the
first is the control, which must be found (it proves the scan saw the
memory where such bytes live). Prints one line:
  clean BYTES         the control found, no other needle
  found [I...] BYTES  needles I (1-based after the control) found
  broken: ...         the control not found
  skip REASON         the memory cannot be read here (not dumpable, ...)"""
import sys

pid, needles = sys.argv[1], sys.argv[2:]
pats = [bytes.fromhex(n[4:]) if n.startswith("hex:") else n[4:].encode() for n in needles]
try:
    maps = open(f"/proc/{pid}/maps").read().splitlines()
    mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
except (PermissionError, OSError) as e:
    print(f"skip {e.__class__.__name__}")
    sys.exit(0)
found, scanned = set(), 0
for line in maps:
    f = line.split()
    if "r" not in f[1] or (len(f) > 5 and f[5] in ("[vvar]", "[vsyscall]")):
        continue
    lo, hi = (int(x, 16) for x in f[0].split("-"))
    if hi - lo > 256 << 20:
        continue  # a sanitizer's shadow or reserve, not where buffers live
    try:
        mem.seek(lo)
        data = mem.read(hi - lo)
    except OSError:
        continue
    scanned += len(data)
    found |= {i for i, p in enumerate(pats) if p in data}
if 0 not in found:
    print(f"broken: the control was not found in {scanned} bytes")
elif found - {0}:
    print(f"found needles {sorted(found - {0})} in {scanned} bytes")
else:
    print(f"clean {scanned}")
