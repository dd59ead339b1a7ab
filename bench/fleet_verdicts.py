"""`check` of the 200-Space simulated fleet at --concurrency 50 and at --concurrency 1: are the verdicts the same?

    python bench/fleet_verdicts.py [--count 200] [--concurrency 50]

Prints the wall time of each run, the verdict mix, and every Space whose verdict (bucket, confidence, rule)
differs; exits 1 when any does. tests/e2e/test_concurrency_verdicts.py asserts the same verdicts (200 Spaces, 50
vs 1) in the suite; this script adds the wall times and other sizes."""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time

from hfdiag.sim import Simulator


def run(sim, spaces: list[str], concurrency: int) -> tuple[dict, float]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "hfdiag", "check", *spaces, "--endpoint", sim.endpoint,
                           "--dns-server", sim.dns_server, "--status-url", sim.status_url, "--concurrency",
                           str(concurrency), "--format", "json", "--quiet", "--timeout", "30"],
                          capture_output=True, text=True, env={"HFDIAG_NO_PROGRESS": "1", "NO_COLOR": "1",
                                                                "PATH": "/usr/bin:/bin",
                                                                "HF_TOKEN": sim.tokens["owner"]})
    wall = time.monotonic() - t0
    out = {}
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        v = r["verdict"]
        out[r["target"]] = (v["bucket"], v["confidence"], v["rule"])
    return out, wall


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=50)
    a = ap.parse_args()
    # `check` has no shared rate limiter (that is `scan`'s job): lift the simulated Hub's 'api' quota so that every
    # Space is judged on its evidence, not on 429s (which would be the same at both concurrencies anyway)
    with Simulator("fleet", overrides={"fleet.count": a.count, "hub.rate_limit": 1_000_000}) as sim:
        spaces = [s for s in sim.space_ids if s.startswith("fleetuser/space-")]
        many, wall_many = run(sim, spaces, a.concurrency)
        one, wall_one = run(sim, spaces, 1)
    differing = {s: (one.get(s), many.get(s)) for s in spaces if one.get(s) != many.get(s)}
    print(f"{len(spaces)} Spaces: --concurrency {a.concurrency} {wall_many:.1f} s, --concurrency 1 {wall_one:.1f} s")
    print("verdicts:", dict(collections.Counter(v[0] + "/" + v[1] for v in one.values())))
    print(f"differing: {len(differing)}")
    for s, (x, y) in sorted(differing.items()):
        print(f"  {s}: one-at-a-time {x}  vs  concurrent {y}")
    return 1 if differing or len(one) != len(spaces) else 0


if __name__ == "__main__":
    sys.exit(main())
