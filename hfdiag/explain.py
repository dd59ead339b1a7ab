"""`hfdiag explain` as a library: classify pasted text, log files or evidence bundles."""

from __future__ import annotations

import io
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


def parse_fact_args(items: list[str], kb: KnowledgeBase) -> list[Fact]:
    """`--fact KEY=VALUE`, typed by the facts catalog (bool, int, float, list as a,b,c, else string)."""
    facts = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--fact {item!r}: expected KEY=VALUE")
        spec = kb.catalog.spec(key)
        typ = spec.type if spec else _guess_type(raw)
        facts.append(Fact(key, _coerce(key, raw.strip(), typ), "cli:--fact", "observed"))
    return facts


def _guess_type(raw: str) -> str:
    if raw.lower() in ("true", "false", "yes", "no"):
        return "bool"
    try:
        int(raw)
        return "int"
    except ValueError:
        pass
    try:
        float(raw)
        return "float"
    except ValueError:
        return "str"


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
        raise UsageError(f"--fact {key}={raw!r}: expected a {typ}") from None


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
        if looks_like_bundle(head_text):
            rest = stream.read(MAX_BUNDLE_BYTES + 1 - len(head))
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
        res, kept = kb.signatures.scan_stream(_Chained(head, stream), source=f"text:{source}", keep_text=KEEP_TEXT_CHARS)
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

    def __init__(self, head: bytes, rest: IO[bytes]):
        self._head, self._rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            return out
        return self._rest.read(n)

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
    target = inp.bundle.target if inp.bundle and inp.bundle.target else ("stdin" if inp.name == "-" else inp.name)
    return build_report(
        diagnosis, mode="explain", target=target, redactor=redactor, probes=inp.probes,
        inputs=[inp.text] if inp.text else (inp.bundle.inputs if inp.bundle else []),
    )
