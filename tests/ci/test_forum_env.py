"""Forum paste (`--format markdown`) and `hfdiag env`: ready to paste, redacted, the token never printed."""

from __future__ import annotations

import json

from tests.ci.conftest import sim_args
from tests.conftest import cli_env, run_cli

TOKEN = "hf_" + "A" * 34
PASTE = (f"Authorization: Bearer {TOKEN}\nTraceback (most recent call last):\n  File \"/home/user/app/app.py\", line 1\n"
         "ModuleNotFoundError: No module named 'torch'\n<script>alert(1)</script> [/details] </details>\n")


def test_markdown_paste_github_flavor():
    p = run_cli("explain", "-", "--format", "markdown", input=PASTE)
    out = p.stdout
    first = out.splitlines()[0]
    assert first.startswith("**hfdiag explain") and first.endswith("**")  # one-line verdict
    assert "| kind | fact / finding | value / because | from |" in out  # facts vs interpretation
    assert "| observed |" in out and "| **interpretation** |" in out
    assert "<details><summary>" in out and out.count("<details>") == out.count("</details>")
    assert "<script>" not in out  # outside text cannot inject HTML or close the folding
    assert "hfdiag " in out and "Python " in out and "huggingface_hub" in out  # versions
    report = json.loads(run_cli("explain", "-", "--format", "json", input=PASTE).stdout)
    assert f"Redaction: {report['redaction']['summary']}" in out  # the line saying what was redacted
    assert TOKEN not in out


def test_markdown_paste_discourse_flavor_and_chain(app_sim):
    env = cli_env(HF_TOKEN=app_sim.tokens["owner"])
    p = run_cli("check", app_sim.space_ids[0], *sim_args(app_sim), "-q", "--format", "markdown",
                "--markdown-flavor", "discourse", env=env)
    out = p.stdout
    assert out.startswith("**hfdiag check `")
    assert "| chain | hops" in out and "evidence stops at" in out
    assert '[details="Details: findings and probes"]' in out and out.count("[/details]") == 1
    assert app_sim.tokens["owner"] not in out


def test_env_with_token_and_whoami(app_sim):
    token = app_sim.tokens["owner"]
    env = cli_env(HF_TOKEN=token, HF_HUB_DISABLE_TELEMETRY="1", HF_SECRET_KEY="s3cr3t-value",
                  HTTPS_PROXY="http://bob:pa55word@proxy.example:3128", NO_PROXY="localhost")
    before = len(app_sim.requests.find(path_contains="/api/whoami-v2"))
    human = run_cli("env", "--endpoint", app_sim.endpoint, env=env)
    assert human.returncode == 0, human.stderr
    assert len(app_sim.requests.find(path_contains="/api/whoami-v2")) == before + 1  # exactly one whoami call
    assert "present (from HF_TOKEN)" in human.stdout and "simuser" in human.stdout
    assert "HF_HUB_DISABLE_TELEMETRY" in human.stdout and "[set, redacted]" in human.stdout
    js = run_cli("env", "--endpoint", app_sim.endpoint, "--format", "json", env=env)
    doc = json.loads(js.stdout)
    assert doc["hub"]["token_present"] is True and doc["hub"]["user"] == "simuser"
    assert doc["hub_variables"]["HF_TOKEN"] == "[set, redacted]"
    assert doc["hub_variables"]["HF_SECRET_KEY"] == "[set, redacted]"
    assert "pa55word" not in js.stdout and "proxy.example:3128" in doc["proxies"]["HTTPS_PROXY"]
    assert set(doc["libraries"]) >= {"huggingface_hub", "gradio", "hf_xet"}
    md = run_cli("env", "--endpoint", app_sim.endpoint, "--format", "markdown", env=env)
    assert md.stdout.startswith("**hfdiag env**") and "<details>" in md.stdout
    for out in (human.stdout, js.stdout, md.stdout, human.stderr, js.stderr, md.stderr):
        assert token not in out and "s3cr3t-value" not in out and "pa55word" not in out


def test_env_without_token_makes_no_call(app_sim, tmp_path):
    before = len(app_sim.requests)
    p = run_cli("env", "--endpoint", app_sim.endpoint, "--format", "json", env=cli_env(HF_HOME=str(tmp_path)))
    doc = json.loads(p.stdout)
    assert p.returncode == 0 and doc["hub"]["token_present"] is False and "user" not in doc["hub"]
    assert len(app_sim.requests) == before


def test_env_bad_token_is_reported_not_fatal(app_sim):
    p = run_cli("env", "--endpoint", app_sim.endpoint, "--format", "json",
                env=cli_env(HF_TOKEN="hf_" + "Z" * 34))
    doc = json.loads(p.stdout)
    assert p.returncode == 0 and doc["hub"]["token_valid"] is False and "whoami_error" in doc["hub"]
