"""Lines a signature's pattern takes that none of its keywords fire on (`hfdiag rules coverage`).

The scan only runs a pattern on lines where one of its keywords fires, so a keyword list that misses a form the
pattern accepts ("gpu meter" where the keywords say "bar") hides that line for good, silently. This module
expands a pattern into the lines it can match (alternatives, optional parts and small character classes taken
one by one; an open character becomes a space, an `x`, a `0` or a `.`, whichever the pattern accepts there),
keeps those the pattern really matches, and scans each through the signature's own prefilter. Every line it
reports is checked both ways: the pattern matches it and the scan does not.

A pattern whose expansion passes `limit` lines is not checked (returned as None), so the work stays bounded."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hfdiag.engine.signatures import Signature, SignatureSet, regex_parse_tools

EXPANSION_LIMIT = 4000
_OPEN = "\x00"  # a character the pattern leaves open (`.`, `\w`, a large class)
_WORD_EDGE = "\x01"  # `\b`: where a word starts or ends (dropped from the line; makes some lines impossible)
_FILLS = (" ", "x", "0", ".")
_EACH_OPEN = 3  # up to this many open characters are filled one by one (4^3 tries at most)


class _TooBig(Exception):
    pass


@dataclass
class Coverage:
    signature_id: str
    misses: list[str] | None  # None: the pattern expands past the limit (or does not parse) and was not checked


def keyword_misses(sig: Signature, limit: int = EXPANSION_LIMIT) -> list[str] | None:
    """Lines the pattern of `sig` matches and its keywords do not reach, shortest first (None: not checked)."""
    constants, parser = regex_parse_tools()  # the stdlib's own parse tree: the pattern's exact syntax
    try:
        forms = _Expander(limit, constants).expand(parser.parse(sig.source, sig.flags))
    except Exception:  # too big, or unparsable (lint's business): not checked here
        return None
    alone = SignatureSet([sig])
    misses: list[str] = []
    for form in sorted(forms, key=lambda f: (len(f), f)):
        line = _concrete(form, sig)
        if line is None or line in misses:  # two forms may fill to the same line
            continue
        found = alone.scan_text(line)
        if sig.id not in found.matched and sig.id not in found.cue_hits:
            misses.append(line)
    return misses


def coverage(sigset: SignatureSet, ids: set[str] | None = None, limit: int = EXPANSION_LIMIT) -> list[Coverage]:
    return [Coverage(s.id, keyword_misses(s, limit)) for s in sigset.signatures if ids is None or s.id in ids]


def _concrete(form: str, sig: Signature) -> str | None:
    """The form as a line the pattern matches (open characters filled), or None when no fill makes one."""
    if not _possible(form):
        return None
    bare = form.replace(_WORD_EDGE, "")
    parts = bare.split(_OPEN)
    if len(parts) - 1 <= _EACH_OPEN:  # few open characters: each its own fill, spaces first
        choices = itertools.product(_FILLS, repeat=len(parts) - 1)
    else:
        choices = ((fill,) * (len(parts) - 1) for fill in _FILLS)
    for fills in choices:
        line = parts[0] + "".join(f + part for f, part in zip(fills, parts[1:], strict=True))
        if sig.pattern.search(line):
            return line
    return None


def _possible(form: str) -> bool:
    """False where a `\\b` sits between two known characters of the same kind (word/word or non-word/non-word)."""
    chars = [c for c in form if c != _WORD_EDGE]
    at = 0
    for c in form:
        if c != _WORD_EDGE:
            at += 1
            continue
        before = chars[at - 1] if at else None
        after = chars[at] if at < len(chars) else None
        if before and after and _OPEN not in (before, after) and _is_word(before) == _is_word(after):
            return False
    return True


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


class _Expander:
    def __init__(self, limit: int, constants):
        self.limit = limit
        self.c = constants

    def _join(self, left: set[str], right: set[str]) -> set[str]:
        out = {a + b for a in left for b in right}
        if len(out) > self.limit:
            raise _TooBig
        return out

    def expand(self, sub) -> set[str]:
        forms = {""}
        for op, av in sub.data if hasattr(sub, "data") else sub:
            forms = self._join(forms, self._item(op, av))
        return forms

    def _item(self, op, av) -> set[str]:
        c = self.c
        if op is c.LITERAL:
            return {chr(av)}
        if op is c.AT:
            return {_WORD_EDGE} if av is c.AT_BOUNDARY else {""}
        if op is c.IN:
            chars = [chr(a) for o, a in av if o is c.LITERAL]
            if len(chars) != len(av) or len(chars) > 6:
                return {_OPEN}
            return set(chars)
        if op is c.BRANCH:
            out: set[str] = set()
            for alt in av[1]:
                out |= self.expand(alt)
                if len(out) > self.limit:
                    raise _TooBig
            return out
        if op is c.SUBPATTERN:
            return self.expand(av[3])
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            low, high, sub = av
            one = self.expand(sub)
            forms = {""}
            for _ in range(low):
                forms = self._join(forms, one)
            if high == low:
                return forms
            if low == 0 and high == 1:
                return forms | one
            # more repeats than the least: one more, then an open character for whatever else may follow
            return forms | {f + _OPEN for f in self._join(forms, one)}
        if op in (c.ASSERT, c.ASSERT_NOT):
            return {""}  # lookarounds: the concrete line is checked against the whole pattern anyway
        return {_OPEN}  # `.`, categories, back-references, anything else: one open character
