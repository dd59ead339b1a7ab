"""Untrusted inputs: hostile bundles and text given to `explain`, and user-supplied `--rules-dir`s, through the
real CLI. Each gives a one-line error (exit 2) or a bounded result, fast. (Basic cases live in
tests/test_bundle.py and tests/test_explain_cli.py; these are the ones not covered there.)"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

BUNDLE = {"kind": "hfdiag-evidence-bundle", "schema_version": 1, "target": "alice/demo", "probes": [],
          "inputs": [], "facts": []}


def one_line_error(proc, fragment: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[:300], proc.stderr[:300])
    err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace")
    assert err.count("\n") == 1 and "Traceback" not in err, err[:600]
    assert fragment in err, err


def bundle_with(**changes) -> dict:
    return {**BUNDLE, **changes}


# wrong types in every place a bundle is read from (the shallow ones are in tests/test_bundle.py)
WRONG_TYPES = [
    (bundle_with(probes=[{"probe": "space", "facts": [1]}]), "string 'key'"),
    (bundle_with(probes=[{"probe": "space", "facts": {"a": 1}}]), "malformed facts"),
    (bundle_with(probes=[{"probe": "space", "excerpts": "x"}]), "malformed facts or excerpts"),
    (bundle_with(probes=[{"probe": "space", "detail": []}]), "'detail' must be an object"),
    (bundle_with(inputs=[{"name": 1, "text": "x"}]), "string 'name' and 'text'"),
    (bundle_with(inputs=[{"name": "a", "text": ["x"]}]), "string 'name' and 'text'"),
    (bundle_with(facts=[{"key": "space.stage", "value": [[1]]}]), "scalar or a flat list"),
    (bundle_with(facts=[{"key": "space.stage", "value": "RUNNING", "kind": "guessed"}]), "unknown kind"),
    (bundle_with(schema_version="1"), "unsupported schema_version"),
    (bundle_with(schema_version=None), "unsupported schema_version"),
    (bundle_with(schema_version=10 ** 400), "unsupported schema_version"),
    (bundle_with(target=["x"]), "'target' must be a string"),
    (bundle_with(probes=[{"probe": "space", "duration_ms": "slow"}]), "'duration_ms' must be a number"),
    (bundle_with(probes=[{"probe": "space", "duration_ms": 10 ** 400}]), "'duration_ms' must be a number"),
    (bundle_with(probes=[{"probe": "space", "error": {"x": 1}}]), "must be text"),
    (bundle_with(probes=[{"probe": "space", "excerpts": [1]}]), "must be text"),
    (bundle_with(facts=[{"key": "space.stage", "value": "x", "source": 3}]), "'source' must be a string"),
]


@pytest.mark.parametrize("doc,fragment", WRONG_TYPES, ids=[f"wrong-type-{i}" for i in range(len(WRONG_TYPES))])
def test_bundle_with_wrong_types_gives_one_line(tmp_path, doc, fragment):
    path = tmp_path / "b.json"
    path.write_text(json.dumps(doc))
    one_line_error(run_cli("explain", str(path), "--format", "json"), fragment)


def test_huge_bundle_is_refused_at_the_size_cap(tmp_path):
    path = tmp_path / "huge.json"
    with path.open("w") as fh:  # 65 MB: a valid bundle head, then one enormous excerpt
        fh.write('{"kind": "hfdiag-evidence-bundle", "schema_version": 1, "probes": [{"probe": "x", "excerpts": ["')
        block = "a" * (1 << 20)
        for _ in range(65):
            fh.write(block)
        fh.write('"]}]}')
    start = time.monotonic()
    proc = run_cli("explain", str(path), "--format", "json")
    one_line_error(proc, "larger than 64 MB")
    assert time.monotonic() - start < 20


def test_deeply_nested_bundle_through_the_cli(tmp_path):
    """100 000 levels: deeper than Python's recursion limit, so the JSON parser itself must be contained."""
    path = tmp_path / "deep.json"
    path.write_text('{"kind": "hfdiag-evidence-bundle", "schema_version": 1, "x": ' + "[" * 100_000
                    + "]" * 100_000 + "}")
    proc = run_cli("explain", str(path))
    one_line_error(proc, "bundle")


def test_bundle_with_huge_strings_gives_a_bounded_report(tmp_path):
    """A valid bundle whose strings are enormous: the report stays small."""
    big = "x" * 5_000_000
    doc = bundle_with(probes=[{"probe": "space", "status": "error", "error": big, "excerpts": [big] * 3,
                               "facts": [{"key": "space.stage", "value": big, "source": "probe:space"}]}],
                      inputs=[{"name": "paste", "text": big}])
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc))
    proc = run_cli("explain", str(path), "--format", "json")
    assert proc.returncode in (0, 1, 3), proc.stderr[:500]
    assert len(proc.stdout) < 2_000_000, len(proc.stdout)


def test_invalid_utf8_bundle_gives_one_line_or_bounded_result(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(json.dumps(BUNDLE).encode()[:-1] + b', "target": "\xff\xfe\xc3\x28"}')
    proc = run_cli("explain", str(path), "--format", "json")
    assert proc.returncode in (0, 1, 2, 3)
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") <= 1


def test_many_long_lines_of_binary_are_bounded():
    blob = (b"\x00\xff" * 300_000 + b"\n") * 20 + "ModuleNotFoundError: No module named 'x'\n".encode()
    start = time.monotonic()
    proc = run_cli("explain", "-", "--format", "json", input=blob)
    assert json.loads(proc.stdout)["verdict"]["bucket"] == "app"
    assert len(proc.stdout) < 300_000 and time.monotonic() - start < 20


# ------------------------------------------------------------------------------------------------ --rules-dir
@pytest.fixture
def rules_copy(tmp_path) -> Path:
    dst = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", dst)
    return dst


def _add_signature(rules: Path, pattern: str, keywords: list[str]) -> None:
    sig = rules / "signatures.yaml"
    sig.write_text(sig.read_text() + "\n  - id: SIG-APP-990\n    description: user signature\n"
                   f"    keywords: {json.dumps(keywords)}\n    pattern: {json.dumps(pattern)}\n"
                   "    facts: {app.error_kind: custom}\n    tests:\n      - text: \"aaa!\"\n        expect: {}\n")


def test_python_object_tag_in_a_rules_dir_is_refused(rules_copy, tmp_path):
    marker = tmp_path / "pwned"
    (rules_copy / "app" / "HFD-APP-990.yaml").write_text(
        f"!!python/object/apply:os.system ['touch {marker}']\n")
    proc = run_cli("explain", "-", "--rules-dir", str(rules_copy), input="x\n")
    one_line_error(proc, "HFD-APP-990.yaml")
    assert not marker.exists()


def test_oversized_rule_file_is_refused(rules_copy):
    (rules_copy / "app" / "HFD-APP-991.yaml").write_text("# " + "x" * (300 * 1024) + "\n")
    proc = run_cli("explain", "-", "--rules-dir", str(rules_copy), input="x\n")
    one_line_error(proc, "larger than 256 KiB")


def test_yaml_alias_bomb_is_contained(rules_copy):
    """'Billion laughs' through YAML aliases: refused or loaded without blowing up."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    (rules_copy / "app" / "HFD-APP-992.yaml").write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    proc = run_cli("explain", "-", "--rules-dir", str(rules_copy), input="x\n", timeout=60)
    one_line_error(proc, "HFD-APP-992")
    assert time.monotonic() - start < 20


@pytest.mark.parametrize("where", ["signature", "rule"])
def test_catastrophic_regex_in_a_rules_dir_is_refused(rules_copy, where):
    if where == "signature":
        _add_signature(rules_copy, "(a+)+$", ["aaa"])
    else:
        (rules_copy / "app" / "HFD-APP-993.yaml").write_text(
            "id: HFD-APP-993\nbucket: app\ntitle: t\nbecause: b\n"
            "when: {fact: app.error_kind, op: matches, value: '(a+)+$'}\n"
            "tests:\n  - {facts: {app.error_kind: x}, expect: no_match}\n")
    start = time.monotonic()
    proc = run_cli("explain", "-", "--rules-dir", str(rules_copy), input="a" * 40 + "!\n")
    one_line_error(proc, "nested unbounded quantifiers")
    assert time.monotonic() - start < 20


@pytest.mark.parametrize("pattern", ["(a+)+$", r"(\w+\s?)*$", "(.*)*x", "(a*)*b", "(?:x+y*)+z"])
def test_regex_lint_rejects_backtracking_shapes(pattern):
    from hfdiag.engine.regex_safety import regex_problem

    problem = regex_problem(pattern)
    assert problem and "\n" not in problem, pattern


def test_explain_stays_fast_on_adversarial_text():
    """Inputs built to make regexes backtrack, against the shipped signatures: bounded time."""
    lines = [
        "a" * 50_000 + "!",
        "Traceback (most recent call last):" + " " * 50_000 + "x",
        "ModuleNotFoundError: No module named '" + "a." * 25_000 + "'",
        "You have exceeded your GPU quota (" + "9" * 50_000 + "s requested vs. ",
        "Scheduling failure: " + "\t" * 50_000,
        "CUDA error: " + "no kernel image " * 5_000,
        "x-ip-token=eyJ" + "a" * 50_000,
        "https://cdn-lfs.hf.co/" + "a/" * 25_000 + "?Signature=",
        "@" * 50_000 + ".com",
    ]
    text = "\n".join(lines * 4) + "\n"
    start = time.monotonic()
    proc = run_cli("explain", "-", "--format", "json", input=text)
    elapsed = time.monotonic() - start
    assert proc.returncode in (0, 1, 3), proc.stderr[:300]
    assert elapsed < 15, f"explain took {elapsed:.1f}s on adversarial text"
    assert len(proc.stdout) < 300_000
