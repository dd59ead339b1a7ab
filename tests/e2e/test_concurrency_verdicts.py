"""Load must not change a verdict: `check` of the simulator's 200-Space fleet at --concurrency 50 gives, Space by
Space, the same verdict (bucket, confidence, rule) as at --concurrency 1 (the issue's acceptance figure;
`python bench/fleet_verdicts.py` prints the wall times). Nothing here depends on timing: both runs are judged
only on the verdicts (a short deadline can only make evidence unknown)."""

import json

import pytest
from conftest import cli_env, run_cli

from hfdiag.sim import Simulator

FLEET, CONCURRENCY = 200, 50


def verdicts(sim, spaces: list[str], concurrency: int, deadline: float = 120) -> dict:
    proc = run_cli("check", *spaces, "--endpoint", sim.endpoint, "--dns-server", sim.dns_server, "--status-url",
                   sim.status_url, "--concurrency", str(concurrency), "--format", "json", "--quiet", "--timeout",
                   str(deadline), env=cli_env(HF_TOKEN=sim.tokens["owner"]), timeout=1200)
    assert "Traceback" not in proc.stderr, proc.stderr
    out = {}
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        v = r["verdict"]
        out[r["target"]] = (v["bucket"], v["confidence"], v["rule"])
    assert list(out) == spaces
    return out


@pytest.fixture(scope="module")
def fleet():
    # `check` has no shared rate limiter (that is `scan`'s job, tests/ci/test_scan.py): lift the simulated Hub's
    # 'api' quota so every run is judged on each Space's evidence, not on which run spent the quota first
    with Simulator("fleet", overrides={"fleet.count": FLEET, "hub.rate_limit": 1_000_000}) as sim:
        spaces = [s for s in sim.space_ids if s.startswith("fleetuser/space-")]
        assert len(spaces) == FLEET
        yield sim, spaces, verdicts(sim, spaces, 1)


def test_200_spaces_at_concurrency_50_get_the_verdicts_they_get_one_at_a_time(fleet):
    sim, spaces, one = fleet
    many = verdicts(sim, spaces, CONCURRENCY)
    differing = {s: (one[s], many[s]) for s in spaces if one[s] != many[s]}
    assert not differing, differing
    # the fleet mixes healthy, sleeping, erroring, building and paused Spaces: each gets a verdict of its own,
    # none inconclusive, and every Space in one stage gets the same one
    assert len({v[0] for v in one.values()}) >= 3 and all(v[0] != "inconclusive" for v in one.values()), one
    by_stage: dict[str, set] = {}
    for s, v in one.items():
        by_stage.setdefault(sim.space(s).stage, set()).add(v)
    assert all(len(v) == 1 for v in by_stage.values()) and by_stage["RUNNING"] == {("healthy", "high", "HFD-OK-001")}, \
        by_stage


def test_a_deadline_too_short_for_the_load_degrades_to_inconclusive_never_to_another_boundary(fleet):
    """Probes cut off by the deadline leave their facts unknown: a Space then gets its own boundary (perhaps on
    less evidence) or `inconclusive`, never another boundary. Holds whichever probes the load lets finish."""
    sim, spaces, one = fleet
    rushed = verdicts(sim, spaces, CONCURRENCY, deadline=1.5)
    moved = {s: (one[s], rushed[s]) for s in spaces if rushed[s][0] not in (one[s][0], "inconclusive")}
    assert not moved, moved
