"""`hfdiag explain` as a library: classify pasted text, log files or evidence bundles."""

from __future__ import annotations

import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from hfdiag.engine.cues import CueHit, cue_fact, hits_from_scan
from hfdiag.engine.knowledge import KnowledgeBase
from hfdiag.engine.verdict import Diagnosis, diagnose
from hfdiag.errors import InputError, UsageError
from hfdiag.evidence.bundle import MAX_BUNDLE_BYTES, Bundle, looks_like_bundle
from hfdiag.evidence.model import Fact, FactSet, ProbeResult, TextInput
from hfdiag.redact import Redactor
from hfdiag.report import build_report

KEEP_TEXT_CHARS = 64 * 1024  # text kept in a bundle per input (redacted); scanning itself is unbounded
_SNIFF = 8192


@dataclass
class ExplainInput:
    name: str
    facts: list[Fact]
    probes: list[ProbeResult]
    text: TextInput | None
    bundle: Bundle | None = None
    cue_hits: list[CueHit] = field(default_factory=list)
    context_sources: frozenset[str] = frozenset()  # fact sources that are context only (read_parts)


def parse_fact_args(items: list[str], kb: KnowledgeBase) -> list[Fact]:
    """`--fact KEY=VALUE`, typed by the facts catalog (bool, int, float, list as a,b,c, else string)."""
    facts = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--fact {item!r}: expected KEY=VALUE")
        spec = kb.catalog.spec(key)
        if spec is None:
            raise UsageError(f"--fact {key}: not a fact hfdiag knows{_did_you_mean(key, kb.catalog.specs)} "
                             "(the catalogue: rules/facts.yaml)")
        value = _coerce(key, raw.strip(), spec.type)
        if spec.values is not None and value not in spec.values:
            raise UsageError(f"--fact {key}={raw.strip()}: not a known value{_did_you_mean(str(value), spec.values)} "
                             f"(one of {', '.join(map(str, spec.values))})")
        facts.append(Fact(key, value, "cli:--fact", "observed"))
    return facts


def _did_you_mean(word: str, choices) -> str:
    import difflib

    names = [c for c in map(str, choices) if not c.endswith("*")]
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6) or \
        difflib.get_close_matches(word.upper(), names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _coerce(key: str, raw: str, typ: str):
    try:
        if typ == "bool":
            low = raw.lower()
            if low in ("true", "yes", "1", "on"):
                return True
            if low in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if typ == "int":
            return int(raw)
        if typ == "float":
            return float(raw)
        if typ == "list":
            return [x.strip() for x in raw.split(",") if x.strip()]
        return raw
    except ValueError:
        kind = {"bool": "true or false", "int": "a whole number", "float": "a number"}.get(typ, f"a {typ}")
        raise UsageError(f"--fact {key}={raw}: expected {kind}") from None


_REPORT_HEAD = re.compile(r'^\{\s*"schema_version"\s*:\s*\d+\s*,\s*"tool"\s*:\s*\{\s*"name"\s*:\s*"hfdiag"')


def looks_like_report(text: str) -> bool:
    """The start of `--format json` output (or a line of `scan --format jsonl`, or `check --report`)."""
    return bool(_REPORT_HEAD.match(text.lstrip()[:4096]))


def _open(name: str, stdin: IO) -> IO[bytes]:
    if name == "-":
        buf = getattr(stdin, "buffer", None)
        if buf is not None:
            return buf
        return io.BytesIO(stdin.read().encode("utf-8", errors="replace"))
    path = Path(name)
    if path.is_dir():
        raise InputError(f"{name}: is a directory")
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except OSError as e:
        raise InputError(f"{name}: cannot read ({e.strerror})") from None


def read_input(name: str, kb: KnowledgeBase, stdin: IO | None = None) -> ExplainInput:
    stream = _open(name, stdin or sys.stdin)
    try:
        head = stream.read(_SNIFF)
        head_text = head.decode("utf-8", errors="replace")
        if looks_like_report(head_text):
            raise InputError(f"{name}: this is an hfdiag report (JSON), which already holds its verdict, not text to "
                             "classify; to re-classify a check offline, save its evidence with `hfdiag check --bundle "
                             "FILE` and run `hfdiag explain FILE`")
        if looks_like_bundle(head_text):
            rest = b"" if len(head) < _SNIFF else stream.read(MAX_BUNDLE_BYTES + 1 - len(head))
            data = head + rest
            if len(data) > MAX_BUNDLE_BYTES:
                raise InputError(f"{name}: bundle is larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MB")
            bundle = Bundle.loads(data.decode("utf-8", errors="replace"), name)
            facts = list(bundle.facts)
            hits: list[CueHit] = []
            # A bundle's kept text inputs are re-scanned, so improved signatures improve old bundles too.
            for ti in bundle.inputs:
                res = kb.signatures.scan_text(ti.text, source=f"text:{ti.name}")
                facts = res.fact_list() + facts
                hits += hits_from_scan(res, kb.cues, f"text:{ti.name}")
            return ExplainInput(name, facts, bundle.probes, None, bundle, hits)
        source = "stdin" if name == "-" else Path(name).name
        # a short head means the end of input: a terminal's Ctrl-D is not sticky, so never read past it
        res, kept = kb.signatures.scan_stream(_Chained(head, stream, at_eof=len(head) < _SNIFF), source=f"text:{source}", keep_text=KEEP_TEXT_CHARS)
        facts = res.fact_list()
        facts.append(Fact("text.lines", res.lines, f"text:{source}", "observed"))
        if res.matched:
            facts.append(Fact("text.signatures", list(res.matched), f"text:{source}", "observed"))
        hits = hits_from_scan(res, kb.cues, f"text:{source}")
        if (cues := cue_fact(hits, f"text:{source}")) is not None:
            facts.append(cues)
        return ExplainInput(name, facts, [], TextInput(source, kept, truncated=res.bytes > len(kept)),
                            cue_hits=hits)
    finally:
        if name != "-":
            stream.close()


class _Chained(io.RawIOBase):
    """The sniffed head followed by the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes], at_eof: bool = False):
        self._head, self._rest, self._eof = head, rest, at_eof

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            return out
        if self._eof:  # a terminal's end of input (Ctrl-D) is not sticky: never ask for a second one
            return b""
        out = self._rest.read(n)
        self._eof = not out
        return out

    def readable(self) -> bool:
        return True


def explain_one(inp: ExplainInput, kb: KnowledgeBase, overrides: list[Fact]) -> Diagnosis:
    facts = FactSet()
    for p in inp.probes:
        facts.update(p.facts)
    facts.update(inp.facts)
    for f in overrides:
        facts.add(f, pin=True)
    reason = None
    if not any(not k.startswith("text.") for k in facts.values()):
        reason = "No known error message, status or log line was recognised in the input."
    hits = list(inp.cue_hits)
    if inp.bundle is not None and not inp.bundle.inputs:
        hits = None  # a live check's bundle: its rules decide, as they did live
    return diagnose(kb, facts, no_evidence_reason=reason, cue_hits=hits)


def explain_report(inp: ExplainInput, kb: KnowledgeBase, overrides: list[Fact], redactor: Redactor) -> dict:
    diagnosis = explain_one(inp, kb, overrides)
    if inp.context_sources:
        lower_confidence_on_context(diagnosis, inp.context_sources)
    target = inp.bundle.target if inp.bundle and inp.bundle.target else ("stdin" if inp.name == "-" else inp.name)
    return build_report(
        diagnosis, mode="explain", target=target, redactor=redactor, probes=inp.probes,
        inputs=[inp.text] if inp.text else (inp.bundle.inputs if inp.bundle else []),
    )


# -- threads: several texts of different standing, one engine ------------------------------------------------------
EVIDENCE_WEIGHT = 1.0  # a part at/above it is evidence (the report, a maintainer naming the cause)
CONTEXT_WEIGHT = 0.5  # replies of other people: they fill in what the evidence left open, never override it
MAX_PART_EXCERPTS = 40


@dataclass(frozen=True)
class TextPart:
    """One text of a thread (a post, the title) with the label its facts cite and its weight."""

    source: str  # "title", "post:1", "post:3 (maintainer)"
    text: str
    weight: float = EVIDENCE_WEIGHT
    is_maintainer: bool = False


@dataclass
class PartsScan:
    facts: list[Fact] = field(default_factory=list)
    excerpts: list[str] = field(default_factory=list)  # "post:1: <line>", in post order
    context_sources: set[str] = field(default_factory=set)
    lines: int = 0
    matched: list[str] = field(default_factory=list)
    cue_hits: list[CueHit] = field(default_factory=list)  # each weighed by its part (min(weight, 1) as factor)


def scan_parts(parts: list[TextPart], kb: KnowledgeBase) -> PartsScan:
    """Scan each part through the same signatures as pasted text (`read_input`), each under its own source.

    Facts are merged in ascending weight (then part order): a heavier part's value wins a key, and parts below
    EVIDENCE_WEIGHT only fill keys no evidence part set. The weights are the hook for paraphrase cues."""
    out = PartsScan()
    scanned = []
    for index, part in enumerate(parts):
        res = kb.signatures.scan_text(part.text, source=f"text:{part.source}")
        scanned.append((part.weight, index, part, res))
        out.lines += res.lines
        out.matched += [sid for sid in res.matched if sid not in out.matched]
        out.excerpts += [f"{part.source}: {line}" for line in res.excerpts]
        out.cue_hits += hits_from_scan(res, kb.cues, part.source, factor=min(part.weight, 1.0))
    evidence_keys = {k for w, _, _, res in scanned if w >= EVIDENCE_WEIGHT for k in res.facts}
    merged: dict[str, Fact] = {}
    for weight, _, _part, res in sorted(scanned, key=lambda t: (t[0], t[1])):
        for fact in res.fact_list():
            if weight < EVIDENCE_WEIGHT:
                if fact.key in evidence_keys:
                    continue
                out.context_sources.add(fact.source)
            merged[fact.key] = fact
    out.facts = list(merged.values())
    out.excerpts = out.excerpts[-MAX_PART_EXCERPTS:]
    return out


def read_parts(name: str, parts: list[TextPart], kb: KnowledgeBase, probe: ProbeResult | None = None) -> ExplainInput:
    """An input made of several texts (a thread): the same engine and facts as `read_input` on one text."""
    scan = scan_parts(parts, kb)
    facts = list(scan.facts)
    facts.append(Fact("text.lines", scan.lines, f"text:{name}", "observed"))
    if scan.matched:
        facts.append(Fact("text.signatures", list(scan.matched), f"text:{name}", "observed"))
    if (cues := cue_fact(scan.cue_hits, f"text:{name}")) is not None:
        facts.append(cues)
    joined = "\n\n".join(f"--- {p.source} ---\n{p.text}" for p in parts)
    kept = joined[:KEEP_TEXT_CHARS]
    if probe is not None:
        probe.excerpts = scan.excerpts
    return ExplainInput(name, facts, [probe] if probe else [], TextInput(name, kept, truncated=len(joined) > len(kept)),
                        cue_hits=scan.cue_hits, context_sources=frozenset(scan.context_sources))


def lower_confidence_on_context(diagnosis: Diagnosis, context_sources: frozenset[str]) -> None:
    """A verdict that rests only on facts from context (replies of other people) is one step less sure."""
    v = diagnosis.verdict
    winner = next((f for f in diagnosis.findings if f.rule.id == v.rule), None)
    if winner is None:
        return
    used = {leaf.fact for leaf in winner.outcome.evaluation.leaves if leaf.result is True}
    sources = {diagnosis.facts.fact(k).source for k in used if diagnosis.facts.fact(k) is not None}
    signature_sources = {s for s in sources if s.startswith("signature:")}
    if signature_sources and signature_sources <= context_sources:
        v.confidence = {"high": "medium", "medium": "low"}.get(v.confidence, "low")
