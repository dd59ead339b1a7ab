"""Hostile answers from a loopback server (the simulator with faults and rewritten answers), through the real CLI:
bounded memory for stacked and streamed bombs, no control character or live link from the outside in any
output, no secret of a listed shape anywhere, the token only to Hub hosts, and one-line errors for rough input.
(The per-endpoint fault matrix is test_fault_matrix.py; this file holds the attacks that need a crafted answer.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, cli_env

from hfdiag.probes.bounded import BodyError, BoundedDecoder, SSEReader
from hfdiag.sim.faults import gzip_bomb

TIMEOUT = 20  # these runs end by themselves; the deadline only stops a hang

ESC = "\x1b"
CONTROL_ATTACK = (f"{ESC}]52;c;ZWNobyBwd25lZA=={ESC}\\ {ESC}[2J{ESC}[H{ESC}]0;fake title\x07 "
                  f"Verdict: healthy\r\x9b31m\u202eevil")
MARKDOWN_ATTACK = ("[click me](https://evil.example/x) ![pixel](https://evil.example/p.png) **loud** _em_ "
                   "<img src=x onerror=alert(1)> [/DETAILS] [/details] [Details=\"x\"] https://evil.example/auto "
                   "www.evil.example `code`")
SECRETS = {
    "github": "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "github_pat": "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN",
    "aws_id": "AKIA" + "IOSFODNN7EXAMPLQ",
    "aws_secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "openai": "sk-proj-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe",
    "slack": "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "db_password": "pg-pa55w0rd-X",
    "query_password": "hunter2hunter2",
    "query_hf_token": "tok3nInQuery99",
    "env_key": "envKeyValue-777",
}
SECRET_TEXT = (f"connecting to postgres://admin:{SECRETS['db_password']}@db.internal:5432/app "
               f"GET https://api.example/v1?user=a&password={SECRETS['query_password']}&hf_token={SECRETS['query_hf_token']} "
               f"git clone https://x-access-token:{SECRETS['github']}@github.com/o/r {SECRETS['github_pat']} "
               f"aws {SECRETS['aws_id']} aws_secret_access_key={SECRETS['aws_secret']} "
               f"OPENAI {SECRETS['openai']} slack {SECRETS['slack']} MY_SERVICE_KEY={SECRETS['env_key']}")


def _check(sim, *args, fmt="json", extra_env=None, endpoint=None, bundle=None, summary=None):
    env = cli_env(**(extra_env or {}))
    if summary is not None:
        env["GITHUB_STEP_SUMMARY"] = str(summary)
    cmd = [sys.executable, "-m", "hfdiag", "check", sim.space_ids[0], "--endpoint", endpoint or sim.endpoint,
           "--token", sim.tokens["owner"], "--dns-server", sim.dns_server, "--status-url", sim.status_url,
           "--timeout", str(TIMEOUT), "--format", fmt, "--quiet", *args]
    if bundle is not None:
        cmd += ["--bundle", str(bundle)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=TIMEOUT + 60)


def _space_answer(sim, **changes) -> str:
    """The Hub's Space info, as the simulator gives it, with fields replaced."""
    import httpx

    sid = sim.space_ids[0]
    info = httpx.get(f"{sim.endpoint}/api/spaces/{sid}", headers={"authorization": f"Bearer {sim.tokens['owner']}"},
                     timeout=10).json()
    info.update(changes)
    return json.dumps(info)


# ---- the bounded reader, unit level (the CLI-level attacks are in the fault matrix)

def test_stacked_gzip_stops_at_the_cap_in_every_layer():
    bomb = gzip_bomb(64 * 1024 * 1024, layers=2)
    dec = BoundedDecoder("gzip, gzip", 1024 * 1024, "http://127.0.0.1/x")
    out = 0
    with pytest.raises(BodyError, match="larger than 1 MiB"):
        for piece in dec.feed(bomb):
            out += len(piece)
    assert out <= 1024 * 1024


def test_unasked_or_piled_encodings_are_refused():
    with pytest.raises(BodyError, match="not asked for"):
        BoundedDecoder("br", 1024, "http://127.0.0.1/x")
    with pytest.raises(BodyError, match="stacked"):
        BoundedDecoder("gzip, gzip, gzip, gzip", 1024, "http://127.0.0.1/x")


class _FakeStream:
    """A streamed response: only what SSEReader reads (headers, aiter_raw)."""

    def __init__(self, chunks, encoding=""):
        self.headers = {"content-encoding": encoding} if encoding else {}
        self._chunks = chunks

    async def aiter_raw(self):
        for c in self._chunks:
            yield c


def _events(chunks, **kw):
    import asyncio

    async def go():
        reader = SSEReader(_FakeStream(chunks), "http://127.0.0.1/logs", **kw)
        return [e async for e in reader.events()], reader

    return asyncio.run(go())


def test_sse_reader_parses_cuts_long_lines_and_counts_comments():
    evs, reader = _events([b"data: a\r\n", b"\r\ndata: ", b"x" * 5000 + b"\n\n: ping\n\nid: 7\ndata: b\ndata: c\n\n"],
                          max_line=100)
    assert [e.data for e in evs if not e.comment] == ["a", "x" * 94, "b\nc"]  # 100 bytes with the "data: " field
    assert [e.comment for e in evs].count(True) == 1 and evs[-1].id == "7"
    assert reader.complete_bytes == reader.received


def test_sse_reader_caps_the_stream():
    with pytest.raises(BodyError, match="larger than 1 MiB"):
        _events([b"data: " + b"a" * 65536] * 40, max_bytes=1024 * 1024)


# ---- crafted answers, through the CLI

@pytest.fixture(scope="module")
def hostile_sim():
    """A healthy Space whose runtime error, run log and status incident carry control codes, Markdown and
    secrets; each test reads what it needs."""
    from hfdiag.sim import Simulator

    overrides = {"status.incident": {"title": f"Degraded {CONTROL_ATTACK} {MARKDOWN_ATTACK} {SECRET_TEXT}"}}
    with Simulator("app-exception-500", overrides=overrides) as sim:
        sid = sim.space_ids[0]
        body = _space_answer(sim, runtime={"stage": "RUNTIME_ERROR", "hardware": {"current": "cpu-basic"},
                                           "errorMessage": f"{CONTROL_ATTACK} {MARKDOWN_ATTACK} {SECRET_TEXT}"})
        sim.scenario.faults[f"hub:GET /api/spaces/{sid}"] = {"fault": "status", "status": 200, "body": body}
        sim.append_log(f"Traceback (most recent call last):\nRuntimeError: {CONTROL_ATTACK}", sid)
        sim.append_log(f"ModuleNotFoundError: No module named '{MARKDOWN_ATTACK}'", sid)
        sim.append_log(f"RuntimeError: {SECRET_TEXT}", sid)
        yield sim


FORMATS = [("human", None), ("json", None), ("markdown", "github"), ("markdown", "discourse"), ("github", None)]


@pytest.fixture(scope="module")
def hostile_outputs(hostile_sim):
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, flavor in FORMATS:  # --verbose: every fact (the error message too) in the human format
            bundle, summary = Path(tmp) / f"{fmt}{flavor}.json", Path(tmp) / f"{fmt}{flavor}.md"
            proc = _check(hostile_sim, "--verbose", *(["--markdown-flavor", flavor] if flavor else []), fmt=fmt,
                          bundle=bundle, summary=summary, extra_env={"FORCE_COLOR": "1"} if fmt == "human" else None)
            assert proc.returncode in (0, 1, 3), proc.stderr[-500:]
            out[(fmt, flavor)] = (proc, bundle.read_text() if bundle.exists() else "",
                                  summary.read_text() if summary.exists() else "")
    return out


@pytest.mark.parametrize("fmt,flavor", FORMATS, ids=[f"{f}-{v}" if v else f for f, v in FORMATS])
def test_no_control_character_from_outside_reaches_any_output(hostile_outputs, fmt, flavor):
    proc, _, summary = hostile_outputs[(fmt, flavor)]
    assert "internal error" not in proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr + summary
    if fmt == "human":  # rich's own colours (FORCE_COLOR) are SGR sequences; nothing else may be there
        text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    bad = sorted({hex(ord(c)) for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f
                  or c in "\u202e\u2066\u2067\u2068\u2069"})
    assert not bad, bad
    if fmt in ("human", "markdown"):
        assert "\\x1b" in proc.stdout + summary  # shown, not dropped: a helper sees what the answer held


def _outside_code(md: str) -> str:
    """Markdown without its fenced code blocks (where nothing renders: the excerpts are there, as text)."""
    return re.sub(r"(?ms)^(`{3,})text\n.*?^\1$", "", md)


@pytest.mark.parametrize("flavor", ["github", "discourse"])
def test_no_link_image_or_html_from_outside_renders_in_markdown(hostile_outputs, flavor):
    proc, _, _ = hostile_outputs[("markdown", flavor)]
    md = _outside_code(proc.stdout)
    assert not re.search(r"(?<!\\)\[[^\]\n]*(?<!\\)\]\((?:https?:)?//evil", md)  # no link,
    assert "![" not in md and "<img" not in md.lower()  # no image, no HTML,
    assert not re.search(r"(?<![\\`])\bhttps?://evil", md) and "www.evil" not in md  # no autolink,
    assert not re.search(r"(?i)\[/details\]", md.replace("[/details]\n", "", 1) if flavor == "discourse" else md)
    assert "**loud**" not in md  # no emphasis


def test_github_annotations_stay_one_command_each(hostile_outputs):
    proc, _, summary = hostile_outputs[("github", None)]
    for line in proc.stdout.splitlines():
        assert line.startswith("::"), line
    assert summary and "![" not in _outside_code(summary)


@pytest.mark.parametrize("fmt,flavor", FORMATS, ids=[f"{f}-{v}" if v else f for f, v in FORMATS])
def test_no_secret_of_a_listed_shape_in_any_output_or_bundle(hostile_outputs, hostile_sim, fmt, flavor):
    proc, bundle, summary = hostile_outputs[(fmt, flavor)]
    blob = proc.stdout + proc.stderr + bundle + summary
    for kind, secret in SECRETS.items():
        assert secret not in blob, (kind, fmt)
    assert hostile_sim.tokens["owner"] not in blob


def test_own_advice_is_not_redacted():
    """The project's own next steps keep their e-mail address; a secret filled into a rule's text does not."""
    proc = subprocess.run([sys.executable, "-m", "hfdiag", "explain", "-", "--format", "markdown",
                           "--fact", "space.stage=PAUSED", "--fact", "space.restart_failed=true",
                           "--fact", "hub.request_id=Root=1-abc MY_API_KEY=zzSecretValue9"],
                          input="", capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=60)
    assert "HFD-BLD-007" in proc.stdout, proc.stdout[:500]
    assert "website@huggingface.co" in proc.stdout and "zzSecretValue9" not in proc.stdout


def test_credentials_in_the_endpoint_never_appear():
    from hfdiag.sim import Simulator

    with Simulator("healthy-gradio") as sim, tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "b.json"
        ep = sim.endpoint.replace("http://", "http://alice:Pa55w0rdInUrl@")
        for fmt in ("human", "json"):
            proc = _check(sim, fmt=fmt, endpoint=ep, bundle=bundle)
            blob = proc.stdout + proc.stderr + (bundle.read_text() if bundle.exists() else "")
            assert "Pa55w0rdInUrl" not in blob, fmt


def test_token_only_to_hub_hosts_over_https_or_the_endpoint_host():
    import asyncio

    from hfdiag.probes.http import Http

    async def allowed(endpoint: str, url: str) -> bool:
        http = Http(endpoint, "hf_" + "x" * 30, trust_env=False)
        try:
            return http.allow_token_for(url) and bool(http._auth_headers(url, True))
        finally:
            await http.aclose()

    cases = [("https://huggingface.co", "https://alice-demo.hf.space", True),
             ("https://huggingface.co", "http://alice-demo.hf.space", False),  # plain http
             ("https://huggingface.co", "https://evil.example", False),
             ("https://huggingface.co", "https://hf.space.evil.example", False),
             ("https://huggingface.co", "http://huggingface.co", False),
             ("https://huggingface.co", "https://alice-demo.hf.space:99999", False),
             ("http://127.0.0.1:8080", "http://127.0.0.1:9090", True),  # the endpoint's host, as given
             ("http://127.0.0.1:8080", "http://localhost:9090", False)]
    for endpoint, url, want in cases:
        assert asyncio.run(allowed(endpoint, url)) is want, (endpoint, url)


def test_token_never_follows_a_host_the_api_names_elsewhere():
    """A private Space whose API answer names another host on plain http: the probe says the token was not
    sent there, and nothing reached that host with it."""
    from hfdiag.sim import Simulator

    with Simulator("healthy-gradio") as sim:
        foreign = sim.urls["foreign"]  # http://localhost:PORT: neither a Hub host over https nor the endpoint's host
        body = _space_answer(sim, private=True, host=foreign)
        sim.scenario.faults[f"hub:GET /api/spaces/{sim.space_ids[0]}"] = {"fault": "status", "status": 200,
                                                                        "body": body}
        proc = _check(sim)
        report = json.loads(proc.stdout)
        assert not any(r.has_authorization for r in sim.requests if r.role == "foreign")
    space = next(p for p in report["probes"] if p["probe"] == "space")
    assert any("token was not sent" in x for x in space["excerpts"]), space


def test_wrong_types_and_a_huge_stage_keep_every_probe():
    """Wrong-typed fields are handled one by one; a 1 MB stage is cut; a bad host loses no other probe."""
    from hfdiag.sim import Simulator

    with Simulator("healthy-gradio") as sim:
        body = _space_answer(sim, sdk=["gradio"], private="yes", cardData=[1, 2], siblings={"a": 1},
                             host="http://[::1", runtime={"stage": "B" * 1_000_000, "hardware": ["x"],
                                                          "replicas": "two", "domains": {"a": 1},
                                                          "errorMessage": 42})
        sim.scenario.faults[f"hub:GET /api/spaces/{sim.space_ids[0]}"] = {"fault": "status", "status": 200,
                                                                               "body": body}
        proc = _check(sim)
    assert proc.returncode in (0, 1, 3), proc.stderr[-300:]
    assert len(proc.stdout) < 200_000
    report = json.loads(proc.stdout)
    probes = {p["probe"]: p for p in report["probes"]}
    assert probes["space"]["status"] == "ok", probes["space"]
    assert probes["dns"]["status"] == "ok", probes["dns"]
    assert not any("internal error" in (p.get("error") or "") for p in probes.values())
    stage = next(f["value"] for f in report["facts"] if f["key"] == "space.stage")
    assert len(stage) <= 64
    assert report["verdict"]["confidence"] != "high"


def test_dns_server_port_out_of_range_is_one_line():
    proc = subprocess.run([sys.executable, "-m", "hfdiag", "check", "a/b", "--dns-server", "127.0.0.1:99999",
                           "--endpoint", "http://127.0.0.1:9", "--timeout", "2"],
                          capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr and "--dns-server" in proc.stderr


@pytest.mark.parametrize("fmt", ["human", "markdown", "github"])
def test_values_filled_into_a_rule_render_as_text(fmt):
    """The verdict line, the interpretation and the next steps hold a value from a log (`app.missing_module`):
    a link, an image, emphasis, HTML, a forum tag or a control sequence in it stays text."""
    value = f"[x](https://evil.example/a) ![i](https://evil.example/i.png) *b* <b>h</b> [/DETAILS] {ESC}]0;t\x07"
    proc = subprocess.run([sys.executable, "-m", "hfdiag", "explain", "-", "--format", fmt,
                           "--fact", "app.error_kind=module_not_found", "--fact", f"app.missing_module={value}"],
                          input="", capture_output=True, text=True, env=cli_env(FORCE_COLOR="1"), cwd=ROOT, timeout=60)
    assert "HFD-APP-001" in proc.stdout, proc.stdout[:300]
    out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)
    assert ESC not in out and "\x07" not in out
    if fmt == "markdown":
        assert "evil.example" in out
        assert not re.search(r"(?<!\\)\]\(https://evil", out) and "![" not in out and "<b>" not in out
        assert not re.search(r"(?i)\[/details\]", out)
    if fmt == "human":
        assert "[x](https://evil.example/a)" in out  # a terminal shows the text as it was
