"""The composite Action, run the way a GitHub runner runs it, against the simulator over loopback.

What is real: every `run:` block of action.yml is written to a file and executed with `bash --noprofile --norc
-eo pipefail FILE` (GitHub's `shell: bash`), with the environment a runner gives it (GITHUB_OUTPUT per step,
GITHUB_STEP_SUMMARY, GITHUB_ENV, GITHUB_PATH, RUNNER_TEMP, RUNNER_OS, GITHUB_ACTIONS) and `${{ ... }}`
expressions (inputs, github.action_path, steps.*.outputs, secrets) substituted beforehand, as the runner does.
What is emulated: `uses: actions/cache` is not run (a cache miss), and the install step finds a virtual
environment already set up in RUNNER_TEMP (the suite's own, with the stamp of action/requirements.txt), so it
takes its reuse branch: installing from the index needs the network. The requirements file itself is checked
offline: every dependency of hfdiag[sim] pinned to the version installed here, with sha256 hashes, and accepted
by `pip install --require-hashes`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hfdiag.sim import Simulator
from tests.ci.conftest import sim_args
from tests.conftest import ROOT, cli_env

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
REQUIREMENTS = ROOT / "action" / "requirements.txt"
_EXPR = re.compile(r"\$\{\{(.*?)\}\}")


class Runner:
    """One job on an emulated runner: a RUNNER_TEMP, the job's files, step outputs."""

    def __init__(self, tmp: Path, secrets: dict[str, str] | None = None):
        self.tmp = tmp
        self.temp = tmp / "runner-temp"
        self.temp.mkdir()
        self.summary = tmp / "step_summary.md"
        self.summary.write_text("# earlier step\n", encoding="utf-8")
        self.secrets = secrets or {}
        self.log: list[subprocess.CompletedProcess] = []
        self._seed_venv()

    def _seed_venv(self) -> None:
        """The emulated part: the venv action/setup.sh would create, already there (the suite's interpreter)."""
        venv = self.temp / "hfdiag-venv"
        (venv / "bin").mkdir(parents=True)
        python = venv / "bin" / "python"
        python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n", encoding="utf-8")
        python.chmod(0o755)
        (venv / ".hfdiag-requirements").write_text(hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest() + "\n")

    def expr(self, text: str, ctx: dict) -> str:
        def value(m: re.Match) -> str:
            e = m.group(1).strip()
            if e == "github.action_path":
                return str(ROOT)
            if e == "runner.temp":
                return str(self.temp)
            head, _, rest = e.partition(".")
            if head == "inputs":
                return str(ctx["inputs"][rest])
            if head == "secrets":
                return self.secrets[rest]
            if head == "steps":
                sid, _, name = rest.partition(".outputs.")
                return ctx["steps"].get(sid, {}).get(name, "")
            raise AssertionError(f"expression the emulation does not know: {e}")
        return _EXPR.sub(value, text)

    def condition(self, cond: str | None, ctx: dict, failed: bool) -> bool:
        if cond is None:
            return not failed
        cond = _EXPR.sub(lambda m: m.group(1), str(cond)).strip()
        if cond == "always()":
            return True
        m = re.fullmatch(r"inputs\.([\w-]+) == '([^']*)'", cond)
        assert m, f"condition the emulation does not know: {cond}"
        return not failed and str(ctx["inputs"][m.group(1)]) == m.group(2)

    def run_block(self, script: str, env: dict, name: str) -> tuple[int, dict]:
        files = {k: self.tmp / f"{name}.{k.lower()}" for k in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}
        for f in files.values():
            f.write_text("")
        script_file = self.tmp / f"{name}.sh"
        script_file.write_text(script, encoding="utf-8")
        full = cli_env() | {"GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(self.temp), "RUNNER_OS": "Linux",
                            "RUNNER_ARCH": "X64", "GITHUB_STEP_SUMMARY": str(self.summary), "CI": "true",
                            "GITHUB_WORKSPACE": str(self.tmp)} | {k: str(v) for k, v in files.items()} | env
        p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
                           capture_output=True, text=True, env=full, cwd=self.tmp, timeout=120)
        self.log.append(p)
        return p.returncode, parse_output_file(files["GITHUB_OUTPUT"].read_text(encoding="utf-8"))

    def run_action(self, with_: dict, job_env: dict, name: str = "action") -> tuple[int, dict]:
        """action.yml's steps with these inputs; (exit status, the action's outputs)."""
        for key, spec in ACTION["inputs"].items():
            assert spec.get("required") or "default" in spec, key
        unknown = set(with_) - set(ACTION["inputs"])
        assert not unknown, f"inputs action.yml does not declare: {unknown}"
        inputs = {k: v.get("default", "") for k, v in ACTION["inputs"].items()} | with_
        ctx = {"inputs": inputs, "steps": {}}
        rc = 0
        for n, step in enumerate(ACTION["runs"]["steps"]):
            if not self.condition(step.get("if"), ctx, rc != 0):
                continue
            if "uses" in step:
                assert step["uses"].startswith("actions/cache@"), step  # the only action the composite uses
                assert self.expr(step["with"]["key"], ctx).startswith("hfdiag-pip-Linux-X64-")
                continue  # emulated as a cache miss
            assert step["shell"] == "bash"
            env = job_env | {k: self.expr(str(v), ctx) for k, v in (step.get("env") or {}).items()}
            rc, outputs = self.run_block(self.expr(step["run"], ctx), env, f"{name}-{n}")
            ctx["steps"][step.get("id", f"_{n}")] = outputs
        outputs = {k: self.expr(v["value"], ctx) for k, v in ACTION["outputs"].items()}
        return rc, outputs


def parse_output_file(text: str) -> dict:
    """$GITHUB_OUTPUT: `name=value` lines and `name<<DELIMITER` blocks."""
    out, lines = {}, text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


def run_workflow(runner: Runner, steps: list[dict], job_env: dict) -> list[tuple[int, dict]]:
    """The steps of a job: `uses: OWNER/hfdiag@...` runs action.yml, `run:` runs bash; stops on a failure
    except for `if: always()` steps."""
    ctx: dict = {"inputs": {}, "steps": {}}
    results, failed = [], False
    for n, step in enumerate(steps):
        if not runner.condition(step.get("if"), ctx, failed):
            continue
        if "uses" in step:
            assert re.fullmatch(r"OWNER/hfdiag@v\d+", step["uses"]), step["uses"]
            with_ = {k: runner.expr(str(v), ctx) for k, v in (step.get("with") or {}).items()}
            rc, outputs = runner.run_action(with_, job_env, f"step{n}")
        else:
            env = job_env | {k: runner.expr(str(v), ctx) for k, v in (step.get("env") or {}).items()}
            rc, outputs = runner.run_block(runner.expr(step["run"], ctx), env, f"step{n}")
        ctx["steps"][step.get("id", f"_{n}")] = outputs
        results.append((rc, outputs))
        failed = failed or rc != 0
    return results


def readme_ci_example() -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    example = next(b for b in blocks if "uses: OWNER/hfdiag@" in b)
    return yaml.safe_load(example)


@pytest.fixture(scope="module")
def zerogpu_sim():
    with Simulator("zerogpu-no-gpu-charged") as sim:
        yield sim


def test_readme_ci_example_runs_with_its_outputs(zerogpu_sim, tmp_path, validate_report):
    """The README's example, as a user pastes it: only the placeholders (OWNER/SPACE, the secret) get values,
    and three lines of `args` point it at the simulator instead of huggingface.co."""
    sim, sid = zerogpu_sim, zerogpu_sim.space_ids[0]
    token = sim.tokens["owner"]
    text = yaml.safe_dump(readme_ci_example(), sort_keys=False).replace("OWNER/SPACE", sid)
    steps = yaml.safe_load(text)
    step = next(s for s in steps if "uses" in s)
    assert '--zerogpu-data=["a prompt"]' in step["with"]["args"]  # the argument word splitting used to break
    step["with"]["args"] += "".join(f"{a}\n" for a in sim_args(sim))
    runner = Runner(tmp_path, secrets={"HF_TOKEN": token})
    results = run_workflow(runner, steps, {})
    (rc, outputs), (echo_rc, _) = results[0], results[1]
    assert rc == 1, [p.stderr for p in runner.log]  # zerogpu-settlement is a platform finding: the gate fails
    assert outputs["exit-code"] == "1"
    assert outputs["bucket"] == "zerogpu-settlement"
    assert re.fullmatch(r"HFD-ZGS-\d{3}", outputs["rule"])
    assert outputs["confidence"] in ("high", "medium", "low")
    assert outputs["summary"] and "\n" not in outputs["summary"]
    report = json.loads(Path(outputs["report-path"]).read_text(encoding="utf-8"))
    validate_report(report)
    assert report["target"] == sid and report["verdict"]["rule"] == outputs["rule"]
    assert Path(outputs["report-path"]).parent == runner.temp
    check_log = runner.log[-2]
    assert any(x.startswith("::error ") for x in check_log.stdout.splitlines()), check_log.stdout
    assert echo_rc == 0 and f"zerogpu-settlement ({outputs['rule']})" in runner.log[-1].stdout
    assert f"**hfdiag check `{sid}`: zerogpu-settlement" in runner.summary.read_text(encoding="utf-8")
    for p in runner.log:
        assert token not in p.stdout + p.stderr
    assert token not in json.dumps(outputs) + runner.summary.read_text(encoding="utf-8")


def test_usage_errors_are_annotations(zerogpu_sim, tmp_path):
    runner = Runner(tmp_path)
    base = {"space": zerogpu_sim.space_ids[0], "args": "\n".join(sim_args(zerogpu_sim))}
    rc, out = runner.run_action(base | {"fail-on": ""}, {}, "empty-fail-on")
    assert rc == 2 and out["exit-code"] == "2" and out["bucket"] == ""
    assert runner.log[-1].stdout.startswith("::error title=hfdiag action::hfdiag action: fail-on is empty")
    rc, out = runner.run_action(base | {"args": base["args"] + "\n--timeout=-1"}, {}, "bad-timeout")
    assert rc == 2 and out["exit-code"] == "2"
    errors = [x for x in runner.log[-1].stdout.splitlines() if x.startswith("::error")]
    assert errors and "--timeout must not be negative" in errors[-1], runner.log[-1].stdout
    rc, _ = runner.run_action(base | {"args": '["--timeout", '}, {}, "bad-list")
    assert rc == 2 and "args looks like a list" in runner.log[-1].stdout


def test_platform_gate_passes_an_app_failure_and_legacy_extra_args(app_sim, tmp_path):
    runner = Runner(tmp_path)
    quoted = " ".join(sim_args(app_sim)) + " --route-requests '2'"  # v1's input: shell quoting, not word splitting
    rc, out = runner.run_action({"space": app_sim.space_ids[0], "fail-on": "platform", "extra-args": quoted,
                                 "token": app_sim.tokens["owner"]}, {}, "legacy")
    assert rc == 0 and out["exit-code"] == "0" and out["bucket"] == "app", [p.stderr for p in runner.log]


def _action_run_module():
    spec = importlib.util.spec_from_file_location("hfdiag_action_run", ROOT / "action" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_args_input_forms_give_the_same_argv():
    parse = _action_run_module().parse_args_input
    lines = '--timeout=60\n  --zerogpu-data=["a prompt", "two words"]\n\n--transfer-file\ndatasets/o/d:a b.parquet\n'
    as_json = json.dumps(["--timeout=60", '--zerogpu-data=["a prompt", "two words"]', "--transfer-file",
                          "datasets/o/d:a b.parquet"])
    as_yaml = "- --timeout=60\n- '--zerogpu-data=[\"a prompt\", \"two words\"]'\n- --transfer-file\n- datasets/o/d:a b.parquet\n"
    assert parse(lines) == parse(as_json) == parse(as_yaml) == json.loads(as_json)
    assert parse("") == parse("\n  \n") == []


def _requirements() -> dict[str, tuple[str, list[str]]]:
    pins: dict[str, tuple[str, list[str]]] = {}
    text = REQUIREMENTS.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)", line)
        assert m, f"not a pinned, hashed requirement: {line[:80]}"
        pins[_norm(m.group(1))] = (m.group(2), re.findall(r"sha256:([0-9a-f]{64})", m.group(3)))
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_requirements_are_complete_pinned_and_hashed():
    """Every distribution hfdiag[sim] needs at run time (this interpreter's markers) is pinned to the version
    installed here, with sha256 hashes; nothing else is listed."""
    from importlib.metadata import distribution

    from packaging.requirements import Requirement

    pins = _requirements()
    needed: dict[str, str] = {}
    todo = [Requirement(r) for r in distribution("hfdiag").requires or []]
    todo = [r for r in todo if r.marker is None or r.marker.evaluate({"extra": "sim"})]
    todo = [r for r in todo if not _norm(r.name) == "hfdiag"]
    while todo:
        req = todo.pop()
        name = _norm(req.name)
        if name in needed:
            continue
        dist = distribution(req.name)
        needed[name] = dist.version
        for sub in dist.requires or []:
            r = Requirement(sub)
            if r.marker is None or r.marker.evaluate({"extra": ""}):
                todo.append(r)
    assert set(pins) == set(needed), (set(pins) ^ set(needed))
    for name, version in needed.items():
        assert pins[name][0] == version, (name, pins[name][0], version)
        assert pins[name][1], name


def test_pip_accepts_the_file_in_require_hashes_mode(tmp_path):
    """pip's own parser and resolver in --require-hashes mode, offline (--no-index): everything is already
    installed here, so pip would install nothing and fetches nothing."""
    report = tmp_path / "pip-report.json"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--require-hashes",
                        "--disable-pip-version-check", "-q", "-r", str(REQUIREMENTS), "--report", str(report)],
                       capture_output=True, text=True, timeout=120, env=os.environ | {"PIP_NO_INPUT": "1"})
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(report.read_text())["install"] == []


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
