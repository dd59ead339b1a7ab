"""Load must not change a verdict: `check` of many simulated Spaces at high concurrency gives, Space by Space,
the same verdict (bucket, confidence, rule) as one at a time. The suite uses a part of the 200-Space fleet;
`python bench/fleet_verdicts.py` runs all 200 at --concurrency 50 (figures in the issue report)."""

import json

from conftest import run_cli

from hfdiag.sim import load_scenario

N = 30


def verdicts(spaces, concurrency):
    proc = run_cli("check", "--sim", "fleet", *spaces, "--concurrency", str(concurrency), "--format", "json",
                   "--quiet", "--timeout", "30", timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    out = {}
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        v = r["verdict"]
        out[r["target"]] = (v["bucket"], v["confidence"], v["rule"])
    return out


def test_high_concurrency_gives_the_same_verdicts_as_one_at_a_time():
    spaces = [sp.id for sp in load_scenario("fleet").spaces][1:N + 1]
    one = verdicts(spaces, 1)
    many = verdicts(spaces, N)
    assert list(one) == spaces
    differing = {s: (one[s], many.get(s)) for s in spaces if one[s] != many.get(s)}
    assert not differing, differing
    # the fleet mixes healthy, sleeping, erroring, building and paused Spaces: several verdicts, none inconclusive
    assert len({v[0] for v in one.values()}) >= 2 and all(v[0] != "inconclusive" for v in one.values()), one
