#!/usr/bin/env python3
"""Counts test cases in a meson test log and prints "N passed, M failed".

Each doctest executable reports its own case counts in its summary line,
and a plain test program may end with its own "N passed, M failed" line;
any other test counts as one case, passed or failed by its result. Exits 1
if anything failed or the log is missing. Called by tools/check.
"""
import json
import re
import sys

SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
PLAIN = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)


def main(path):
    passed = failed = 0
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError as e:
        print(f"cannot read the test log: {e}")
        print("0 passed, 1 failed")
        return 1
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        m = [(0, p, f) for p, f in PLAIN.findall(out)] or SUMMARY.findall(out)
        ok = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
        if m:
            _, p, f = (int(x) for x in m[-1])
            passed += p
            failed += f
            if not ok and f == 0:
                failed += 1  # crashed or timed out after its summary
        elif ok:
            passed += 1
        else:
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
