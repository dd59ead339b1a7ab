"""`hfdiag check --sim SCENARIO` through the real CLI: every scenario, run with exactly the command
`hfdiag sim --list` prints for it (caller role, --zerogpu-call, --transfer-file, --settle-wait, --fail-on
included), gets the scenario's bucket, first missing hop and knowledge, no more confidence than the scenario
allows, the scenario's exit status and the phrases its verdict line must say. The expectations live in the scenario files, none in this test."""

import json
import shlex
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import run_cli

from hfdiag.sim import list_scenarios

ALL = list_scenarios()
CONFIDENCE = ("low", "medium", "high")
PREFIXES = ("builder-", "proxy-", "app-", "healthy-", "sleeping-")
SCENARIOS = [s for s in ALL if s.name.startswith(PREFIXES)]


def check_json(*args):
    proc = run_cli("check", *args, "--format", "json", "--quiet", "--timeout", "20")
    assert proc.stdout, proc.stderr
    return proc, json.loads(proc.stdout)


def listed_commands() -> dict[str, list[str]]:
    """scenario -> the arguments after `hfdiag` of the command `hfdiag sim --list` prints for it."""
    out = run_cli("sim", "--list").stdout.splitlines()
    cmds = {}
    for name_line, cmd_line in zip(out[::2], out[1::2], strict=True):
        argv = shlex.split(cmd_line.strip().removeprefix("$ "))
        assert argv[:4] == ["hfdiag", "check", "--sim", name_line.split()[0]], cmd_line
        cmds[argv[3]] = argv[1:]
    return cmds


@pytest.fixture(scope="module")
def reproduced():
    """Every scenario through its listed command, a few at a time (the slowest waits 60 s for a settlement)."""
    cmds = listed_commands()
    names = [s.name for s in ALL]
    assert set(names) <= set(cmds), set(names) - set(cmds)

    def one(name):
        return name, run_cli(*cmds[name], "--format", "json", "--quiet", timeout=180)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, sorted(names, key=lambda n: "no-gpu-charged" not in n)))


@pytest.mark.parametrize("scenario", ALL, ids=[s.name for s in ALL])
def test_every_scenario_reproduces_with_its_listed_command(scenario, reproduced, validate_report):
    proc = reproduced[scenario.name]
    assert proc.stdout and "Traceback" not in proc.stderr, proc.stderr
    report = validate_report(json.loads(proc.stdout))
    v = report["verdict"]
    exp = scenario.expect
    assert (v["bucket"], v["first_missing_hop"]) == (exp["bucket"], exp["first_missing_hop"]), \
        (v, [f["id"] for f in report["findings"]])
    if exp["knowledge"]:  # null: any
        assert v["knowledge"] == exp["knowledge"], v
    # a confident wrong verdict is worse than a modest one: the scenario says how sure its evidence allows
    assert CONFIDENCE.index(v["confidence"]) <= CONFIDENCE.index(exp["confidence_at_most"]), v
    assert proc.returncode == exp["exit"], (v, proc.stderr)
    for phrase in exp["says"]:  # what the user must be told: the host, the stalled step, the missing flag
        assert phrase in v["summary"], (phrase, v["summary"])


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
