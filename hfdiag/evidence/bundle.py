"""The evidence bundle: everything a check gathered, redacted, as one JSON document that `explain` replays."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hfdiag import __version__
from hfdiag.errors import InputError
from hfdiag.evidence.model import PROBE_STATUSES, Fact, FactSet, ProbeResult, TextInput

BUNDLE_SCHEMA_VERSION = 1
BUNDLE_KIND = "hfdiag-evidence-bundle"
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 32


@dataclass
class Bundle:
    target: str | None = None
    probes: list[ProbeResult] = field(default_factory=list)
    inputs: list[TextInput] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)  # facts given outside any probe (e.g. --fact)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    tool_version: str = __version__
    schema_version: int = BUNDLE_SCHEMA_VERSION

    def fact_set(self) -> FactSet:
        fs = FactSet()
        for p in self.probes:
            fs.update(p.facts)
        for f in self.facts:
            fs.add(f, pin=f.source.startswith("cli:"))
        return fs

    def to_dict(self) -> dict:
        return {
            "kind": BUNDLE_KIND,
            "schema_version": self.schema_version,
            "created_at": self.created_at,
            "tool_version": self.tool_version,
            "target": self.target,
            "probes": [p.to_dict() for p in self.probes],
            "inputs": [i.to_dict() for i in self.inputs],
            "facts": [f.to_dict() for f in self.facts],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, d: Any) -> "Bundle":
        _validate(d)
        d = _bounded(d)
        return cls(
            target=d.get("target"),
            probes=[ProbeResult.from_dict(p) for p in d.get("probes", [])],
            inputs=[TextInput.from_dict(i) for i in d.get("inputs", [])],
            facts=[Fact.from_dict(f) for f in d.get("facts", [])],
            created_at=d.get("created_at", ""),
            tool_version=d.get("tool_version", "unknown"),
            schema_version=d["schema_version"],
        )

    @classmethod
    def loads(cls, text: str, name: str = "bundle") -> "Bundle":
        if len(text) > MAX_BUNDLE_BYTES:
            raise InputError(f"{name}: bundle is larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MB")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise InputError(f"{name}: not valid JSON ({str(e)[:80]})") from None
        return cls.from_dict(data)

    def write(self, path: str | Path) -> None:
        Path(path).write_text(self.dumps(), encoding="utf-8")


def looks_like_bundle(text: str) -> bool:
    head = text.lstrip()[:4096]
    return head.startswith("{") and f'"{BUNDLE_KIND}"' in head


def _depth(value: Any, limit: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def _validate(d: Any) -> None:
    """Structural checks with one-line errors; a hostile bundle must not get further than this."""
    if not isinstance(d, dict):
        raise InputError("bundle: top level must be a JSON object")
    if d.get("kind") != BUNDLE_KIND:
        raise InputError(f"bundle: 'kind' must be {BUNDLE_KIND!r}")
    sv = d.get("schema_version")
    if sv != BUNDLE_SCHEMA_VERSION:
        raise InputError(f"bundle: unsupported schema_version {sv!r} (this hfdiag reads {BUNDLE_SCHEMA_VERSION})")
    if _depth(d, MAX_DEPTH) > MAX_DEPTH:
        raise InputError(f"bundle: nested deeper than {MAX_DEPTH} levels")
    for key, typ in (("probes", list), ("inputs", list), ("facts", list)):
        if not isinstance(d.get(key, []), typ):
            raise InputError(f"bundle: '{key}' must be a list")
    if not isinstance(d.get("target"), (str, type(None))):
        raise InputError("bundle: 'target' must be a string")
    for p in d.get("probes", []):
        if not isinstance(p, dict) or not isinstance(p.get("probe"), str):
            raise InputError("bundle: every probe needs a string 'probe' name")
        dur = p.get("duration_ms", 0.0)
        if isinstance(dur, bool) or not isinstance(dur, (int, float)) or not -1e12 < dur < 1e12:
            raise InputError(f"bundle: probe {p['probe'][:40]!r} 'duration_ms' must be a number")
        if not isinstance(p.get("error"), (str, type(None))) or \
                not all(isinstance(x, str) for x in p.get("excerpts", []) if isinstance(p.get("excerpts"), list)):
            raise InputError(f"bundle: probe {p['probe'][:40]!r} 'error' and 'excerpts' must be text")
        if p.get("status", "ok") not in PROBE_STATUSES:
            raise InputError(f"bundle: probe {p['probe'][:40]!r} has unknown status {str(p.get('status'))[:20]!r}")
        if not isinstance(p.get("facts", []), list) or not isinstance(p.get("excerpts", []), list):
            raise InputError(f"bundle: probe {p['probe'][:40]!r} has malformed facts or excerpts")
        if not isinstance(p.get("detail", {}), dict):
            raise InputError(f"bundle: probe {p['probe'][:40]!r} 'detail' must be an object")
        _validate_facts(p.get("facts", []))
    _validate_facts(d.get("facts", []))
    for i in d.get("inputs", []):
        if not isinstance(i, dict) or not isinstance(i.get("name"), str) or not isinstance(i.get("text", ""), str):
            raise InputError("bundle: every input needs string 'name' and 'text'")


# Bounds on what a loaded bundle may carry into a report: far above what `check` writes (errors and excerpts are
# cut at 500 characters, kept text at 64 KiB), so only a hand-made bundle is ever cut.
MAX_STRING = 4096
MAX_ITEMS = 500
MAX_TEXT = 64 * 1024
MAX_DETAIL_CHARS = 256 * 1024


def _cut(v: Any, limit: int = MAX_STRING) -> Any:
    return v[:limit] + " …[cut]" if isinstance(v, str) and len(v) > limit else v


def _bounded(d: dict) -> dict:
    """A copy of a validated bundle with every string and list cut to the bounds above."""
    def fact(f: dict) -> dict:
        v = f.get("value")
        v = [_cut(x) for x in v[:MAX_ITEMS]] if isinstance(v, list) else _cut(v)
        return {**f, "key": _cut(f["key"], 200), "value": v}

    probes = []
    for p in d.get("probes", [])[:MAX_ITEMS]:
        detail = p.get("detail", {})
        if len(json.dumps(detail, default=str)) > MAX_DETAIL_CHARS:
            detail = {"cut": f"detail larger than {MAX_DETAIL_CHARS // 1024} KiB"}
        probes.append({**p, "probe": _cut(p["probe"], 100), "error": _cut(p.get("error")),
                       "excerpts": [_cut(x) for x in p.get("excerpts", [])[:MAX_ITEMS]],
                       "facts": [fact(f) for f in p.get("facts", [])[:10 * MAX_ITEMS]], "detail": detail})
    inputs = [{**i, "name": _cut(i["name"], 200), "text": i.get("text", "")[:MAX_TEXT],
               "truncated": bool(i.get("truncated")) or len(i.get("text", "")) > MAX_TEXT}
              for i in d.get("inputs", [])[:MAX_ITEMS]]
    return {**d, "target": _cut(d.get("target"), 200), "probes": probes, "inputs": inputs,
            "facts": [fact(f) for f in d.get("facts", [])[:10 * MAX_ITEMS]]}


def _validate_facts(facts: list) -> None:
    for f in facts:
        if not isinstance(f, dict) or not isinstance(f.get("key"), str):
            raise InputError("bundle: every fact needs a string 'key'")
        if not isinstance(f.get("source", ""), str):
            raise InputError(f"bundle: fact {f['key'][:60]!r} 'source' must be a string")
        v = f.get("value")
        if isinstance(v, dict) or (isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v)):
            raise InputError(f"bundle: fact {f['key'][:60]!r} must be a scalar or a flat list")
        if f.get("kind", "observed") not in ("observed", "inferred"):
            raise InputError(f"bundle: fact {f['key'][:60]!r} has unknown kind")
