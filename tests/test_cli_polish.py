"""The command line answers a newcomer's mistakes plainly: help without Python types, a bare command shows its
help, wrong --fact keys and values and unknown buckets are refused with a suggestion, options that would be
ignored are refused, a JSON report is not taken for prose, and explain says it waits for a paste."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, cli_env, run_cli

COMMANDS = [["check"], ["explain"], ["scan"], ["sim"], ["egress"], ["preflight"], ["env"], ["rules", "list"],
            ["rules", "show"], ["rules", "test"], ["rules", "lint"]]


@pytest.mark.parametrize("args", [[], ["rules"]])
def test_a_bare_command_prints_its_help_not_an_error(args):
    p = run_cli(*args)
    assert p.returncode == 2
    assert p.stderr.startswith(f"Usage: hfdiag {' '.join(args)}".rstrip() + " ")
    assert "error" not in p.stderr.splitlines()[0] and "Commands" in p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_help_names_arguments_plainly_and_every_option_says_what_it_does(args):
    p = run_cli(*args, "--help")
    assert p.returncode == 0, p.stderr
    usage = p.stdout.splitlines()[0]
    assert "{" not in usage and "<" not in usage, usage
    assert "<list[" not in p.stdout
    lines = p.stdout.splitlines()
    for n, line in enumerate(lines):
        stripped = line.strip()
        if line.startswith("  -") and "  " not in stripped:  # an option row with nothing beside it
            following = lines[n + 1] if n + 1 < len(lines) else ""
            assert following.startswith(" " * 10), f"{args}: {line!r} has no help text"


def test_an_empty_fail_on_is_refused():
    p = run_cli("explain", "-", "--fail-on", "", input="")
    assert p.returncode == 2 and "--fail-on is empty" in p.stderr


def test_rules_list_bucket_is_checked():
    p = run_cli("rules", "list", "--bucket", "nosuch")
    assert p.returncode == 2 and "--bucket 'nosuch': not a rule bucket" in p.stderr and p.stdout == ""
    p = run_cli("rules", "list", "--bucket", "buidler")
    assert p.returncode == 2 and "did you mean 'builder'" in p.stderr
    p = run_cli("rules", "list", "--bucket", "builder")
    assert p.returncode == 0 and p.stdout and all(" builder " in x for x in p.stdout.splitlines())


@pytest.mark.parametrize("fact, said", [
    ("nonsense.key=1", "--fact nonsense.key: not a fact hfdiag knows"),
    ("space.stag=RUNNING", "did you mean space.stage?"),
    ("space.stage=FOO", "--fact space.stage=FOO: not a known value"),
    ("space.stage=runing", "did you mean RUNNING?"),
    ("build_log.lines=many", "expected a whole number"),
])
def test_fact_keys_and_values_are_validated(fact, said):
    p = run_cli("explain", "-", "--fact", fact, input="")
    assert p.returncode == 2 and said in p.stderr and p.stdout == "", p.stderr
    assert len(p.stderr.splitlines()) == 1


def test_valid_facts_are_accepted_and_the_stage_list_matches_the_probe():
    from hfdiag.probes.space import KNOWN_STAGES

    p = run_cli("explain", "-", "--fact", "space.stage=RUNTIME_ERROR", "--fact", "space.hardware=zero-a10g",
                "--format", "json", input="")
    assert p.returncode in (0, 1, 3), p.stderr
    catalog = yaml.safe_load((ROOT / "rules" / "facts.yaml").read_text())["facts"]
    assert set(catalog["space.stage"]["values"]) == KNOWN_STAGES


@pytest.mark.parametrize("args", [["explain", "-"], ["check", "--sim", "healthy-gradio"], ["env"]])
def test_markdown_flavor_without_markdown_is_refused(args):
    p = run_cli(*args, "--markdown-flavor", "discourse", input="")
    assert p.returncode == 2 and "--markdown-flavor goes with --format markdown" in p.stderr, p.stderr
    assert p.stdout == ""


def test_a_json_report_given_to_explain_is_recognised(tmp_path):
    report = run_cli("check", "--sim", "healthy-gradio", "--format", "json", "-q")
    assert report.returncode == 0, report.stderr
    for text in (report.stdout, report.stdout.replace("\n", "") + "\n"):  # indented, and as one JSON line
        path = tmp_path / "report.json"
        path.write_text(text, encoding="utf-8")
        p = run_cli("explain", str(path))
        assert p.returncode == 2 and "this is an hfdiag report" in p.stderr and "--bundle" in p.stderr
        assert p.stdout == ""


def test_explain_on_a_terminal_says_it_waits_for_a_paste():
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "hfdiag", "explain", "--format", "json"], stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), cwd=ROOT)
    os.close(slave)
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 60)  # the hint comes before any input
        assert ready
        hint = proc.stderr.readline().decode()
        assert "paste it, then press Ctrl-D" in hint
        os.write(master, b"ModuleNotFoundError: No module named 'flash_attn'\n\x04")
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert proc.returncode == 1 and b'"bucket": "app"' in out
