#!/usr/bin/env python3
"""Interleaved comparison of `check` at 300 ms/request: this checkout, the same with the early start off, and
optionally another checkout (e.g. a commit before a change). Each round runs every configuration once, in a
random order, so load from other processes hits them alike; prints medians.

    python bench/compare.py                          # this checkout, early start on and off
    git worktree add /tmp/before <commit>
    python bench/compare.py --before /tmp/before --rounds 9

Configurations run as `python -m hfdiag` from a neutral directory (a checkout chosen through PYTHONPATH).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import CRITICAL_CHAIN, LATENCY_MS, ROOT, _check_cmd, env_for_cli  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, help="another checkout to compare with (its hfdiag/ and rules/)")
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    from hfdiag.sim import Simulator

    configs = {"this checkout": {"PYTHONPATH": str(ROOT)},
               "this checkout, early start off": {"PYTHONPATH": str(ROOT), "HFDIAG_EARLY_START": "0"}}
    if a.before:
        configs[f"before ({a.before})"] = {"PYTHONPATH": str(a.before.resolve())}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
    over = {"edge.latency_ms": LATENCY_MS, "hub.latency_ms": LATENCY_MS}
    with Simulator("healthy-gradio", overrides=over) as sim, tempfile.TemporaryDirectory() as neutral:
        args = _check_cmd(sim)[1:]
        for round_no in range(a.rounds + 1):  # round 0 warms the caches (and writes bytecode)
            order = list(configs.items())
            random.shuffle(order)
            for name, extra in order:
                n0, t0 = len(sim.requests), time.time()
                subprocess.run([sys.executable, "-m", "hfdiag", *args], env={**env_for_cli(), **extra},
                               capture_output=True, cwd=neutral)
                wall = time.time() - t0
                first = min(r.ts for r in list(sim.requests)[n0:]) - t0
                if round_no:
                    results[name].append((first * 1000, wall * 1000))
    critical = CRITICAL_CHAIN * LATENCY_MS
    for name, rows in results.items():
        first = statistics.median(r[0] for r in rows)
        wall = statistics.median(r[1] for r in rows)
        print(f"{name:40s} first request {first:4.0f} ms   wall {wall:4.0f} ms = {wall / critical:.2f}x the critical path")
    return 0


if __name__ == "__main__":
    sys.exit(main())
