"""Runs the hfdiag CLI with the probing phase of `check` timed (bench only: wraps, never changes, the product).

    python bench/_phases.py OUT.json check ...   # OUT.json gets {"check_many_s", "check_start_s", "process_s"}

(tests/reliability runs its fault runs through it too, to hold each run to its own --timeout.)
"""

from __future__ import annotations

import json
import sys
import time

T0 = time.perf_counter()


def main() -> None:
    out, argv = sys.argv[1], sys.argv[2:]
    sys.argv = ["hfdiag", *argv]
    import hfdiag.check as check
    import hfdiag.cli as cli

    phases: dict[str, float] = {}
    inner = check.check_many

    async def timed(*a, **k):
        t = time.perf_counter()
        phases["check_start_s"] = t - T0
        try:
            return await inner(*a, **k)
        finally:
            phases["check_many_s"] = time.perf_counter() - t

    check.check_many = timed
    try:
        code = cli.main(argv)
    finally:
        phases["process_s"] = time.perf_counter() - T0
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(phases, fh)
    sys.exit(code)


if __name__ == "__main__":
    main()
