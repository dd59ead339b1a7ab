"""Lint for regexes that come from rule files: they must compile, stay short, and avoid the nested unbounded
quantifiers (`(a+)+`, `(.*)*`, `(\\w+\\s?)*`) that make Python's backtracking engine take exponential time."""

from __future__ import annotations

import re

try:  # Python 3.11+
    import re._constants as _c  # type: ignore[import-not-found]
    import re._parser as _p  # type: ignore[import-not-found]
except ImportError:  # Python 3.10
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

MAX_PATTERN_LENGTH = 2000
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT}
_POSSESSIVE = getattr(_c, "POSSESSIVE_REPEAT", None)
_UNBOUNDED = _c.MAXREPEAT


def _has_unbounded_repeat(items) -> bool:
    for op, av in items:
        if op in _REPEATS:
            lo, hi, sub = av
            if hi == _UNBOUNDED or hi > 100:
                return True
            if _has_unbounded_repeat(sub):
                return True
        elif _children(op, av) and any(_has_unbounded_repeat(c) for c in _children(op, av)):
            return True
    return False


def _children(op, av) -> list:
    if op == _c.SUBPATTERN:
        return [av[-1]]
    if op == _c.BRANCH:
        return list(av[1])
    if op in (_c.ASSERT, _c.ASSERT_NOT):
        return [av[1]]
    if op in _REPEATS or (op == _POSSESSIVE):
        return [av[2]]
    if op == getattr(_c, "ATOMIC_GROUP", None):
        return [av]
    return []


def _first_chars(items) -> set | None:
    """Characters a sub-pattern can start with; None when it can start with anything (or be empty)."""
    for op, av in items:
        if op == _c.LITERAL:
            return {av}
        if op == _c.IN:
            chars = set()
            for kind, val in av:
                if kind == _c.LITERAL:
                    chars.add(val)
                elif kind == _c.RANGE and val[1] - val[0] < 256:
                    chars.update(range(val[0], val[1] + 1))
                else:
                    return None
            return chars
        if op == _c.SUBPATTERN:
            return _first_chars(av[-1])
        if op in (_c.AT,):
            continue  # anchors consume nothing
        return None
    return None


def _overlapping_branch(items) -> bool:
    """A branch whose alternatives can start with the same character: under a quantifier, the engine may try
    every way of splitting the input between them, as in (a|aa)+."""
    for op, av in items:
        if op == _c.BRANCH:
            seen: set = set()
            for alt in av[1]:
                first = _first_chars(alt)
                if first is None or first & seen:
                    return True
                seen |= first
        for child in _children(op, av):
            if _overlapping_branch(child):
                return True
    return False


def _nested_problem(items) -> str | None:
    for op, av in items:
        if op in _REPEATS:
            lo, hi, sub = av
            if (hi == _UNBOUNDED or hi > 100) and _has_unbounded_repeat(sub):
                return "nested unbounded quantifiers (catastrophic backtracking risk)"
            if (hi == _UNBOUNDED or hi > 100) and _overlapping_branch(sub):
                return "overlapping alternatives under an unbounded quantifier (catastrophic backtracking risk)"
        for child in _children(op, av):
            problem = _nested_problem(child)
            if problem:
                return problem
    return None


def regex_problem(pattern: object) -> str | None:
    """None when the pattern is acceptable, else a one-line reason."""
    if not isinstance(pattern, str):
        return "regex must be a string"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"regex longer than {MAX_PATTERN_LENGTH} characters"
    try:
        re.compile(pattern)
        parsed = _p.parse(pattern)
    except (re.error, RecursionError, OverflowError) as e:
        return f"regex does not compile: {e}"
    return _nested_problem(list(parsed))
