"""All rule data of one rules directory, loaded once: facts catalog, chains, precedence, derived facts, rules,
signatures. `lint()` reports every problem instead of stopping at the first."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hfdiag.engine import conditions
from hfdiag.engine.chains import lint_chains, load_chains
from hfdiag.engine.cues import CueSet, load_cues, run_cue_tests
from hfdiag.engine.data import BUCKETS, default_rules_dir, read_yaml
from hfdiag.engine.rules import RuleSet, lint_dir, load_rules, run_inline_tests
from hfdiag.engine.signatures import SignatureSet, lint_keyword_noise, load_signatures, run_signature_tests
from hfdiag.errors import RuleError

FACT_TYPES = ("str", "int", "float", "bool", "list")


@dataclass
class FactSpec:
    key: str
    type: str
    description: str
    probe: str | None = None  # the probe that produces it
    needs: str | None = None  # e.g. "owner token", "--zerogpu-call", "--transfer-file"
    context: bool | list = False  # describes the setting (who calls, which stage), not a symptom; a list
    # names the values that are context (space.stage RUNNING), other values being symptoms (BUILDING, PAUSED)
    values: list | None = None  # the values a user may give with --fact (None: any value of the type)


class FactCatalog:
    def __init__(self, specs: dict[str, FactSpec]):
        self.specs = specs
        self._wild = [k for k in specs if k.endswith("*")]

    def spec(self, key: str) -> FactSpec | None:
        if key in self.specs:
            return self.specs[key]
        for w in self._wild:
            if fnmatch.fnmatchcase(key, w):
                return self.specs[w]
        return None

    def known(self, key: str) -> bool:
        return self.spec(key) is not None

    def is_context(self, key: str, value=None) -> bool:
        spec = self.spec(key)
        if spec is None or not spec.context:
            return False
        return value in spec.context if isinstance(spec.context, list) else True

    def obtainable(self, key: str) -> bool:
        """A probe can produce this fact (as opposed to facts only a pasted text carries)."""
        spec = self.spec(key)
        return bool(spec and spec.probe)


def _load_catalog(path: Path) -> FactCatalog:
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("facts"), dict):
        raise RuleError(f"{path}: must be a mapping with 'facts'")
    specs = {}
    for key, d in data["facts"].items():
        if not isinstance(d, dict) or d.get("type") not in FACT_TYPES:
            raise RuleError(f"{path}: fact {key!r} needs a type ({', '.join(FACT_TYPES)})")
        ctx = d.get("context", False)
        values = d.get("values")
        if values is not None and not isinstance(values, list):
            raise RuleError(f"{path}: fact {key!r}: values must be a list")
        specs[key] = FactSpec(key, d["type"], d.get("description", ""), d.get("probe"), d.get("needs"),
                              ctx if isinstance(ctx, list) else bool(ctx), values)
    return FactCatalog(specs)


def _lint_precedence(data, path: Path, known_fact) -> list[str]:
    if not isinstance(data, dict) or not isinstance(data.get("narrow_to_broad"), list):
        return [f"{path}: needs a 'narrow_to_broad' list of buckets"]
    errs = []
    order = data["narrow_to_broad"]
    for b in order:
        if b not in BUCKETS:
            errs.append(f"{path}: unknown bucket {b!r}")
    missing = set(BUCKETS) - set(order) - {"healthy", "inconclusive"}
    if missing:
        errs.append(f"{path}: narrow_to_broad lacks {sorted(missing)}")
    ov = data.get("app_override")
    if ov is not None:
        if not isinstance(ov, dict) or "when" not in ov or not isinstance(ov.get("beats"), list):
            errs.append(f"{path}: app_override needs 'when' and 'beats'")
        else:
            errs += [f"{path}: app_override: {e}" for e in conditions.validate(ov["when"], "when", known_fact)]
            errs += [f"{path}: app_override beats unknown bucket {b!r}" for b in ov["beats"] if b not in BUCKETS]
    return errs


def _lint_derived(data, path: Path, known_fact) -> list[str]:
    if not isinstance(data, dict) or not isinstance(data.get("derived"), list):
        return [f"{path}: must be a mapping with a 'derived' list"]
    errs = []
    for i, d in enumerate(data["derived"]):
        if not isinstance(d, dict) or not isinstance(d.get("fact"), str) or "value" not in d or "when" not in d:
            errs.append(f"{path}: derived[{i}] needs fact, value and when")
            continue
        if not known_fact(d["fact"]):
            errs.append(f"{path}: derived[{i}] fact {d['fact']!r} is not declared in facts.yaml")
        errs += [f"{path}: derived[{i}]: {e}" for e in conditions.validate(d["when"], "when", known_fact)]
    return errs


class KnowledgeBase:
    def __init__(self, rules_dir: Path, trusted: bool = False):
        """`trusted`: the built-in rules, validated in CI (`hfdiag rules lint`, the tests); loading them skips the
        per-rule lint and compiles signature regexes on first use. User rules (`--rules-dir`) are always checked."""
        self.dir = rules_dir
        if not (rules_dir / "facts.yaml").is_file():
            raise RuleError(f"{rules_dir}: not a rules directory (no facts.yaml)")
        self.catalog = _load_catalog(rules_dir / "facts.yaml")
        known = self.catalog.known
        self.chains = load_chains(rules_dir / "chains.yaml", known)
        self.precedence = read_yaml(rules_dir / "precedence.yaml")
        errs = _lint_precedence(self.precedence, rules_dir / "precedence.yaml", known)
        derived = read_yaml(rules_dir / "derived.yaml")
        errs += _lint_derived(derived, rules_dir / "derived.yaml", known)
        if errs:
            raise RuleError(errs[0])
        self.derived = derived["derived"]
        self.rules: RuleSet = load_rules(rules_dir, known, self.chains, trusted=trusted)
        sigs = load_signatures(rules_dir / "signatures.yaml", known, trusted=trusted)[0]
        self.cues: CueSet = load_cues(rules_dir / "cues.yaml", known, trusted=trusted)[0]
        # One scanner for both tiers: a text is read once, through one keyword prefilter.
        self.signatures: SignatureSet = SignatureSet(sigs.signatures + self.cues.signatures())

    @staticmethod
    def lint(rules_dir: Path) -> list[str]:
        """Every problem in a rules directory (empty list when clean), plus failing inline tests."""
        problems: list[str] = []
        try:
            catalog = _load_catalog(rules_dir / "facts.yaml")
        except RuleError as e:
            return [str(e)]
        known = catalog.known
        chains = None
        try:
            data = read_yaml(rules_dir / "chains.yaml")
            problems += lint_chains(data, rules_dir / "chains.yaml", known)
            chains = data.get("chains") if isinstance(data, dict) else None
            problems += _lint_precedence(read_yaml(rules_dir / "precedence.yaml"), rules_dir / "precedence.yaml", known)
            problems += _lint_derived(read_yaml(rules_dir / "derived.yaml"), rules_dir / "derived.yaml", known)
        except RuleError as e:
            problems.append(str(e))
        problems += lint_dir(rules_dir, known, chains if isinstance(chains, dict) else None)
        try:
            sigset, sig_problems = load_signatures(rules_dir / "signatures.yaml", known, strict=False)
            problems += sig_problems + lint_keyword_noise(sigset, rules_dir / "signatures.yaml")
        except RuleError as e:
            problems.append(str(e))
        try:
            cues, cue_problems = load_cues(rules_dir / "cues.yaml", known, strict=False)
            problems += cue_problems
            if cues.text_cues and not cue_problems:  # cue keywords feed the same prefilter: the same noise lint
                problems += lint_keyword_noise(SignatureSet(cues.signatures()), rules_dir / "cues.yaml")
        except RuleError as e:
            problems.append(str(e))
        return problems

    def test(self) -> list[str]:
        failures = [
            f"{rule.id} test {t.get('name', '?')!r}: expected {t['expect']}, got {got}"
            for rule, t, got in run_inline_tests(self.rules)
        ]
        failures += run_signature_tests(self.signatures)
        failures += run_cue_tests(self.cues, self.signatures)
        return failures


@lru_cache(maxsize=8)
def _load(path: str) -> KnowledgeBase:
    return KnowledgeBase(Path(path), trusted=Path(path) == default_rules_dir().resolve())


def load_knowledge(rules_dir: str | Path | None = None) -> KnowledgeBase:
    p = Path(rules_dir) if rules_dir else default_rules_dir()
    if not p.is_dir():
        raise RuleError(f"{p}: rules directory not found")
    return _load(str(p.resolve()))
