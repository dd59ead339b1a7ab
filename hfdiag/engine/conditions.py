"""Condition trees over facts, evaluated in three values (True, False, None = unknown), with a per-leaf trace.

A tree is `{all: [...]}`, `{any: [...]}`, `{not: tree}` or a leaf `{fact, op, value}`.
A leaf over a missing fact is unknown (missing is not false), except `missing`/`exists`, which are decided by
absence itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from hfdiag.evidence.model import FactSet

Tri = bool | None

OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "missing", "matches", "contains")
_NO_VALUE_OPS = ("exists", "missing")
_REGEX_CACHE: dict[str, re.Pattern] = {}


class ConditionError(ValueError):
    pass


def _regex(pattern: str) -> re.Pattern:
    rx = _REGEX_CACHE.get(pattern)
    if rx is None:
        rx = _REGEX_CACHE[pattern] = re.compile(pattern)
    return rx


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, str) and a.lower() == str(b).lower()) or (
            isinstance(b, str) and b.lower() == str(a).lower())
    na, nb = _num(a), _num(b)
    if na is not None and nb is not None and not (isinstance(a, str) and isinstance(b, str)):
        return na == nb
    return a == b


def _compare(op: str, a: Any, b: Any) -> Tri:
    na, nb = _num(a), _num(b)
    if na is None or nb is None:
        return False
    return {"gt": na > nb, "gte": na >= nb, "lt": na < nb, "lte": na <= nb}[op]


def _apply(op: str, actual: Any, expected: Any) -> Tri:
    if op == "eq":
        return _eq(actual, expected)
    if op == "ne":
        return not _eq(actual, expected)
    if op == "in":
        return any(_eq(actual, e) for e in expected)
    if op == "not_in":
        return not any(_eq(actual, e) for e in expected)
    if op in ("gt", "gte", "lt", "lte"):
        return _compare(op, actual, expected)
    if op == "matches":
        return _regex(expected).search(str(actual)) is not None
    if op == "contains":
        if isinstance(actual, list):
            return any(_eq(x, expected) for x in actual)
        return str(expected).lower() in str(actual).lower()
    raise ConditionError(f"unknown operator {op!r}")


@dataclass(slots=True)
class LeafTrace:
    fact: str
    op: str
    expected: Any
    actual: Any
    present: bool
    result: Tri

    def to_dict(self) -> dict:
        return {"fact": self.fact, "op": self.op, "value": self.expected, "actual": self.actual,
                "present": self.present, "result": self.result}


@dataclass
class Evaluation:
    result: Tri
    leaves: list[LeafTrace] = field(default_factory=list)

    @property
    def unknown_facts(self) -> list[str]:
        return sorted({leaf.fact for leaf in self.leaves if leaf.result is None})

    @property
    def true_leaves(self) -> int:
        return sum(1 for leaf in self.leaves if leaf.result is True and leaf.present)


def evaluate(tree: dict, facts: FactSet) -> Evaluation:
    leaves: list[LeafTrace] = []
    result = _eval(tree, facts, leaves)
    return Evaluation(result, leaves)


def _eval(node: dict, facts: FactSet, leaves: list[LeafTrace]) -> Tri:
    # Every child is evaluated (the trace lists every leaf); plain loops, since this runs for every rule of every
    # diagnosis (bench/: rule evaluation per bundle).
    key = node.get("fact")
    if key is None:
        if "all" in node:
            saw_false = saw_none = False
            for c in node["all"]:
                r = _eval(c, facts, leaves)
                if r is False:
                    saw_false = True
                elif r is None:
                    saw_none = True
            return False if saw_false else (None if saw_none else True)
        if "any" in node:
            saw_true = saw_none = False
            for c in node["any"]:
                r = _eval(c, facts, leaves)
                if r is True:
                    saw_true = True
                elif r is None:
                    saw_none = True
            return True if saw_true else (None if saw_none else False)
        if "not" in node:
            r = _eval(node["not"], facts, leaves)
            return None if r is None else not r
    op = node["op"]
    fact = facts.fact(key)
    present = fact is not None
    actual = fact.value if present else None
    if op == "exists":
        res: Tri = present and actual is not None
    elif op == "missing":
        res = not present or actual is None
    elif not present or actual is None:
        res = None
    else:
        res = _apply(op, actual, node.get("value"))
    leaves.append(LeafTrace(key, op, node.get("value"), actual, present, res))
    return res


def validate(node: Any, path: str = "when", known_fact: Callable[[str], bool] | None = None) -> list[str]:
    """Structural problems of a condition tree, as messages (empty when valid)."""
    errors: list[str] = []
    if not isinstance(node, dict):
        return [f"{path}: must be a mapping"]
    branches = [k for k in ("all", "any", "not") if k in node]
    if branches:
        if len(node) != 1:
            errors.append(f"{path}: '{branches[0]}' must be the only key, got {sorted(node)}")
        k = branches[0]
        if k == "not":
            errors += validate(node["not"], f"{path}.not", known_fact)
        elif not isinstance(node[k], list) or not node[k]:
            errors.append(f"{path}.{k}: must be a non-empty list")
        else:
            for i, child in enumerate(node[k]):
                errors += validate(child, f"{path}.{k}[{i}]", known_fact)
        return errors
    extra = set(node) - {"fact", "op", "value"}
    if extra:
        errors.append(f"{path}: unknown keys {sorted(extra)}")
    if not isinstance(node.get("fact"), str):
        errors.append(f"{path}: leaf needs a string 'fact'")
    elif known_fact is not None and not known_fact(node["fact"]):
        errors.append(f"{path}: fact {node['fact']!r} is not declared in facts.yaml")
    op = node.get("op")
    if op not in OPERATORS:
        errors.append(f"{path}: unknown operator {op!r} (allowed: {', '.join(OPERATORS)})")
        return errors
    if op in _NO_VALUE_OPS:
        if "value" in node:
            errors.append(f"{path}: operator {op!r} takes no value")
    elif "value" not in node:
        errors.append(f"{path}: operator {op!r} needs a value")
    elif op in ("in", "not_in") and not isinstance(node["value"], list):
        errors.append(f"{path}: operator {op!r} needs a list value")
    elif op == "matches":
        from hfdiag.engine.regex_safety import regex_problem

        problem = regex_problem(node["value"])
        if problem:
            errors.append(f"{path}: {problem}")
    return errors
