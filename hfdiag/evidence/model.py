"""Evidence: facts with provenance, probe results, text inputs. Plain data; JSON in and out, exactly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator, Literal

FactValue = Any  # str | int | float | bool | None | list of those
FactKind = Literal["observed", "inferred"]
ProbeStatus = Literal["ok", "error", "timeout", "skipped", "denied"]
PROBE_STATUSES = ("ok", "error", "timeout", "skipped", "denied")


@dataclass(frozen=True)
class Fact:
    """One fact: a flat dotted key, a JSON value, where it came from, and whether it was seen or deduced."""

    key: str
    value: FactValue
    source: str  # e.g. "probe:space", "text:stdin", "cli:--fact", "signature:SIG-ZGPU-001@text:stdin"
    kind: FactKind = "observed"

    def to_dict(self) -> dict:
        return {"key": self.key, "value": self.value, "source": self.source, "kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict) -> "Fact":
        return cls(key=d["key"], value=d.get("value"), source=d.get("source", "unknown"), kind=d.get("kind", "observed"))


class FactSet:
    """Facts by key. Later facts override earlier ones, except that `pin`ned facts (from --fact) always win."""

    def __init__(self, facts: Iterable[Fact] = ()):
        self._facts: dict[str, Fact] = {}
        self._pinned: set[str] = set()
        for f in facts:
            self.add(f)

    def add(self, fact: Fact, pin: bool = False) -> None:
        if fact.key in self._pinned and not pin:
            return
        self._facts[fact.key] = fact
        if pin:
            self._pinned.add(fact.key)

    def set(self, key: str, value: FactValue, source: str, kind: FactKind = "observed") -> None:
        self.add(Fact(key, value, source, kind))

    def update(self, facts: Iterable[Fact]) -> None:
        for f in facts:
            self.add(f)

    def get(self, key: str, default: Any = None) -> FactValue:
        f = self._facts.get(key)
        return default if f is None else f.value

    def fact(self, key: str) -> Fact | None:
        return self._facts.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._facts

    def __iter__(self) -> Iterator[Fact]:
        return iter(sorted(self._facts.values(), key=lambda f: f.key))

    def __len__(self) -> int:
        return len(self._facts)

    def values(self) -> dict[str, FactValue]:
        return {k: f.value for k, f in sorted(self._facts.items())}

    def to_list(self) -> list[dict]:
        return [f.to_dict() for f in self]


@dataclass
class ProbeResult:
    """What one probe gathered. A failing probe still returns one (status error/timeout/denied)."""

    probe: str
    status: ProbeStatus = "ok"
    duration_ms: float = 0.0
    facts: list[Fact] = field(default_factory=list)
    error: str | None = None
    excerpts: list[str] = field(default_factory=list)  # redacted lines kept as evidence (e.g. last log lines)
    detail: dict = field(default_factory=dict)  # probe-specific structured data (timelines, timings)

    def fact(self, key: str, value: FactValue, kind: FactKind = "observed") -> None:
        self.facts.append(Fact(key, value, f"probe:{self.probe}", kind))

    def replace_fact(self, key: str, value: FactValue, kind: FactKind = "observed") -> None:
        """Record `key`, dropping what this probe recorded for it before (a later reading supersedes it)."""
        self.facts = [f for f in self.facts if f.key != key]
        self.fact(key, value, kind)

    def to_dict(self) -> dict:
        return {
            "probe": self.probe,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 1),
            "facts": [f.to_dict() for f in self.facts],
            "error": self.error,
            "excerpts": list(self.excerpts),
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ProbeResult":
        return cls(
            probe=d["probe"],
            status=d.get("status", "ok"),
            duration_ms=float(d.get("duration_ms", 0.0)),
            facts=[Fact.from_dict(f) for f in d.get("facts", [])],
            error=d.get("error"),
            excerpts=list(d.get("excerpts", [])),
            detail=dict(d.get("detail", {})),
        )


@dataclass
class TextInput:
    """A pasted text or log kept in a bundle (redacted, bounded)."""

    name: str
    text: str
    truncated: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TextInput":
        return cls(name=d["name"], text=d.get("text", ""), truncated=bool(d.get("truncated", False)))
