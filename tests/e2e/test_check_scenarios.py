"""`hfdiag check --sim SCENARIO` through the real CLI: every builder, proxy, app, healthy and sleeping scenario
gets the scenario's bucket and first missing hop (the expectations live in the scenario files)."""

import json

import pytest
from conftest import run_cli

from hfdiag.sim import list_scenarios

PREFIXES = ("builder-", "proxy-", "app-", "healthy-", "sleeping-")
SCENARIOS = [s for s in list_scenarios() if s.name.startswith(PREFIXES)]


def check_json(*args):
    proc = run_cli("check", *args, "--format", "json", "--quiet", "--timeout", "20")
    assert proc.stdout, proc.stderr
    return proc, json.loads(proc.stdout)


# A read-only check cannot see a failing restart; the owner asks for one with --restart.
EXTRA_ARGS = {"builder-paused-restart-503": ["--restart"]}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_verdict(scenario, validate_report):
    proc, report = check_json("--sim", scenario.name, *EXTRA_ARGS.get(scenario.name, []))
    validate_report(report)
    v = report["verdict"]
    assert v["bucket"] == scenario.expect["bucket"], (v, [f["id"] for f in report["findings"]])
    assert v["first_missing_hop"] == scenario.expect.get("first_missing_hop"), v
    if scenario.expect.get("knowledge"):
        assert v["knowledge"] == scenario.expect["knowledge"]
    assert proc.returncode == (0 if v["bucket"] == "healthy" else 1)
    assert "Traceback" not in proc.stderr


LOG_DEPENDENT = [s for s in SCENARIOS if s.name in ("builder-empty-build-log", "proxy-edge-503-app-alive")]


@pytest.mark.parametrize("scenario", LOG_DEPENDENT, ids=[s.name for s in LOG_DEPENDENT])
def test_without_a_token_a_log_dependent_verdict_is_inconclusive(scenario):
    proc, report = check_json("--sim", scenario.name, "--sim-as", "anonymous")
    v = report["verdict"]
    assert v["bucket"] == "inconclusive", v
    assert "owner's token" in v["summary"]
    assert proc.returncode == 3
    human = run_cli("check", "--sim", scenario.name, "--sim-as", "anonymous", "--quiet").stdout
    assert "owner's token" in human.splitlines()[0] + human


def test_bundle_replays_to_the_same_verdict(tmp_path):
    bundle = tmp_path / "evidence.json"
    proc, report = check_json("--sim", "builder-scheduling-failure", "--bundle", str(bundle))
    replay = json.loads(run_cli("explain", str(bundle), "--format", "json").stdout)
    assert replay["verdict"] == report["verdict"]
    assert replay["facts"] == report["facts"]


def test_several_spaces_give_one_json_line_each_in_order():
    scenario = next(s for s in list_scenarios() if s.name == "fleet")
    proc = run_cli("check", "--sim", "fleet", "--format", "json", "--quiet", "--concurrency", "3",
                   *[sp.id for sp in scenario.spaces][:5])
    lines = proc.stdout.strip().splitlines()
    assert [json.loads(line)["target"] for line in lines] == [sp.id for sp in scenario.spaces][:5]


def test_unknown_scenario_and_bad_space_id_are_one_line_errors():
    proc = run_cli("check", "--sim", "no-such-scenario")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    proc = run_cli("check", "not a space id", "--endpoint", "http://127.0.0.1:9")
    assert proc.returncode == 2 and "not a Space id" in proc.stderr


def test_paused_space_without_restart_is_explained_not_a_fault():
    proc, report = check_json("--sim", "builder-paused-restart-503")
    v = report["verdict"]
    assert (v["bucket"], v["knowledge"]) == ("builder", "explained")
    assert "--restart" in v["summary"]
