"""design.md exit codes, end to end through the CLI: 0 ok, 1 finding at/above --fail-on, 2 usage, 3 inconclusive."""

from __future__ import annotations

import pytest

from tests.ci.conftest import sim_args
from tests.conftest import cli_env, run_cli

APP_FACTS = ["--fact", "app.error_kind=module_not_found", "--fact", "app.missing_module=torch"]


@pytest.mark.parametrize("fail_on, expected", [
    ("any", 1), ("app", 1), ("builder,app", 1), ("platform", 0), ("none", 0), ("builder", 0), ("proxy, app", 1),
])
def test_fail_on_with_an_app_finding(fail_on, expected):
    p = run_cli("explain", "-", *APP_FACTS, "--fail-on", fail_on, "--format", "json", input="")
    assert p.returncode == expected, p.stderr


def test_inconclusive_is_3_unless_fail_on_none():
    p = run_cli("explain", "-", "--format", "json", input="nothing to see here\n")
    assert p.returncode == 3, p.stderr
    p = run_cli("explain", "-", "--format", "json", "--fail-on", "none", input="nothing to see here\n")
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("args", [
    ["explain", "-", "--fail-on", "bogus"],
    ["explain", "-", "--fail-on", "healthy"],
    ["explain", "-", "--format", "yaml"],
    ["check"],
    ["scan", "--fail-on", "nope", "-"],
    ["preflight", "/nonexistent/checkout"],
    ["env", "--format", "github"],
])
def test_usage_errors_are_2_and_one_line(args):
    p = run_cli(*args, input="")
    assert p.returncode == 2, (args, p.stdout, p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("hfdiag: error:")
    assert "Traceback" not in p.stderr


def test_check_exit_codes_against_the_simulator(app_sim, tmp_path):
    env = cli_env(HF_TOKEN=app_sim.tokens["owner"], HFDIAG_NO_PROGRESS="1")
    sid = app_sim.space_ids[0]
    bundle = tmp_path / "bundle.json"
    live = run_cli("check", sid, *sim_args(app_sim), "--format", "json", "-q", "--fail-on", "platform",
                   "--bundle", str(bundle), env=env)
    assert live.returncode == 0, live.stderr  # an app failure does not fail a platform gate
    # the same evidence, replayed offline, under every --fail-on
    for fail_on, expected in (("any", 1), ("app", 1), ("platform", 0), ("none", 0)):
        assert run_cli("explain", str(bundle), "--format", "json", "--fail-on", fail_on).returncode == expected
