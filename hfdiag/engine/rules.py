"""Rules as data: loading, lint, inline tests, and evaluation of one rule against a FactSet."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hfdiag.engine import conditions
from hfdiag.engine.data import BUCKETS, MAX_RULE_FILES, read_yaml
from hfdiag.errors import RuleError
from hfdiag.evidence.model import Fact, FactSet

ID_RX = re.compile(r"^HFD-[A-Z]{2,4}-\d{3}$")
SEVERITIES = ("info", "warning", "error", "critical")
CONFIDENCES = ("high", "medium", "low")
KNOWLEDGE = ("explained", "suspicious", "background")
EXPECTS = ("match", "no_match", "inconclusive", "vetoed")
_REQUIRED_EXPECTS = {"match", "no_match", "inconclusive"}
_RULE_KEYS = {
    "id", "bucket", "title", "severity", "confidence", "knowledge", "chain", "hop", "when", "because",
    "next_steps", "references", "tests", "description", "vetoes", "no_veto_because",
}
# Buckets whose rules tell no platform story, so they need no counter-evidence (docs/architecture.md).
_NO_VETO_BUCKETS = ("app", "healthy")
_TEMPLATE_RX = re.compile(r"\{([A-Za-z0-9_.]+)(?::%)?\}")


@dataclass
class Rule:
    id: str
    bucket: str
    title: str
    when: dict
    because: str
    severity: str = "error"
    confidence: str = "medium"
    knowledge: str = "suspicious"
    chain: str | None = None
    hop: str | None = None
    next_steps: list[str] = field(default_factory=list)
    references: list[dict] = field(default_factory=list)
    tests: list[dict] = field(default_factory=list)
    # Counter-evidence: [{when: condition, because: text}]. A matching rule whose veto holds (true, not
    # unknown) cannot win: stronger evidence contradicts the story it tells (docs/architecture.md).
    vetoes: list[dict] = field(default_factory=list)
    path: str = ""

    def render_because(self, facts: FactSet) -> str:
        return render_template(self.because, facts)


# Wording of rendered `because` texts (rules/README: template syntax):
# - `{fact}` is the value; `{fact:%}` a share (0.25) as a percentage ("25%");
# - a count before a noun agrees with it ("1 line", "2 lines");
# - a missing value never leaves a dangling unit: "{x} s" / "{x}s" -> "unknown", "{n} lines" -> "an unknown
#   number of lines";
# - `[[ ... ]]` is an optional part, dropped when a fact inside it is missing.
_PLACEHOLDER_RX = re.compile(
    r"\{(?P<key>[A-Za-z0-9_.]+)(?::(?P<fmt>%))?\}"
    r"(?P<unit>(?:s|ms)(?![A-Za-z0-9])| (?:s|ms|B/s|bytes|KiB|MiB)(?![A-Za-z/]))?"
    r"(?P<noun> [A-Za-z]+)?")
_OPTIONAL_RX = re.compile(r"\[\[(.*?)\]\]", re.S)
_PLURALS = {"lines": "line", "requests": "request", "files": "file", "Spaces": "Space", "attempts": "attempt",
            "errors": "error", "dependencies": "dependency", "times": "time", "seconds": "second", "runs": "run",
            "replicas": "replica", "hosts": "host", "calls": "call", "minutes": "minute", "hours": "hour"}


def _value_text(v, fmt: str | None) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if fmt == "%" and isinstance(v, (int, float)):
        return f"{v * 100:.0f}%"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return ", ".join(str(x) for x in v[:8]) + (" …" if len(v) > 8 else "")
    return str(v)


def render_template(template: str, facts: FactSet) -> str:
    def optional(m: re.Match) -> str:
        inner = m.group(1)
        return inner if all(facts.get(k) is not None for k in _TEMPLATE_RX.findall(inner)) else ""

    def sub(m: re.Match) -> str:
        v = facts.get(m.group("key"))
        unit, noun = m.group("unit") or "", m.group("noun") or ""
        if v is None:
            if not unit and noun.strip() in _PLURALS:
                return f"an unknown number of{noun}"
            return "unknown" + noun
        if not unit and noun.strip() in _PLURALS and not isinstance(v, bool) and v == 1:
            noun = " " + _PLURALS[noun.strip()]
        return _value_text(v, m.group("fmt")) + unit + noun

    text = _OPTIONAL_RX.sub(optional, template)
    text = _PLACEHOLDER_RX.sub(sub, text)
    return re.sub(r"\s+([,;:.)])", r"\1", re.sub(r"\(\s*\)", "", text)).strip()


@dataclass
class RuleOutcome:
    rule: Rule
    status: str  # match | no_match | inconclusive | vetoed (matched, but counter-evidence holds)
    evaluation: conditions.Evaluation
    vetoed_because: str | None = None

    @property
    def missing_facts(self) -> list[str]:
        return self.evaluation.unknown_facts


def evaluate_rule(rule: Rule, facts: FactSet) -> RuleOutcome:
    ev = conditions.evaluate(rule.when, facts)
    status = "match" if ev.result is True else "no_match" if ev.result is False else "inconclusive"
    if status == "match":
        for veto in rule.vetoes:
            if conditions.evaluate(veto["when"], facts).result is True:
                return RuleOutcome(rule, "vetoed", ev, render_template(veto["because"], facts))
    return RuleOutcome(rule, status, ev)


def _as_rule(data: dict, path: Path) -> Rule:
    return Rule(
        id=data["id"], bucket=data["bucket"], title=data.get("title", data["id"]), when=data["when"],
        because=data.get("because", ""), severity=data.get("severity", "error"),
        confidence=data.get("confidence", "medium"), knowledge=data.get("knowledge", "suspicious"),
        chain=data.get("chain"), hop=data.get("hop"), next_steps=list(data.get("next_steps") or []),
        references=list(data.get("references") or []), tests=list(data.get("tests") or []),
        vetoes=list(data.get("vetoes") or []), path=str(path),
    )


def lint_rule_data(data: Any, path: Path, known_fact=None, chains: dict | None = None) -> list[str]:
    """Every problem with one rule file, as `path: message` lines."""
    p = str(path)
    if not isinstance(data, dict):
        return [f"{p}: a rule file must be a mapping"]
    errs: list[str] = []
    for k in sorted(set(data) - _RULE_KEYS):
        errs.append(f"{p}: unknown key {k!r}")
    rid = data.get("id")
    if not isinstance(rid, str) or not ID_RX.match(rid):
        errs.append(f"{p}: id {rid!r} must look like HFD-XXX-000")
    elif path.stem != rid:
        errs.append(f"{p}: file name must be the rule id ({rid}.yaml)")
    bucket = data.get("bucket")
    if bucket not in BUCKETS or bucket == "inconclusive":
        errs.append(f"{p}: unknown bucket {bucket!r}")
    elif path.parent.name != bucket:
        errs.append(f"{p}: rule of bucket {bucket!r} must live in rules/{bucket}/")
    for key, allowed in (("severity", SEVERITIES), ("confidence", CONFIDENCES), ("knowledge", KNOWLEDGE)):
        if key in data and data[key] not in allowed:
            errs.append(f"{p}: {key} {data[key]!r} not one of {', '.join(allowed)}")
    if not isinstance(data.get("because"), str) or not data.get("because", "").strip():
        errs.append(f"{p}: 'because' text is required")
    else:
        for m in _TEMPLATE_RX.finditer(data["because"]):
            if known_fact and not known_fact(m.group(1)):
                errs.append(f"{p}: because uses undeclared fact {m.group(1)!r}")
    if data.get("knowledge") == "explained" and not data.get("references"):
        errs.append(f"{p}: an explained rule must cite at least one reference")
    for i, ref in enumerate(data.get("references") or []):
        if not isinstance(ref, dict) or not isinstance(ref.get("url"), str):
            errs.append(f"{p}: references[{i}] needs a url")
    if not isinstance(data.get("next_steps", []), list):
        errs.append(f"{p}: next_steps must be a list")
    elif not all(isinstance(step, str) for step in data.get("next_steps") or []):
        # an unquoted step holding ": " reads as a mapping and would fail only when a report renders it
        errs.append(f"{p}: every next step must be a string (quote a step that contains ': ')")
    if chains is not None and data.get("chain") is not None:
        chain = chains.get(data["chain"])
        if chain is None:
            errs.append(f"{p}: unknown chain {data['chain']!r}")
        elif data.get("hop") is not None and data["hop"] not in [h["id"] for h in chain["hops"]]:
            errs.append(f"{p}: chain {data['chain']!r} has no hop {data['hop']!r}")
    if "when" not in data:
        errs.append(f"{p}: 'when' condition is required")
    else:
        errs += [f"{p}: {e}" for e in conditions.validate(data["when"], "when", known_fact)]
    errs += _lint_vetoes(data.get("vetoes"), p, known_fact)
    tests = data.get("tests")
    if not isinstance(tests, list) or not tests:
        errs.append(f"{p}: inline tests are required")
    else:
        seen = set()
        for i, t in enumerate(tests):
            if not isinstance(t, dict) or t.get("expect") not in EXPECTS or not isinstance(t.get("facts", {}), dict):
                errs.append(f"{p}: tests[{i}] needs facts (mapping) and expect ({'/'.join(EXPECTS)})")
                continue
            seen.add(t["expect"])
        if bucket not in ("healthy",) and not errs and not _REQUIRED_EXPECTS <= seen:
            errs.append(f"{p}: tests must cover match, no_match and inconclusive (have {sorted(seen)})")
        if data.get("vetoes") and not errs and "vetoed" not in seen:
            errs.append(f"{p}: a rule with vetoes needs a test that expects vetoed")
    return errs


def lint_veto_presence(data: dict, p: str) -> list[str]:
    """A platform rule names the observation that contradicts it, or says in `no_veto_because` why none exists.
    Part of `hfdiag rules lint` (the shipped rules must pass it); loading a --rules-dir does not demand it."""
    bucket = data.get("bucket")
    exempt = data.get("no_veto_because")
    if exempt is not None and (not isinstance(exempt, str) or not exempt.strip()):
        return [f"{p}: no_veto_because must be a sentence saying why no observation contradicts the rule"]
    if exempt and data.get("vetoes"):
        return [f"{p}: a rule has either vetoes or no_veto_because, not both"]
    if bucket in BUCKETS and bucket not in _NO_VETO_BUCKETS and not data.get("vetoes") and not exempt:
        return [f"{p}: a platform rule needs vetoes (the observation that contradicts it) or no_veto_because"]
    return []


def _lint_vetoes(vetoes: Any, p: str, known_fact) -> list[str]:
    if vetoes is None:
        return []
    if not isinstance(vetoes, list):
        return [f"{p}: vetoes must be a list of {{when, because}}"]
    errs: list[str] = []
    for i, v in enumerate(vetoes):
        if not isinstance(v, dict) or set(v) != {"when", "because"} or not isinstance(v.get("because"), str):
            errs.append(f"{p}: vetoes[{i}] needs exactly 'when' (a condition) and 'because' (text)")
            continue
        errs += [f"{p}: {e}" for e in conditions.validate(v["when"], f"vetoes[{i}].when", known_fact)]
        for m in _TEMPLATE_RX.finditer(v["because"]):
            if known_fact and not known_fact(m.group(1)):
                errs.append(f"{p}: vetoes[{i}].because uses undeclared fact {m.group(1)!r}")
    return errs


class RuleSet:
    def __init__(self, rules: list[Rule]):
        self.rules = sorted(rules, key=lambda r: r.id)
        self.by_id = {r.id: r for r in self.rules}

    def __iter__(self):
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)


def rule_files(rules_dir: Path) -> list[Path]:
    files = sorted(p for p in rules_dir.glob("*/HFD-*.yaml"))
    if len(files) > MAX_RULE_FILES:
        raise RuleError(f"{rules_dir}: more than {MAX_RULE_FILES} rule files")
    return files


def load_rules(rules_dir: Path, known_fact=None, chains: dict | None = None, strict: bool = True,
               trusted: bool = False) -> RuleSet:
    """Load and validate every rule; with strict, any lint problem is a RuleError (one line, the first).
    `trusted` (the built-in rules, validated by `hfdiag rules lint` and the test suite) skips the validation."""
    rules: list[Rule] = []
    problems: list[str] = []
    ids: dict[str, str] = {}
    for path in rule_files(rules_dir):
        data = read_yaml(path)
        if trusted:
            rules.append(_as_rule(data, path))
            continue
        errs = lint_rule_data(data, path, known_fact, chains)
        if not errs:
            if data["id"] in ids:
                errs.append(f"{path}: duplicate id {data['id']} (also {ids[data['id']]})")
            else:
                ids[data["id"]] = str(path)
        if errs:
            problems += errs
            continue
        rules.append(_as_rule(data, path))
    if problems and strict:
        more = f" (+{len(problems) - 1} more; run `hfdiag rules lint`)" if len(problems) > 1 else ""
        raise RuleError(problems[0] + more)
    return RuleSet(rules)


def lint_dir(rules_dir: Path, known_fact=None, chains: dict | None = None) -> list[str]:
    problems: list[str] = []
    ids: dict[str, str] = {}
    for path in rule_files(rules_dir):
        try:
            data = read_yaml(path)
        except RuleError as e:
            problems.append(str(e))
            continue
        problems += lint_rule_data(data, path, known_fact, chains)
        if isinstance(data, dict):
            problems += lint_veto_presence(data, str(path))
        rid = data.get("id") if isinstance(data, dict) else None
        if isinstance(rid, str):
            if rid in ids:
                problems.append(f"{path}: duplicate id {rid} (also {ids[rid]})")
            ids.setdefault(rid, str(path))
    return problems


def facts_from_mapping(mapping: dict, source: str = "test") -> FactSet:
    return FactSet(Fact(k, v, source) for k, v in mapping.items())


def run_inline_tests(ruleset: RuleSet) -> list[tuple[Rule, dict, str]]:
    """(rule, test, got) for every inline test whose outcome differs from `expect`."""
    failures = []
    for rule in ruleset:
        for t in rule.tests:
            got = evaluate_rule(rule, facts_from_mapping(t.get("facts") or {})).status
            if got != t["expect"]:
                failures.append((rule, t, got))
    return failures
