"""Secrets never leave the process: property-based tests over random hf tokens, JWTs, signed URLs (CloudFront,
S3, Xet), cookies, Authorization headers and e-mail addresses, placed anywhere in pasted text, run logs, the
runtime errorMessage, error bodies of the Hub and the status page, in every output format and in bundles."""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from conftest import ROOT, cli_env
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from .secrets_strategies import placed, secrets, spelled_by_chance

FORMATS = [("human", None), ("json", None), ("markdown", "github"), ("markdown", "discourse"), ("github", None)]


@settings(max_examples=300, deadline=None)
@given(placed())
def test_redactor_removes_every_secret_wherever_it_sits(p):
    from hfdiag.redact import Redactor

    line, secret = p
    r = Redactor()
    assert secret not in r.text(line)
    assert secret not in json.dumps(r.obj({"k": [line, {"nested": line}], line: 1}))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(placed(), min_size=1, max_size=3))
def test_pasted_text_never_reaches_any_output_format(items):
    """`explain` in-process (the library the CLI calls) over pasted text, rendered in every format."""
    from hfdiag.cli.emit import emit
    from hfdiag.engine.knowledge import load_knowledge
    from hfdiag.environment import Environment
    from hfdiag.explain import explain_report, read_input
    from hfdiag.redact import Redactor

    assume(not spelled_by_chance(items))
    kb = load_knowledge()
    text = "\n".join(line for line, _ in items) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.md"
        outputs = []
        for fmt, flavor in FORMATS:
            stdin = io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8")
            report = explain_report(read_input("-", kb, stdin), kb, [], Redactor())
            env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdin=stdin,
                              environ={"NO_COLOR": "1", "GITHUB_STEP_SUMMARY": str(summary)}, width=100)
            emit(report, env, fmt, markdown_flavor=flavor or "github", verbose=True)
            outputs += [env.stdout.getvalue(), env.stderr.getvalue(), json.dumps(report)]
        outputs.append(summary.read_text() if summary.exists() else "")
    blob = "\n".join(outputs)
    for _, secret in items:
        assert secret not in blob


def _scenario_file(tmp: Path, error_message: str) -> Path:
    doc = {
        "name": "secrets", "description": "A Space whose every answer carries secrets.",
        "expect": {"bucket": "runtime", "first_missing_hop": None, "knowledge": None},
        "spaces": [{"id": "simuser/leaky", "sdk": "gradio", "stage": "RUNTIME_ERROR", "hardware": "cpu-basic",
                    "error_message": error_message}],
    }
    path = tmp / "secrets.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(secrets, min_size=6, max_size=6))
def test_check_outputs_and_bundles_never_carry_secrets(items):
    """The real `check` (subprocess) against a Space whose errorMessage, run and build logs, log-endpoint error
    body and status-page incident carry secrets, plus the --token itself: four formats, each with --bundle."""
    import subprocess

    from hfdiag.sim import Simulator, load_scenario

    assume(not spelled_by_chance(items))
    texts = [t for t, _ in items]
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        scenario = load_scenario(_scenario_file(tmp, f"Exit code: 1. Reason: {texts[0]} RuntimeError: boom"))
        overrides = {
            "status.incident": {"title": f"Spaces degraded, contact {texts[1]}"},
            "faults": {"hub:GET /api/spaces/*/logs/build": {"fault": "status", "status": 403,
                                                            "body": json.dumps({"error": f"denied {texts[2]}"})}},
        }
        with Simulator(scenario, overrides=overrides) as sim:
            sid = sim.space_ids[0]
            sim.append_log(f"Traceback (most recent call last):\nRuntimeError: upstream said {texts[3]}", sid)
            sim.append_log(f"ModuleNotFoundError: No module named 'x' {texts[4]}", sid)
            sim.append_log(f"INFO: GET /?{texts[5]} 500", sid)
            secrets_out = [s for _, s in items] + [sim.tokens["owner"]]

            def one(fmt: str) -> tuple[str, str]:
                bundle, summary = tmp / f"b-{fmt}.json", tmp / f"s-{fmt}.md"
                proc = subprocess.run(
                    [sys.executable, "-m", "hfdiag", "check", sid, "--endpoint", sim.endpoint, "--token",
                     sim.tokens["owner"], "--dns-server", sim.dns_server, "--status-url", sim.status_url,
                     "--timeout", "20", "--format", fmt, "--quiet", "--verbose", "--bundle", str(bundle)],
                    capture_output=True, text=True, cwd=ROOT, timeout=60,
                    env=cli_env(GITHUB_STEP_SUMMARY=str(summary)))
                assert proc.returncode in (0, 1, 3), proc.stderr
                assert bundle.exists(), proc.stderr
                return fmt, proc.stdout + proc.stderr + bundle.read_text() + (
                    summary.read_text() if summary.exists() else "")

            with ThreadPoolExecutor(4) as pool:
                for fmt, blob in pool.map(one, ("json", "human", "markdown", "github")):
                    for secret in secrets_out:
                        assert secret not in blob, (fmt, secret)
                    assert "REDACTED" in blob


def test_every_secret_kind_is_exercised():
    """Guard against a strategy silently losing a kind (e.g. a filter that rejects everything)."""
    from hypothesis import find

    for needle in ("hf_", "eyJ", "X-Amz-Signature", "Key-Pair-Id", "X-Xet", "Cookie", "@", "Bearer", "ghp_", "AKIA",
                   "sk-proj-", "xoxb-", "postgres://", "password=", "_KEY="):
        t0 = time.monotonic()
        assert needle.lower() in find(secrets, lambda s, n=needle: n.lower() in s[0].lower())[0].lower()
        assert time.monotonic() - t0 < 30
