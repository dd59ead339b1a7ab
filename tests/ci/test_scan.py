"""`hfdiag scan`: a fleet of simulated Spaces, bounded concurrency, one shared rate limiter, JSON Lines and
OpenMetrics (parsed by prometheus_client's OpenMetrics parser)."""

from __future__ import annotations

import json
import re
import time

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from hfdiag.sim import Simulator
from tests.ci.conftest import scan_fleet_to_file, sim_args
from tests.conftest import cli_env, run_cli

FLEET = 200
CONCURRENCY = 48
QUOTA, WINDOW = 20, 1  # 'api' requests per caller per window: a 200-Space scan (~0.6 Hub requests a Space: one
# listing for the infos, log streams only for the ~60 Spaces that show a problem) needs ~6 windows


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory):
    """One rate-limited scan of 200 Spaces; everything the tests below look at."""
    # The listing answers first and tells the limiter the budget, so the windows never overflow on their own any
    # more: a few run-log streams answered 429 keep the back-off and the re-check of damaged evidence in play.
    throttle = {"hub:GET /api/spaces/*/logs/run": {"fault": "status", "status": 429, "times": 3}}
    with Simulator("fleet", overrides={"fleet.count": FLEET, "hub.rate_limit": QUOTA,
                                       "hub.rate_window_s": WINDOW, "faults": throttle}) as sim:
        ids = [s for s in sim.space_ids if s.startswith("fleetuser/space-")]
        assert len(ids) == FLEET
        listing = tmp_path_factory.mktemp("scan") / "spaces.txt"
        listing.write_text("# the fleet\n\n" + "\n".join(f"{s}   # kind" if i % 7 == 0 else s
                                                          for i, s in enumerate(ids)) + "\n\n", encoding="utf-8")
        sim.concurrency.reset()
        start = time.monotonic()
        p = run_cli("scan", str(listing), *sim_args(sim), "--format", "jsonl", "--concurrency", str(CONCURRENCY),
                    "--timeout", "30", env=cli_env(HF_TOKEN=sim.tokens["owner"]), timeout=600)
        wall = time.monotonic() - start
        stages = {s: sim.space(s).stage for s in ids}
        yield {"p": p, "ids": ids, "wall": wall, "conc": sim.concurrency.to_dict(), "stages": stages,
               "hub_requests": len([r for r in sim.requests if r.role == "hub"])}


def test_every_space_has_one_result_in_input_order(fleet_run, validate_report):
    p = fleet_run["p"]
    assert p.returncode in (0, 1, 3), p.stderr
    reports = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["target"] for r in reports] == fleet_run["ids"]
    for r in reports:
        validate_report(r)
        probes = {x["probe"]: x for x in r["probes"]}
        stage = next(f["value"] for f in r["facts"] if f["key"] == "space.stage")
        # the logs of a healthy RUNNING Space are not opened by a scan (tests/e2e/test_scan_listing.py)
        skipped_logs = stage == "RUNNING" and probes["logs"]["status"] == "skipped"
        for name in ("space", "auth") + (() if skipped_logs else ("logs",)):
            assert probes[name]["status"] == "ok", (r["target"], name, probes[name].get("error"))
            assert "429" not in (probes[name].get("error") or "") and "rate limit" not in (probes[name].get("error") or "")
        assert stage == fleet_run["stages"][r["target"]]  # the real evidence of that Space, not a 429


def test_backs_off_on_429_with_bounded_concurrency(fleet_run):
    p = fleet_run["p"]
    m = re.search(r"scanned (\d+) of (\d+) Spaces in ([\d.]+)s \(concurrency (\d+), peak (\d+)\).*?"
                  r"Hub rate limit: (\d+) × 429, (\d+) retried, (\d+) given up, waited ([\d.]+)s; re-checked (\d+)",
                  p.stderr)
    assert m, p.stderr
    scanned, total, wall_s, conc, peak, throttled, retried, gave_up, waited, rechecked = m.groups()
    assert int(scanned) == int(total) == FLEET
    assert int(conc) == CONCURRENCY and int(peak) <= CONCURRENCY
    assert int(throttled) > 0, "429s must be seen: the test exists to see them handled"
    assert float(waited) > 0
    c = fleet_run["conc"]
    # each check holds at most ~6 connections (5 Hub + 1 Space); the scan never exceeds concurrency x that
    assert 0 < c["peak_connections"] <= CONCURRENCY * 8, c
    assert c["peak_in_flight"] <= CONCURRENCY * 6, c
    print(f"\nscan of {FLEET} Spaces: wall {fleet_run['wall']:.1f}s (scan {wall_s}s), peak connections "
          f"{c['peak_connections']}, peak in-flight {c['peak_in_flight']}, 429s {throttled}, retried {retried}, "
          f"given up {gave_up}, re-checked {rechecked}, Hub requests {fleet_run['hub_requests']}")
    # its wall time is a speed target: measured in bench/ (`bench/run.py --only scan`), not held here


def test_list_parsing_and_usage_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("# ok\nowner/one\nnot a space id\n", encoding="utf-8")
    p = run_cli("scan", str(bad))
    assert p.returncode == 2 and "line 3" in p.stderr
    assert run_cli("scan", str(tmp_path / "missing.txt")).returncode == 2
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n", encoding="utf-8")
    assert run_cli("scan", str(empty)).returncode == 2
    assert run_cli("scan", "-", "--concurrency", "0", input="a/b\n").returncode == 2
    assert run_cli("scan", "-", "--format", "yaml", input="a/b\n").returncode == 2


@pytest.fixture(scope="module")
def small_fleet():
    with Simulator("fleet", overrides={"fleet.count": 6, "fleet.mix": {"healthy": 0.5, "runtime_error": 0.5}}) as sim:
        yield sim


def test_openmetrics_parses_with_prometheus_client(small_fleet, tmp_path):
    out = tmp_path / "hfdiag.prom"
    ids = scan_fleet_to_file(small_fleet, "openmetrics", out)
    text = out.read_text(encoding="utf-8")
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    verdict = families["hfdiag_space_verdict"]
    assert verdict.type == "gauge"
    ones = [s for s in verdict.samples if s.value == 1]
    assert sorted(s.labels["space"] for s in ones) == sorted(ids)  # exactly one bucket per Space
    assert {s.labels["bucket"] for s in verdict.samples} >= {"healthy", "app", "builder", "inconclusive"}
    durations = families["hfdiag_probe_duration_seconds"]
    assert durations.unit == "seconds"
    assert {s.labels["probe"] for s in durations.samples} >= {"space", "auth", "logs", "route"}
    assert all(s.value >= 0 for s in durations.samples)
    ratio = families["hfdiag_route_success_ratio"]
    assert ratio.samples and all(0.0 <= s.value <= 1.0 for s in ratio.samples)
    assert families["hfdiag_scan_spaces"].samples[0].value == len(ids)
    assert families["hfdiag_scan_hub_rate_limited"].type == "counter"
    assert families["hfdiag_space_verdict_details"].type == "info"
    failing = families["hfdiag_space_failing"]
    assert len(failing.samples) == len(ids)


def test_openmetrics_escapes_label_values():
    from hfdiag.render.openmetrics import to_openmetrics

    report = {"target": 'we"ird\\name\nx', "verdict": {"bucket": "healthy", "rule": None, "confidence": "high",
                                                       "knowledge": None},
              "probes": [{"probe": "space", "status": "ok", "duration_ms": 12.5}], "facts": []}
    text = to_openmetrics([report])
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert fams["hfdiag_space_verdict"].samples[0].labels["space"] == 'we"ird\\name\nx'


def test_jsonl_from_stdin_and_human(small_fleet):
    ids = [s for s in small_fleet.space_ids if s.startswith("fleetuser/")]
    env = cli_env(HF_TOKEN=small_fleet.tokens["owner"])
    p = run_cli("scan", "-", *sim_args(small_fleet), "--format", "json", input="\n".join(ids[:3]), env=env)
    lines = p.stdout.splitlines()
    assert len(lines) == 3 and [json.loads(x)["target"] for x in lines] == ids[:3]
    h = run_cli("scan", "-", *sim_args(small_fleet), "--fail-on", "none", input="\n".join(ids[:3]), env=env)
    assert [x.split()[0] for x in h.stdout.splitlines()] == ids[:3]
    assert "scanned 3 of 3 Spaces" in h.stderr
    assert h.returncode == 0  # --fail-on none: never 1 (nor 3)


def test_under_load_spaces_in_the_same_state_get_the_same_verdict(fleet_run):
    """200 Spaces at concurrency 48 with the Hub rate limit in play: every Space of one kind (stage) gets one and
    the same verdict, and no RUNNING Space gets a platform verdict (load is not evidence)."""
    by_stage: dict[str, set] = {}
    for line in fleet_run["p"].stdout.splitlines():
        r = json.loads(line)
        v = r["verdict"]
        by_stage.setdefault(fleet_run["stages"][r["target"]], set()).add((v["bucket"], v["confidence"], v["rule"]))
    assert all(len(verdicts) == 1 for verdicts in by_stage.values()), by_stage
    assert {v[0] for v in by_stage["RUNNING"]} == {"healthy"}, by_stage["RUNNING"]


def test_sleeping_and_paused_spaces_do_not_fail_a_platform_gate(tmp_path):
    mix = {"fleet.count": 4, "fleet.mix": {"sleeping": 0.5, "paused": 0.5}}
    with Simulator("fleet", overrides=mix) as sim:
        ids = [s for s in sim.space_ids if s.startswith("fleetuser/space-")]
        assert {sim.space(s).stage for s in ids} == {"SLEEPING", "PAUSED"}
        out = tmp_path / "hfdiag.prom"
        p = run_cli("scan", "-", *sim_args(sim), "--format", "openmetrics", "-o", str(out), "-q", "--fail-on",
                    "platform", input="\n".join(ids) + "\n", env=cli_env(HF_TOKEN=sim.tokens["owner"]))
        assert p.returncode == 0, p.stderr
        families = {f.name: f for f in text_string_to_metric_families(out.read_text(encoding="utf-8"))}
        assert [s.value for s in families["hfdiag_space_failing"].samples] == [0] * len(ids)
        verdicts = [s.labels["bucket"] for s in families["hfdiag_space_verdict"].samples if s.value == 1]
        assert verdicts == ["builder"] * len(ids)  # still named: explained builder behaviour, not healthy
        for sid in ids:
            c = run_cli("check", sid, *sim_args(sim), "--fail-on", "platform", "--quiet",
                        env=cli_env(HF_TOKEN=sim.tokens["owner"]))
            assert c.returncode == 0, (sid, c.stdout[:300])
