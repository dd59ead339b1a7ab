"""The shipped rules: lint-clean, inline tests green, and the coverage issue 2 asks for (at least three rules per
boundary bucket, each with match, no_match and inconclusive tests)."""

from collections import Counter

import pytest

from hfdiag.engine.data import default_rules_dir
from hfdiag.engine.knowledge import KnowledgeBase, load_knowledge

BOUNDARIES = ("builder", "proxy", "zerogpu-settlement", "zerogpu-identity", "zerogpu-quota", "transfer", "egress",
              "runtime", "app")


def test_shipped_rules_lint_clean():
    assert KnowledgeBase.lint(default_rules_dir()) == []


def test_inline_tests_pass():
    assert load_knowledge().test() == []


@pytest.mark.parametrize("bucket", BOUNDARIES)
def test_each_boundary_has_three_fully_tested_rules(bucket):
    kb = load_knowledge()
    rules = [r for r in kb.rules if r.bucket == bucket]
    assert len(rules) >= 3
    for r in rules:
        assert {t["expect"] for t in r.tests} >= {"match", "no_match", "inconclusive"}, r.id


def test_explained_rules_cite_a_reference_and_ids_are_unique():
    kb = load_knowledge()
    assert all(r.references for r in kb.rules if r.knowledge == "explained")
    assert not [i for i, n in Counter(r.id for r in kb.rules).items() if n > 1]


def test_trusted_and_checked_loading_agree():
    trusted = load_knowledge()
    checked = KnowledgeBase(default_rules_dir(), trusted=False)
    assert [r.id for r in trusted.rules] == [r.id for r in checked.rules]
    assert [s.id for s in trusted.signatures.signatures] == [s.id for s in checked.signatures.signatures]


def test_rules_commands_through_the_cli(tmp_path):
    from conftest import run_cli

    listing = run_cli("rules", "list", "--bucket", "builder")
    assert listing.returncode == 0 and all(" builder " in line for line in listing.stdout.splitlines())
    shown = run_cli("rules", "show", "hfd-bld-001")
    assert shown.returncode == 0 and shown.stdout.startswith("id: HFD-BLD-001")
    assert run_cli("rules", "test").returncode == 0
    assert run_cli("rules", "lint").returncode == 0
    bad = tmp_path / "rules"
    (bad / "builder").mkdir(parents=True)
    for name in ("facts.yaml", "chains.yaml", "precedence.yaml", "derived.yaml", "signatures.yaml"):
        (bad / name).write_text((default_rules_dir() / name).read_text())
    (bad / "builder" / "HFD-BLD-999.yaml").write_text(
        "id: HFD-BLD-999\nbucket: builder\nbecause: x\nwhen: {fact: space.stage, op: approx, value: 1}\ntests: []\n")
    lint = run_cli("rules", "lint", "--rules-dir", str(bad))
    assert lint.returncode == 1 and "unknown operator 'approx'" in lint.stderr


def test_rules_read_the_same_without_libyaml():
    # The loader prefers libyaml's CSafeLoader; a machine without libyaml gets PyYAML's pure-Python parser, which
    # is stricter in places (a `?` closing a flow-sequence item is a parse error there). Both must read every file.
    import yaml

    for path in sorted(default_rules_dir().rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        pure = yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - a safe loader
        if hasattr(yaml, "CSafeLoader"):
            assert yaml.load(text, Loader=yaml.CSafeLoader) == pure, path  # noqa: S506 - a safe loader

def test_every_platform_rule_names_its_counter_evidence(tmp_path):
    """Each platform rule has a veto with a `vetoed` test, or a `no_veto_because` listed in docs/architecture.md;
    `hfdiag rules lint` fails on a platform rule with neither."""
    import re

    from conftest import ROOT, run_cli

    kb = load_knowledge()
    platform = [r for r in kb.rules if r.bucket not in ("app", "healthy")]
    exempt = {r.id for r in platform if not r.vetoes}
    for r in platform:
        if r.vetoes:
            assert "vetoed" in {t["expect"] for t in r.tests}, r.id
    documented = ROOT.joinpath("docs/architecture.md").read_text().split("`no_veto_because`")[1].split("\n\n")[0]
    assert exempt == set(re.findall(r"HFD-[A-Z]+-\d{3}", documented))
    assert len(exempt) * 8 < len(platform)  # exemptions stay rare

    rules = tmp_path / "rules"
    for name in ("facts.yaml", "chains.yaml", "precedence.yaml", "derived.yaml", "signatures.yaml", "cues.yaml"):
        (rules / name).parent.mkdir(parents=True, exist_ok=True)
        (rules / name).write_text((default_rules_dir() / name).read_text())
    src = (default_rules_dir() / "proxy" / "HFD-PRX-005.yaml").read_text()
    bare = src.split("vetoes:")[0] + "because:" + src.split("\nbecause:", 1)[1]
    bare = bare.split("- name: counter-evidence holds")[0]
    (rules / "proxy").mkdir()
    (rules / "proxy" / "HFD-PRX-005.yaml").write_text(bare)
    lint = run_cli("rules", "lint", "--rules-dir", str(rules))
    assert lint.returncode == 1 and "a platform rule needs vetoes" in lint.stderr
    (rules / "proxy" / "HFD-PRX-005.yaml").write_text(bare.replace("because:", "no_veto_because: none seen.\nbecause:", 1))
    lint = run_cli("rules", "lint", "--rules-dir", str(rules))
    assert lint.returncode == 0, lint.stderr
