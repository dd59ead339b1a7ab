"""`hfdiag rules coverage`: lines a pattern matches that none of its keywords fire on, each checked both ways."""

import re
import shutil

import yaml
from conftest import run_cli

from hfdiag.engine.data import default_rules_dir
from hfdiag.engine.keyword_coverage import keyword_misses
from hfdiag.engine.signatures import Signature


def _sig(keywords, pattern, flags=re.IGNORECASE):
    return Signature(id="SIG-TST-001", source=pattern, keywords=keywords, facts={"x.hit": True}, flags=flags)


def test_a_form_the_keywords_miss_is_reported_as_a_line_the_pattern_matches():
    sig = _sig(["bar"], r"\bgpu (?:bar|meter|counter)\b")
    misses = keyword_misses(sig)
    assert sorted(misses) == ["gpu counter", "gpu meter"]
    assert all(sig.pattern.search(line) for line in misses)


def test_keywords_that_every_form_holds_leave_nothing():
    assert keyword_misses(_sig(["bar\\b", "meter\\b", "counter\\b"], r"\bgpu (?:bar|meter|counter)\b")) == []


def test_a_word_edge_between_two_letters_is_no_form():
    # "barnever" cannot match: `\b` between "r" and "n"; a gap of spaces can, and "bar" fires there
    assert keyword_misses(_sig(["bar"], r"\bbar\b[^\n]{0,60}?\bnever")) == []


def test_apostrophes_count_as_the_scan_counts_them():
    assert keyword_misses(_sig(["can't reach"], r"\bcan'?t reach\b")) == []  # "cant reach" fires "can't reach"
    assert keyword_misses(_sig(["cannot reach"], r"\bcan(?:not|'t) reach\b")) == ["can't reach"]


def test_each_line_is_shown_once():
    # the two alternatives differ only by their word edges: one line, one miss
    misses = keyword_misses(_sig(["zzz"], r"(?:\bfactory\b|factory) 500"))
    assert misses and len(misses) == len(set(misses))


def test_a_pattern_with_too_many_forms_is_not_checked():
    assert keyword_misses(_sig(["a"], "(?:a|b|c|d)" * 8)) is None


def _rules_with(tmp_path, sid, keywords):
    """A copy of the built-in rules with one signature's keywords replaced."""
    d = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), d)
    path = d / "signatures.yaml"
    lines = path.read_text(encoding="utf-8").split("\n")
    at = lines.index(f"  - id: {sid}")
    kw = next(i for i in range(at, len(lines)) if lines[i].startswith("    keywords: "))
    lines[kw] = "    keywords: " + yaml.safe_dump(keywords, default_flow_style=True).strip()
    path.write_text("\n".join(lines), encoding="utf-8")
    assert next(s for s in yaml.safe_load(path.read_text())["signatures"] if s["id"] == sid)["keywords"] == keywords
    return d


def test_the_command_names_the_signature_and_a_line_and_fails_when_strict(tmp_path):
    # SIG-ZGPU-031 once had "bar", "limit", "quota": "gpu meter" and "gpu counter" never reached its pattern
    d = _rules_with(tmp_path, "SIG-ZGPU-031", ["bar", "limit", "quota"])
    proc = run_cli("rules", "coverage", "--rules-dir", str(d), "--id", "SIG-ZGPU-031", "--strict")
    assert proc.returncode == 1
    assert proc.stdout.startswith("SIG-ZGPU-031: ") and "meter" in proc.stdout
    assert "1 of 1 with lines their keywords miss" in proc.stdout
    fixed = run_cli("rules", "coverage", "--id", "SIG-ZGPU-031", "--strict")
    assert fixed.returncode == 0 and "0 of 1 with lines" in fixed.stdout


def test_an_unknown_id_is_a_one_line_usage_error():
    proc = run_cli("rules", "coverage", "--id", "SIG-ZGPU-03")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "SIG-ZGPU-03" in proc.stderr
