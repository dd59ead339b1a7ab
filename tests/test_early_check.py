"""The early start of `check` (hfdiag/cli/early_check.py): its quick reading of the command line either gives up
or gives exactly typer's values, and a run that typer does not confirm prints nothing and leaves the answer to
the usual run. Against typer's real command and the simulator over loopback."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import typing
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from conftest import ROOT, cli_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hfdiag.cli.early_check import CHECK_PARAMS, EarlyStart, Refused, read_check_args
from hfdiag.sim import Simulator


@pytest.fixture(scope="module")
def check_command():
    import typer.main

    from hfdiag.cli.app import app, register

    register()
    return typer.main.get_command(app).commands["check"]


def typer_values(command, argv: list[str]) -> dict | None:
    """typer's values for `check ARGS`, or None when typer rejects the command line."""
    try:
        with command.make_context("check", list(argv[1:])) as ctx:
            return dict(ctx.params)
    except Exception:
        return None


def test_the_table_is_the_check_command(check_command):
    """Same parameters, flags, defaults and types as cmd_check.py, so the quick reading cannot drift."""
    from hfdiag.cli.cmd_check import check_cmd

    hints = typing.get_type_hints(check_cmd)
    params = {p.name: p for p in check_command.params if p.name != "spaces"}
    assert [name for name, *_ in CHECK_PARAMS] == list(params)
    for name, flags, kind, default in CHECK_PARAMS:
        p = params[name]
        assert tuple(p.opts) == flags and not p.secondary_opts, name
        assert p.default == default, name
        hint = hints[name]
        assert kind in (hint, *typing.get_args(hint)), (name, hint)


COMMON = [
    ["check", "owner/space"],
    ["check", "owner/space", "--format", "json", "--fail-on", "platform"],
    ["check", "owner/space", "--wait", "600", "--format", "github", "--fail-on", "any", "--token", "hf_x"],
    ["check", "a/b", "c/d", "--concurrency", "2", "-q", "-f", "markdown", "--markdown-flavor", "discourse"],
    ["check", "--sim", "healthy-gradio", "simuser/hello-gradio", "--bundle", "out.json", "-v"],
    ["check", "owner/space", "--endpoint=http://127.0.0.1:9", "--dns-server", "127.0.0.1:53", "--timeout=5"],
    ["check", "owner/space", "--transfer-file", "datasets/x/y:data.bin", "--rules-dir", "my-rules"],
]


@pytest.mark.parametrize("argv", COMMON, ids=lambda a: " ".join(a[1:3]))
def test_common_command_lines_start_early_with_typers_values(check_command, argv):
    early = read_check_args(argv)
    assert early is not None
    assert EarlyStart(argv, early).confirm() is True
    assert early == {**typer_values(check_command, argv), "spaces": early["spaces"]}


@pytest.mark.parametrize("argv", [
    ["check", "owner/space", "--restart"],  # acts on the Space
    ["check", "owner/space", "--zerogpu-call", "/predict"],  # spends quota
    ["check", "owner/space", "--zerogpu-call=/predict"],
    ["check", "--help"], ["check", "-h"],
    ["check", "owner/space", "--nope"], ["check", "owner/space", "-qv"], ["check", "owner/space", "-fjson"],
    ["check", "--", "owner/space"], ["check", "owner/space", "--timeout"], ["check", "owner/space", "--timeout", "x"],
    ["check", "owner/space", "--concurrency", "2.5"], ["check", "owner/space", "--quiet=yes"],
    ["explain", "file.log"], ["--version"], [],
])
def test_anything_unusual_is_left_to_typer(argv):
    assert read_check_args(argv) is None


_VALUES = {str: st.sampled_from(["json", "human", "x", "-x", "a b", "", "owner/space", "http://127.0.0.1:1"]),
           float: st.sampled_from(["0", "1.5", "30", "-1", "1e3", " 2", "nan", "x", "1_0"]),
           int: st.sampled_from(["1", "4", "0", "-2", "2.0", "1_0", "+3", "x"]),
           Path: st.sampled_from(["b.json", "dir/x", "", "-"])}


@st.composite
def command_lines(draw) -> list[str]:
    argv = ["check"]
    for _ in range(draw(st.integers(0, 7))):
        name, flags, kind, _default = draw(st.sampled_from(CHECK_PARAMS))
        flag = draw(st.sampled_from(flags))
        if kind is bool:
            argv.append(flag)
            continue
        value = draw(_VALUES[kind])
        argv += [f"{flag}={value}"] if flag.startswith("--") and draw(st.booleans()) else [flag, value]
    for _ in range(draw(st.integers(0, 2))):
        argv.insert(draw(st.integers(1, len(argv))), draw(st.sampled_from(["a/b", "c/d", "x"])))
    return argv


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_the_quick_reading_is_typers_or_nothing(check_command, argv):
    early = read_check_args(argv)
    if early is None:
        return
    typer_reading = typer_values(check_command, argv)
    # typer's reading, or a value typer rejects: then EarlyStart.confirm says no and the usual run answers
    assert typer_reading is None or {**typer_reading, "spaces": typer_reading["spaces"] or None} == early, argv
    assert EarlyStart(argv, early).confirm() is (typer_reading is not None)


def _check_argv(sim, *extra: str) -> list[str]:
    return ["check", sim.space_ids[0], "--endpoint", sim.endpoint, "--token", sim.tokens["owner"],
            "--dns-server", sim.dns_server, "--status-url", sim.status_url, *extra]


def test_a_run_typer_does_not_confirm_prints_nothing():
    """The early run started with values typer does not give (here: another --format): it is cancelled at the
    first wave, raises Refused and has written nothing, progress included."""
    from hfdiag.cli.check_run import run

    with Simulator("healthy-gradio") as sim:
        argv = _check_argv(sim, "--format", "json")
        values = {**read_check_args(argv), "fmt": "human"}
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err), pytest.raises(Refused):
            run(values, early=EarlyStart(argv, values))
    assert out.getvalue() == "" and err.getvalue() == ""


def _cli(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hfdiag", *argv], capture_output=True, text=True, cwd=ROOT,
                          env=cli_env(**env), timeout=60)


def test_early_and_usual_runs_give_the_same_report_and_progress():
    with Simulator("healthy-gradio") as sim:
        argv = _check_argv(sim, "--format", "json")  # progress on: plain lines on stderr (not a terminal)
        early, usual = _cli(argv), _cli(argv, HFDIAG_EARLY_START="0")
    assert early.returncode == usual.returncode == 0, early.stderr + usual.stderr
    a, b = json.loads(early.stdout), json.loads(usual.stdout)
    assert a["verdict"] == b["verdict"] and a["verdict"]["bucket"] == "healthy"
    assert [(p["probe"], p["status"]) for p in a["probes"]] == [(p["probe"], p["status"]) for p in b["probes"]]
    assert sorted(early.stderr.splitlines()) == sorted(usual.stderr.splitlines())
    assert any(line.startswith("hfdiag: space: ok") for line in early.stderr.splitlines())


@pytest.mark.parametrize("extra", [["--format", "bogus"], ["--markdown-flavor", "nope"], ["--sim-as", "nobody"],
                                   ["--concurrency", "0"]])
def test_rejected_command_lines_answer_as_without_the_early_start(extra):
    with Simulator("healthy-gradio") as sim:
        argv = _check_argv(sim, *extra)
        early, usual = _cli(argv), _cli(argv, HFDIAG_EARLY_START="0")
    assert (early.returncode, early.stdout, early.stderr) == (usual.returncode, usual.stdout, usual.stderr)
    assert early.returncode == 2 and early.stderr.startswith("hfdiag: error: ") and early.stderr.count("\n") == 1
