"""Wording and layout of what people read: wrapped paragraphs keep their indent, no trailing blanks, counts
agree with their nouns, no placeholder words, references once. Through the real CLI where it is about output."""

from __future__ import annotations

import re

import pytest
from conftest import cli_env, run_cli

from hfdiag.engine.knowledge import load_knowledge
from hfdiag.engine.rules import facts_from_mapping, render_template

PLACEHOLDER_WORDS = re.compile(r"unknown ?(?:s|ms|B/s)\b|unknowns\b|\[\[|\]\]|\(\s*\)|\{[a-z_.]+\}")
BAD_COUNT = re.compile(r"(?<![\d.])1 (?:lines|requests|files|Spaces|attempts|errors|dependencies|seconds)\b")


def _section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith(title))
    out = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        out.append(line)
    return out


@pytest.fixture(scope="module")
def narrow_report():
    p = run_cli("check", "--sim", "builder-empty-build-log", "-q", env=cli_env(COLUMNS="64"))
    assert p.returncode == 1, p.stderr
    return p.stdout


def test_wrapped_because_and_steps_keep_their_indent(narrow_report):
    section = _section(narrow_report, "Interpretation")
    assert all(line.startswith("  ") for line in section), section  # the title wraps under itself too
    because = [x for x in section if x.startswith("    ")]
    assert len(because) >= 2  # wrapped at 64 columns
    assert all(line[4] != " " for line in because), because
    for title in ("Next steps", "References"):
        lines = _section(narrow_report, title)
        assert lines[0].startswith("  - ")
        assert all(x.startswith("  - ") or x.startswith("    ") for x in lines), lines
    assert any(x.startswith("    ") for x in _section(narrow_report, "Next steps"))  # a step did wrap


def test_references_are_listed_once(narrow_report):
    refs = [x for x in _section(narrow_report, "References") if x.startswith("  - ")]
    assert len(refs) == len(set(refs))


@pytest.mark.parametrize("args", [
    ["check", "--sim", "builder-empty-build-log", "-q"],
    ["check", "--sim", "proxy-intermittent-drop", "-q", "-v"],
    ["explain", "-", "--fact", "space.stage=RUNNING"],
    ["rules", "show", "HFD-BLD-004"],
    ["check", "--sim", "proxy-intermittent-drop", "-q", "--format", "markdown"],
    ["env", "--offline"],
])
def test_no_trailing_blanks_when_piped(args):
    p = run_cli(*args, input="ModuleNotFoundError: No module named 'flash_attn'\n", env=cli_env(COLUMNS="80"))
    assert p.stdout.strip(), p.stderr
    trailing = [n for n, line in enumerate(p.stdout.splitlines(), 1) if line != line.rstrip()]
    assert not trailing, f"{args}: lines {trailing[:10]} end in blanks"


def test_counts_agree_with_their_nouns():
    def render(template, **facts):
        return render_template(template, facts_from_mapping(facts))

    assert render("({build_log.lines} lines, ok)", **{"build_log.lines": 1}) == "(1 line, ok)"
    assert render("({build_log.lines} lines, ok)", **{"build_log.lines": 2}) == "(2 lines, ok)"
    assert render("{route.fail_ratio:%} of {route.requests} requests failed",
                  **{"route.fail_ratio": 0.25, "route.requests": 4}) == "25% of 4 requests failed"
    assert render("{route.fail_ratio:%} of {route.requests} requests failed",
                  **{"route.fail_ratio": 1.0, "route.requests": 1}) == "100% of 1 request failed"


def test_missing_values_leave_no_placeholder_words():
    def render(template, **facts):
        return render_template(template, facts_from_mapping(facts))

    assert render("last line {build_log.last_line_age_s} s ago") == "last line unknown ago"
    assert render("duration {zerogpu.duration_s}s, more") == "duration unknown, more"
    assert render("({build_log.lines} lines)") == "(an unknown number of lines)"
    assert render("(restart [[status {space.restart_status}, ]]id {hub.request_id})",
                  **{"hub.request_id": "Root=1"}) == "(restart id Root=1)"


def test_every_rule_renders_without_placeholder_words_or_bad_counts():
    kb = load_knowledge()
    checked = 0
    for rule in kb.rules.rules:
        cases = [{}] + [t.get("facts") or {} for t in rule.tests if t.get("expect") == "match"]
        for facts in cases:
            text = rule.render_because(facts_from_mapping(facts))
            assert not PLACEHOLDER_WORDS.search(text), (rule.id, text)
            assert not BAD_COUNT.search(text), (rule.id, text)
            checked += 1
    assert checked > 200
