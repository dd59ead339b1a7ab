"""Runs the hfdiag CLI with its probing phase timed, so a test can hold the run to its own `--timeout` whatever
the load of the machine (starting an interpreter on a busy machine is not part of the deadline). Wraps, never
changes, the product: `python timed_cli.py OUT.json check ...` writes {"check_start_s", "check_s", "process_s"}."""

from __future__ import annotations

import json
import sys
import time

T0 = time.monotonic()


def main() -> None:
    out, argv = sys.argv[1], sys.argv[2:]
    sys.argv = ["hfdiag", *argv]
    import hfdiag.check as check
    import hfdiag.cli as cli

    phases: dict[str, float] = {}
    inner = check.check_many

    async def timed(*a, **k):
        phases["check_start_s"] = time.monotonic() - T0
        try:
            return await inner(*a, **k)
        finally:
            phases["check_s"] = time.monotonic() - T0 - phases["check_start_s"]

    check.check_many = timed
    try:
        code = cli.main(argv)
    finally:
        phases["process_s"] = time.monotonic() - T0
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(phases, fh)
    sys.exit(code)


if __name__ == "__main__":
    main()
