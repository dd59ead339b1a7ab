"""Property tests: whatever a value from outside holds (control characters, Markdown, HTML, forum tags, secrets),
every output format shows it as text for its sink. Values enter where a log's do: a fact filled into the
winning rule's `because` and next steps, the facts table, a probe's error and excerpts, the target."""

from __future__ import annotations

import io
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hfdiag.environment import Environment
from hfdiag.evidence.model import ProbeResult
from hfdiag.explain import ExplainInput, explain_report, parse_fact_args
from hfdiag.redact import Redactor
from hfdiag.render import github, human, json_out, markdown

from .secrets_strategies import other_tokens

HOSTILE_PIECES = st.sampled_from([
    "\x1b]52;c;aGk=\x07", "\x1b[2J", "\x1b]0;title\x07", "\r", "\x9b31m", "\u202e", "\x00", "\x7f", "\x08",
    "[link](https://evil.example)", "![img](https://evil.example/i.png)", "**bold**", "_em_", "`code`",
    "<img src=x>", "<script>", "[/details]", "[/DETAILS]", "[Details=\"x\"]", "https://evil.example/auto",
    "www.evil.example", "| cell |", "\n# heading\n", "::error::x", "%0A", "\\", "&amp;",
])
HOSTILE = st.lists(st.one_of(HOSTILE_PIECES, st.text(max_size=8)), min_size=1, max_size=6).map("".join)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _report(value: str, secret: str) -> dict:
    from hfdiag.engine.knowledge import load_knowledge

    kb = load_knowledge()
    facts = parse_fact_args(["app.error_kind=module_not_found", f"app.missing_module={value} {secret}"], kb)
    probe = ProbeResult("logs", status="error", error=f"/logs/run: {value} {secret}", excerpts=[f"run_log: {value}"])
    inp = ExplainInput(name=value or "x", facts=[], probes=[probe], text=None)
    return explain_report(inp, kb, facts, Redactor())


def _render(module, report, **kw) -> str:
    out = io.StringIO()
    env = Environment(stdout=out, stderr=io.StringIO(), environ={"NO_COLOR": "1"}, stdout_isatty=False,
                      stderr_isatty=False, width=100)
    module.render(report, env, **kw)
    return out.getvalue()


def _outside_code(md: str) -> str:
    """Markdown without code blocks and code spans (nothing renders in them), where escaped backticks stay."""
    md = re.sub(r"(?ms)^(`{3,})text\n.*?^\1$", "", md)
    return re.sub(r"(?<![\\`])(`+)(?!`).*?(?<!`)\1(?!`)", "", md)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=HOSTILE, secret=other_tokens)
def test_every_format_neutralises_outside_text(value, secret):
    report = _report(value, secret)
    assert report["verdict"]["rule"] == "HFD-APP-001"
    outputs = {
        "human": _render(human, report, verbose=True),
        "json": _render(json_out, report),
        "markdown-github": _render(markdown, report, markdown_flavor="github"),
        "markdown-discourse": _render(markdown, report, markdown_flavor="discourse"),
        "github": _render(github, report),
    }
    for fmt, text in outputs.items():
        assert not CONTROL.search(text.replace("\t", "")), (fmt, text)
        assert secret not in text, fmt
    for fmt in ("markdown-github", "markdown-discourse"):
        md = _outside_code(outputs[fmt])
        assert not re.search(r"(?<!\\)\]\((?:https?:)?//evil", md), md
        assert "![" not in md and "<img" not in md and "<script" not in md
        assert not re.search(r"(?i)(?<!\\)\[/details(?<!\\)\]", md.replace("[/details]", "", 1 if "discourse" in fmt
                                                                           else 0))
        assert not re.search(r"(?<![\\`])\bhttps?://evil|www\.evil", md)
    for line in outputs["github"].splitlines():
        assert line.startswith("::") and line.count("::") >= 2
