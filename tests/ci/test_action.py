"""The composite Action's own command line, run as GitHub would (inputs -> env, the exact `run:` text), against
the simulator: annotations on stdout, the job summary appended to $GITHUB_STEP_SUMMARY, the exit-code output."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import yaml

from tests.ci.conftest import sim_args
from tests.conftest import ROOT, cli_env

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())


def _expr(value: str, inputs: dict) -> str:
    """Substitute `${{ inputs.NAME }}` (and github.action_path) the way the runner does."""
    def sub(m):
        expr = m.group(1).strip()
        if expr.startswith("inputs."):
            return str(inputs[expr[len("inputs."):]])
        if expr == "github.action_path":
            return str(ROOT)
        raise AssertionError(f"unexpected expression {expr}")
    return re.sub(r"\$\{\{(.*?)\}\}", sub, value)


def run_step(step_id: str, given: dict, extra_env: dict) -> subprocess.CompletedProcess:
    inputs = {k: v.get("default", "") for k, v in ACTION["inputs"].items()} | given
    step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == step_id)
    assert step["shell"] == "bash"
    env = cli_env(**extra_env) | {k: _expr(str(v), inputs) for k, v in step.get("env", {}).items()}
    env["PYTHONPATH"] = str(ROOT)  # the install step's result: hfdiag importable from the action's checkout
    return subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=60)


def test_action_shape():
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) >= {"space", "token", "fail-on", "wait", "extra-args"}
    check = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "check")
    assert "inputs.token" not in check["run"] and "HF_TOKEN" not in check["run"]  # never on the command line
    assert check["env"]["HF_TOKEN"] == "${{ inputs.token }}"
    install = ACTION["runs"]["steps"][0]
    assert "HFDIAG_ACTION_PATH" in install["run"] and install["env"]["HFDIAG_ACTION_PATH"] == "${{ github.action_path }}"


def test_action_command_line_against_the_simulator(app_sim, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    output = tmp_path / "output.txt"
    token = app_sim.tokens["owner"]
    sid = app_sim.space_ids[0]
    p = run_step("check", {
        "space": sid, "token": token, "fail-on": "any", "wait": "0", "python": sys.executable,
        "extra-args": " ".join(sim_args(app_sim) + ["--timeout", "20"]),
    }, {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output), "GITHUB_ACTIONS": "true"})
    assert p.returncode == 1, p.stderr  # an app finding fails the step under fail-on any
    lines = p.stdout.splitlines()
    assert lines and all(line.startswith("::") for line in lines), p.stdout
    errors = [x for x in lines if x.startswith("::error ")]
    assert errors, p.stdout
    m = re.match(r"^::error title=([^:]*),?.*?::(.*)$", errors[0])
    assert m, errors[0]
    assert f"hfdiag {sid}%3A app (HFD-APP-" in m.group(1)  # ':' escaped inside the property
    assert "\n" not in errors[0] and "%0A" not in m.group(1)
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# earlier step\n")  # appended, never truncated
    assert f"**hfdiag check `{sid}`: app (" in text
    assert "| chain |" in text and "<details><summary>" in text and "Redaction:" in text
    assert output.read_text().strip() == "exit-code=1"
    for blob in (p.stdout, p.stderr, text):
        assert token not in blob


def test_action_platform_gate_passes_an_app_failure(app_sim, tmp_path):
    summary = tmp_path / "summary.md"
    p = run_step("check", {
        "space": app_sim.space_ids[0], "token": app_sim.tokens["owner"], "fail-on": "platform", "python": sys.executable,
        "extra-args": " ".join(sim_args(app_sim)),
    }, {"GITHUB_STEP_SUMMARY": str(summary)})
    assert p.returncode == 0, p.stderr
    assert summary.read_text(encoding="utf-8").count("**hfdiag check") == 1


def test_github_format_escaping_and_unwritable_summary(tmp_path):
    from tests.conftest import run_cli

    evil = "pkg%25,x:y\r\nnext::error::injected"
    summary = tmp_path / "nodir" / "summary.md"
    p = run_cli("explain", "-", "--format", "github", "--fact", "app.error_kind=module_not_found",
                "--fact", f"app.missing_module={evil}", input="",
                env=cli_env(GITHUB_STEP_SUMMARY=str(summary)))
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    assert all(x.startswith("::") for x in lines) and len(lines) >= 1
    err = next(x for x in lines if x.startswith("::error"))
    assert "pkg%2525,x:y%0D%0Anext::error::injected" in err  # data: %, CR, LF escaped; one line
    assert "cannot write the job summary" in p.stderr


def test_github_annotations_are_capped(tmp_path):
    from hfdiag.render.github import MAX_PER_LEVEL, annotations

    findings = [{"id": f"HFD-APP-{i:03d}", "bucket": "app", "status": "match", "title": "t", "because": "b",
                 "severity": "error", "knowledge": "explained", "confidence": "high"} for i in range(15)]
    report = {"target": "a/b", "verdict": {"bucket": "app", "confidence": "high", "knowledge": "explained",
                                           "rule": "HFD-APP-000", "summary": "s"}, "findings": findings}
    out = annotations(report)
    assert sum(x.startswith("::error") for x in out) == MAX_PER_LEVEL
    assert out[-1].startswith("::notice") and "5 more findings" in out[-1]
    assert os.linesep not in "".join(out)
