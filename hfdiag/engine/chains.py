"""Evidence chains as data (rules/chains.yaml): ordered hops, each seen / missing / unknown, never guessed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hfdiag.engine import conditions
from hfdiag.engine.data import read_yaml
from hfdiag.errors import RuleError
from hfdiag.evidence.model import FactSet


@dataclass
class HopState:
    id: str
    label: str
    status: str  # seen | missing | unknown

    def to_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "status": self.status}


@dataclass
class ChainState:
    name: str
    title: str
    hops: list[HopState]

    @property
    def relevant(self) -> bool:
        return any(h.status != "unknown" for h in self.hops)

    @property
    def _first_missing(self) -> int | None:
        return next((i for i, h in enumerate(self.hops) if h.status == "missing"), None)

    @property
    def last_seen(self) -> HopState | None:
        """The last hop with evidence before the point where evidence disappears."""
        stop = self._first_missing
        seen = [h for h in self.hops[: stop if stop is not None else len(self.hops)] if h.status == "seen"]
        return seen[-1] if seen else None

    @property
    def first_without(self) -> HopState | None:
        """Where evidence disappears: the first hop shown missing, else the first hop after the last one seen.
        (A hop can be missing for some requests while later hops are seen for others: intermittent faults.)"""
        stop = self._first_missing
        if stop is not None:
            return self.hops[stop]
        last = self.last_seen
        idx = self.hops.index(last) + 1 if last else 0
        return self.hops[idx] if idx < len(self.hops) else None

    @property
    def complete(self) -> bool:
        return all(h.status == "seen" for h in self.hops)

    def to_dict(self) -> dict:
        last, first = self.last_seen, self.first_without
        return {
            "name": self.name,
            "title": self.title,
            "hops": [h.to_dict() for h in self.hops],
            "last_seen": last.id if last else None,
            "first_without": first.id if first else None,
        }


def load_chains(path: Path, known_fact=None) -> dict:
    data = read_yaml(path)
    problems = lint_chains(data, path, known_fact)
    if problems:
        raise RuleError(problems[0])
    return data["chains"]


def lint_chains(data, path: Path, known_fact=None) -> list[str]:
    if not isinstance(data, dict) or not isinstance(data.get("chains"), dict):
        return [f"{path}: must be a mapping with 'chains'"]
    errs: list[str] = []
    for name, chain in data["chains"].items():
        if not isinstance(chain, dict) or not isinstance(chain.get("hops"), list) or not chain["hops"]:
            errs.append(f"{path}: chain {name!r} needs a non-empty 'hops' list")
            continue
        ids = set()
        for i, hop in enumerate(chain["hops"]):
            if not isinstance(hop, dict) or not isinstance(hop.get("id"), str):
                errs.append(f"{path}: {name}.hops[{i}] needs an id")
                continue
            if hop["id"] in ids:
                errs.append(f"{path}: {name} has duplicate hop {hop['id']!r}")
            ids.add(hop["id"])
            for k in ("seen", "missing"):
                if k in hop:
                    errs += [f"{path}: {name}.{hop['id']}: {e}" for e in conditions.validate(hop[k], k, known_fact)]
            if "seen" not in hop:
                errs.append(f"{path}: {name}.{hop['id']} needs a 'seen' condition")
    return errs


def evaluate_chains(chains: dict, facts: FactSet) -> list[ChainState]:
    out = []
    for name, chain in chains.items():
        hops = []
        for hop in chain["hops"]:
            status = "unknown"
            if conditions.evaluate(hop["seen"], facts).result is True:
                status = "seen"
            elif "missing" in hop and conditions.evaluate(hop["missing"], facts).result is True:
                status = "missing"
            hops.append(HopState(hop["id"], hop.get("label", hop["id"]), status))
        out.append(ChainState(name, chain.get("title", name), hops))
    return out
