"""Signatures: regexes that turn text (logs, pasted reports, error messages) into facts.

Built for streaming: text is read in fixed-size chunks, one combined case-insensitive prefilter of each
signature's literal keywords finds candidate lines at C speed, and only those lines meet the full regexes.
Memory stays bounded whatever the input size; the same scanner serves live log probes and `hfdiag explain`.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, Any

from hfdiag.engine.data import read_yaml
from hfdiag.engine.regex_safety import regex_problem
from hfdiag.errors import RuleError
from hfdiag.evidence.model import Fact

CHUNK_BYTES = 1 << 20
MAX_LINE_CHARS = 8192  # a longer line is matched on a window around the keyword hit
QUIET_LINE_BYTES, QUIET_LINES = 1024, 4096  # the repeated lines that matched nothing (SignatureSet._quiet_lines)
MAX_EXCERPTS = 40
_VALUE_RX = re.compile(r"^\{(?P<name>\w+)(?::(?P<type>int|float|str|lower|bool|duration_s))?\}$")
_TRUE = {"true", "yes", "1", "on"}
# Whitespace to Python's `\s` but not to RE2's: lines holding one skip the RE2 gate (see SignatureSet._gate).
_PY_ONLY_SPACE = re.compile(rb"[\x0b\x1c-\x1f]")
_SIG_KEYS = {"id", "description", "keywords", "pattern", "ignore_case", "facts", "tests", "keep", "bucket"}


def _duration_s(text: str) -> int | None:
    """'0:01:23' / '1 day, 2:03:04' (str(timedelta)) -> seconds."""
    m = re.match(r"^(?:(\d+) days?, )?(\d+):(\d{2}):(\d{2})", text.strip())
    if not m:
        return None
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


@dataclass
class Signature:
    id: str
    source: str  # the regex as written; compiled on first use (most runs meet only a few signatures)
    keywords: list[str]
    facts: dict[str, Any]
    keep: str = "last"
    description: str = ""
    bucket: str | None = None
    tests: list[dict] = field(default_factory=list)
    flags: int = re.IGNORECASE
    kind: str = "signature"  # or "cue" (engine/cues.py): recorded in ScanResult.cue_hits, adds interpreted facts

    @cached_property
    def pattern(self) -> re.Pattern:
        return re.compile(self.source, self.flags)

    def extract(self, m: re.Match, line: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, spec in self.facts.items():
            if isinstance(spec, str) and spec.startswith("{") and spec.endswith("}"):
                if spec == "{line}":
                    out[key] = line.strip()[:300]
                    continue
                if spec == "{match}":
                    out[key] = m.group(0).strip()[:300]
                    continue
                vm = _VALUE_RX.match(spec)
                raw = m.group(vm.group("name")) if vm else None
                if raw is None:
                    continue
                typ = vm.group("type") or "str"
                try:
                    if typ == "int":
                        out[key] = int(raw)
                    elif typ == "float":
                        out[key] = float(raw)
                    elif typ == "lower":
                        out[key] = raw.strip().lower()
                    elif typ == "bool":
                        out[key] = raw.strip().lower() in _TRUE
                    elif typ == "duration_s":
                        val = _duration_s(raw)
                        if val is not None:
                            out[key] = val
                    else:
                        out[key] = raw.strip()[:300]
                except ValueError:
                    continue
            else:
                out[key] = spec
        return out


@dataclass
class ScanResult:
    facts: dict[str, Fact] = field(default_factory=dict)
    matched: list[str] = field(default_factory=list)  # signature ids, in order of first match
    counts: dict[str, int] = field(default_factory=dict)
    excerpts: deque = field(default_factory=lambda: deque(maxlen=MAX_EXCERPTS))
    lines: int = 0
    bytes: int = 0
    last_lines: deque = field(default_factory=lambda: deque(maxlen=20))
    cue_hits: dict[str, str] = field(default_factory=dict)  # cue id -> the first line it fired on

    def fact_list(self) -> list[Fact]:
        return list(self.facts.values())


def keyword_pieces(keyword: str) -> list[str]:
    """The keywords a `~` joins: "static ~ file" fires where "static" and, later on the same line, "file" meet
    (each with its own boundaries, see keyword_parts); a keyword without `~` is one piece. For a signature whose
    every match holds two words that are each common in some log but rarely together (asset words in access-log
    URLs, request words in Gradio lines)."""
    if "~" not in keyword:
        return [keyword]
    return re.split(r"\s*~\s*", keyword)


def keyword_parts(keyword: str) -> tuple[str, bool, bool]:
    """(literal, starts at a word boundary, ends at a word boundary) of a keyword (one piece: keyword_pieces) as
    written in signatures.yaml.

    A keyword matches where a word starts and may run on into the word ("quota" hits "quotas", never
    "changing" for "hang"). A leading `*` lets it start inside a word; a trailing `\b` makes it end with the
    word ("trigger\b" hits "trigger", not "Triggered"). Boundaries are ASCII (RE2's `\b`): they apply only
    next to an ASCII letter or digit, so a keyword such as "--> " or "0 error" is a plain substring at that end.
    A backslash escape (`\\n`, `\\t`, `\\r` as text, from pasted JSON or a repr) counts as a word start."""
    inside = keyword.startswith("*")
    body = keyword[1:] if inside else keyword
    whole = body.endswith("\\b")
    if whole:
        body = body[:-2]
    lead = not inside and bool(body) and body[0].isascii() and body[0].isalpha()
    trail = whole and bool(body) and body[-1].isascii() and body[-1].isalnum()
    return body, lead, trail


def keyword_example(keyword: str) -> str:
    """A text the keyword fires on (its literals, a space apart)."""
    return " ".join(keyword_parts(p)[0] for p in keyword_pieces(keyword))


# The gap of a `~` keyword: the rest of the line. Unbounded, so the DFA stays small (a bounded gap multiplies its
# states); RE2 runs it in one pass whatever the line.
_GAP = r"[^\n]*?"
# The fast word start (_fast_regex): RE2's `\b`, or an escaped newline, tab or return as text (pasted JSON, a repr).
_FAST_LEAD = r"(?:\b|\\[nrt])"


# The two non-ASCII letters RE2 (and `re`) fold to ASCII ones: a keyword's first letter written as one of them
# is no word character to RE2's `\b` (see _fast_regex).
_ODD_FIRST = {"s": "\u017f", "k": "\u212a"}


_APOSTROPHE = "(?:'|\u2019)?"


def _literal(body: str) -> str:
    """A keyword's text as a regex: an apostrophe inside a word may be typed straight, curly (phones and word
    processors write "can\u2019t") or left out ("cant"), so `can't reach` fires on all three (a quote elsewhere
    stays as written). Always a superset: a line the pattern does not take is only a candidate that its regex then
    turns down."""
    if "'" not in body and "\u2019" not in body:
        return re.escape(body)
    return "".join(_APOSTROPHE if c in "'\u2019" and body[i - 1:i].isalpha() and body[i + 1:i + 2].isalpha()
                   else re.escape(c) for i, c in enumerate(body))


def _piece_regex(piece: str, lead_form: str, odd_first: bool) -> str:
    body, lead, trail = keyword_parts(piece)
    end = "\\b" if trail else ""
    rx = (lead_form if lead else "") + _literal(body) + end
    odd = _ODD_FIRST.get(body[:1].lower()) if lead and odd_first else None
    if odd:  # that letter, taken case-sensitively, without a word start: a superset
        rx = f"(?:{rx}|(?-i:{odd}){_literal(body[1:])}{end})"
    return rx


def _joined(keyword: str, first_lead: str, later_lead: str, odd_first: bool = False) -> str:
    return _GAP.join(_piece_regex(p, later_lead if n else first_lead, odd_first)
                     for n, p in enumerate(keyword_pieces(keyword)))


def _fast_search_regex(keywords: list[str]) -> str:
    """The one search over every keyword's fast form. `~` keywords that share their later pieces are folded into
    one alternative, `(?:css|static|font)GAP(?:request|file)`: the same hits, but one gap for the DFA to carry
    along a line instead of one per first word, whose combinations multiplied its states (+40 MB of DFA cache on
    the warning-heavy log with a gap per keyword). The word start is written once before all the keywords that
    have one (_factored): the same hits again, but RE2's lazy DFA then builds its states ~10x faster, which was
    ~0.1-0.2 s of every scan's first megabyte."""
    plain, laters = [], {}
    for k in keywords:
        first, *rest = keyword_pieces(k)
        if rest:
            laters.setdefault(first, set()).add(tuple(rest))
        else:
            plain.append(k)
    out = [_factored(plain)] if plain else []
    groups: dict[frozenset, list[str]] = {}
    for first, rests in laters.items():
        groups.setdefault(frozenset(rests), []).append(first)
    for rests, firsts in groups.items():
        right = "|".join(_GAP.join(_piece_regex(p, _FAST_LEAD, True) for p in r) for r in sorted(rests))
        out.append(f"(?:{_factored(sorted(firsts))}){_GAP}(?:{right})")
    return "|".join(f"(?:{r})" for r in out)


def _factored(pieces: list[str]) -> str:
    """The alternation of one-piece keywords' fast forms with the word start taken out in front:
    `LEAD(?:quota|stuck)|(?-i:ſ)tuck|--> ` matches where `LEADquota|LEADstuck|(?-i:ſ)tuck|--> ` does."""
    led, rest = [], []
    for piece in pieces:
        body, lead, trail = keyword_parts(piece)
        end = "\\b" if trail else ""
        if not lead:
            rest.append(_literal(body) + end)
            continue
        led.append(_literal(body) + end)
        odd = _ODD_FIRST.get(body[:1].lower())
        if odd:  # see _piece_regex
            rest.append(f"(?-i:{odd}){_literal(body[1:])}{end}")
    alts = ([f"{_FAST_LEAD}(?:{'|'.join(led)})"] if led else []) + rest
    return "|".join(alts)


def keyword_regex(keyword: str) -> str:
    """The prefilter's regex for one keyword (escaped literals between their boundaries); RE2 and `re` syntax."""
    # an escaped newline or tab in pasted JSON or a repr ("...\\nNo GPU was available") starts a word too
    # The start is checked on the character before the keyword, not with `\\b`: a keyword may begin with a letter
    # that case-folds to ASCII ("ſtuck" for "stuck"), which `\\b` would take for a non-word character.
    return _joined(keyword, r"(?:^|[^a-z0-9_]|\\[nrt])", r"(?:[^a-z0-9_\n]|\\[nrt])")


def loose_keyword(keyword: str) -> str:
    """The first piece of a `~` keyword (the keyword itself otherwise): a superset of its hits. The gap does not
    cross bytes that are not UTF-8 (RE2's `[^\\n]`), as such a byte is no word start for any keyword: a block
    check that searched such blocks by first pieces cost 5-18 MB of peak memory and ~4% of the scan."""
    return keyword_pieces(keyword)[0]


class _Prefilter:
    """Finds candidate lines and the keywords on each, in time linear in the input whatever its contents.

    With RE2 (google-re2): one DFA over every keyword finds the next line with any keyword (C-level search, no
    Python match objects), then one RE2 Set pass over that line names every keyword on it. A line made of
    nothing but keywords costs two C passes, not one Python step per hit. Without RE2 the stdlib does the same
    on lower-cased bytes: one combined search, then each keyword's own search on the candidate line."""

    def __init__(self, keywords: list[str]):
        self.keywords = keywords
        self.lowers = False
        self.find = None  # (data, pos, endpos) -> start of the next hit, or -1 (may stop at more lines: _fast_regex)
        self.which = None  # line bytes -> indices of the keywords on it
        self.fast = False  # find/which are the `\b` forms: find_exact places a long line's window
        self._exact = None  # (find, Set match) exactly at keyword_regex's keywords, compiled on first need
        self._options = None
        try:
            self._with_re2()
        except Exception:  # not installed, or beyond RE2's limits: the stdlib, slower
            self._with_stdlib()

    def _with_re2(self) -> None:
        import re2  # type: ignore[import-not-found]

        options = re2.Options()
        options.max_mem = 64 << 20
        options.case_sensitive = False
        self._options = options
        try:
            self.find = _finder(re2.compile(_fast_search_regex(self.keywords), options), self.keywords[0])
            self.which = _fast_which(self.keywords, options, lambda line: self._exact_pair()[1](line))
            self.fast = True
        except Exception:  # the exact forms only
            find, match = self._exact_pair()
            self.find, self.which = find, lambda line: match(line) or ()

    def _exact_pair(self):
        """The exact search and Set (keyword_regex's word starts; a `~` keyword by its first piece, a superset of
        its hits). The fast forms answer every ASCII and most other lines, so these are compiled only when a line
        needs them: ~6 MB and ~40 ms saved in most runs."""
        if self._exact is None:
            import re2  # type: ignore[import-not-found]

            regexes = [keyword_regex(loose_keyword(k)) for k in self.keywords]
            combined = re2.compile("|".join(f"(?:{r})" for r in regexes), self._options)
            kw_set = re2.Set.SearchSet(self._options)
            for r in regexes:
                kw_set.Add(r)
            kw_set.Compile()
            self._exact = (_finder(combined, self.keywords[0]), kw_set.Match)
        return self._exact

    @property
    def find_exact(self):
        """(data, pos, endpos) -> start of the next hit exactly at keyword_regex's keywords, or -1."""
        return self._exact_pair()[0] if self.fast else self.find

    def _with_stdlib(self) -> None:
        self.lowers = True
        # a `~` keyword: its first piece finds the line, its pieces are then searched one after the other (the
        # earliest end of each is the best start for the next: linear, where `a[^\n]*?b` could backtrack)
        loose = [keyword_regex(loose_keyword(k)) for k in self.keywords]
        combined = re.compile("|".join(f"(?:{r})" for r in loose).encode("utf-8"))
        each = [[re.compile(r.encode("utf-8")) for r in _piece_regexes(k)] for k in self.keywords]

        def find(data: bytes, pos: int, endpos: int) -> int:
            m = combined.search(data, pos, endpos)
            return -1 if m is None else m.start()

        def fires(pieces, line: bytes) -> bool:
            at = 0
            for rx in pieces:
                m = rx.search(line, at)
                if m is None:
                    return False
                at = m.end()
            return True

        self.find = find
        self.which = lambda line: [i for i, pieces in enumerate(each) if fires(pieces, line)]


# The word start of keyword_regex is a class matching the character before the keyword; RE2's DFAs for it build
# their states ~0.2 s (the combined search) and ~0.25 s (the Set) before they run at full speed, in every run.
# With `\b` as the word start they build ~25x faster and answer alike on every line but those holding a
# character on which the two disagree: the two non-ASCII letters that case-fold to ASCII ones (U+017F, U+212A;
# word characters to the class, not to RE2's ASCII `\b`) and bytes that are not UTF-8 (the class matches none).
# So the fast search may stop at more lines (never fewer; a keyword's first letter written as one of the two also
# fires without a word start, see _fast_regex), and such lines get the exact Set.
_FOLDS_TO_ASCII = (b"\xc5\xbf", b"\xe2\x84\xaa")


def _fast_regex(keyword: str, lead: str = _FAST_LEAD) -> str:
    # "ſtatic" after a space has no `\b` before it (both are non-word characters to RE2), so a keyword that starts
    # with "s" or "k" also fires on that letter's odd twin without a word start
    return _joined(keyword, lead, lead, odd_first=True)


def _piece_regexes(keyword: str) -> list[str]:
    """keyword_regex of each piece of a keyword, a later piece's word start on a character before it."""
    first, *later = keyword_pieces(keyword)
    return [keyword_regex(first)] + [_joined(p, r"(?:[^a-z0-9_\n]|\\[nrt])", "") for p in later]


def _finder(combined, keyword: str):
    """(data, pos, endpos) -> start of the next hit, or -1: RE2's C-level search when it checks out."""
    raw = _raw_search(combined, keyword)
    if raw is not None:
        def find(data: bytes, pos: int, endpos: int) -> int:
            return raw(data, pos, endpos)[0]
    else:
        def find(data: bytes, pos: int, endpos: int) -> int:
            m = combined.search(data, pos, endpos)
            return -1 if m is None else m.start()
    return find


def _fast_which(keywords: list[str], options, exact_match):
    """line -> indices of the keywords on it, through RE2's C-level Set match of the `\b` forms, or of the
    exact Set (`exact_match`, a wrapper's Match) for a line holding a character on which the two disagree.
    The big Set holds the first piece of a `~` keyword (a gap per keyword there made its DFA grow by tens of MB on
    the warning-heavy log); a small Set of the whole `~` keywords then decides on the few lines where one fired.
    A line without a backslash cannot hold an escaped `\\n` word start: its Sets have the bare `\b`, whose DFA
    builds its states ~6x faster (~40 ms of every scan); the Sets with both starts are built for the first line
    with a backslash. Checked once against the wrapper."""
    import re2  # type: ignore[import-not-found]

    is_gap = [len(keyword_pieces(k)) > 1 for k in keywords]
    gaps = [i for i, gap in enumerate(is_gap) if gap]

    def sets(lead: str):
        big = re2.Set.SearchSet(options)
        for k in keywords:
            big.Add(_fast_regex(loose_keyword(k), lead))
        big.Compile()
        small = None
        if gaps:
            small = re2.Set.SearchSet(options)
            for i in gaps:
                small.Add(_fast_regex(keywords[i], lead))
            small.Compile()
        return big, small

    def matcher(big, small):
        fast, gap_match = big._set.Match, small._set.Match if small is not None else None

        def fast_which(line: bytes) -> list[int]:
            found = fast(line)
            for k in found:
                if is_gap[k]:
                    break
            else:
                return found
            return [k for k in found if not is_gap[k]] + [gaps[j] for j in gap_match(line)]

        return fast_which

    bare_set, bare_small = sets(r"\b")
    bare = matcher(bare_set, bare_small)
    escaped = []  # the Sets with both word starts, once a line needs them

    def with_escapes(line: bytes) -> list[int]:
        if not escaped:
            escaped.append(matcher(*sets(_FAST_LEAD)))
        return escaped[0](line)

    def which(line: bytes) -> list[int]:
        if not line.isascii():
            if _FOLDS_TO_ASCII[0] in line or _FOLDS_TO_ASCII[1] in line:
                return exact_match(line) or []
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return exact_match(line) or []
        return with_escapes(line) if b"\\" in line else bare(line)

    probe = b"x " + keyword_example(keywords[0]).encode("utf-8") + b" x"
    if sorted(which(probe)) != sorted(bare_set.Match(probe) or ()) or which(b""):
        raise ValueError("the C-level Set match disagrees with the wrapper")
    return which


def _raw_search(prefilter, keyword: str):
    """google-re2's C-level search, `(text, pos, endpos) -> (start, end)` ((-1, -1) when none), or None.

    `re2._Regexp.search` builds a Python match object per call (~3 us); on a log where a keyword shows up on
    every few lines that wrapper, not the DFA, was most of the scan time. Checked once against the public API."""
    try:
        import re2  # type: ignore[import-not-found]

        match = prefilter._regexp.Match
        anchor = re2._Anchor.UNANCHORED
        probe = b"x " + keyword_example(keyword).encode("utf-8") + b" x"
        want = prefilter.search(probe)
        got = match(anchor, probe, 0, len(probe))[0]
        if want is None or tuple(got) != want.span():
            return None
    except Exception:
        return None

    def search(text: bytes, pos: int, endpos: int) -> tuple[int, int]:
        return match(anchor, text, pos, endpos)[0]

    return search


def regex_parse_tools():
    """(constants, parser) of the stdlib's regex parser: `re._constants`/`re._parser` from 3.11, `sre_*` on 3.10."""
    try:
        from re import _constants as C  # Python >= 3.11
        from re import _parser as P
    except ImportError:  # pragma: no cover - 3.10
        import sre_constants as C  # type: ignore[no-redef]
        import sre_parse as P  # type: ignore[no-redef]
    return C, P


def required_literals(pattern: str, flags: int = 0) -> list[tuple[str, ...]]:
    """Necessary conditions read off a pattern: groups of lower-cased literals such that every match contains
    at least one literal of each group. Only top-level items whose every alternative starts with literal text
    count; anything else is skipped, so a group never excludes a real match. Used to skip the full regex on
    candidate lines that lack a required word (one `in` test instead of a backtracking search)."""
    C, P = regex_parse_tools()
    try:
        tree = P.parse(pattern, flags)
    except Exception:
        return []

    def prefix(sub) -> str:
        out = []
        for op, av in sub.data:
            if op is C.AT:
                continue
            if op is not C.LITERAL:
                break
            out.append(chr(av))
        return "".join(out).lower()

    groups: list[tuple[str, ...]] = []
    run: list[str] = []
    for op, av in list(tree.data) + [(None, None)]:
        if op is C.LITERAL:
            run.append(chr(av))
            continue
        if len(run) >= 2:
            groups.append(("".join(run).lower(),))
        run = []
        alts = None
        if op is C.BRANCH:
            alts = av[1]
        elif op is C.SUBPATTERN and not av[1] and not av[2]:  # no inline flag changes inside
            inner = av[3]
            alts = inner.data[0][1][1] if len(inner.data) == 1 and inner.data[0][0] is C.BRANCH else [inner]
        if alts:
            lits = [prefix(a) for a in alts]
            if all(len(x) >= 2 for x in lits):
                groups.append(tuple(sorted(set(lits))))
    return groups


def _fold(line: str) -> str:
    """Lower-case as `re.IGNORECASE` compares (str.lower, plus the two non-ASCII letters it equates with ASCII)."""
    low = line.lower()
    return low if low.isascii() else low.replace("\u0131", "i").replace("\u017f", "s")


class SignatureSet:
    def __init__(self, signatures: list[Signature]):
        self.signatures = signatures
        self._by_keyword: dict[str, list[int]] = {}
        for i, sig in enumerate(signatures):
            for kw in sig.keywords:
                self._by_keyword.setdefault(kw.lower(), []).append(i)
        self._kw_sigs = [self._by_keyword[w] for w in sorted(self._by_keyword)]
        # Necessary literals per signature (see required_literals), worked out on a signature's first candidate
        # line: most runs meet only a few signatures, and parsing every pattern up front costs start-up time.
        self._required: list[list | None] = [None] * len(signatures)
        self._required_ascii: list[list | None] = [None] * len(signatures)
        self._gates: dict[int, Any] = {}
        # The keywords found on a line -> the signatures they point to, in order: a log repeats the same few
        # combinations, so each is worked out once.
        self._plans: dict[tuple, tuple[int, ...]] = {}
        # Candidate lines that matched nothing, as bytes: a log repeats its warnings word for word (the same
        # library warning per request), and such a line is answered by one dict lookup instead of the Set match
        # and the regexes. Only short lines, emptied when full, so memory stays flat whatever the log.
        self._quiet_lines: set[bytes] = set()

    @cached_property
    def _prefilter(self) -> _Prefilter | None:
        """Built on the first scan (or `prepare`): a set made only to be merged into another never pays for it."""
        words = sorted(self._by_keyword)
        return _Prefilter(words) if words else None

    def prepare(self) -> None:
        """Build the prefilter now (`check` does it while its first requests are in flight)."""
        self._prefilter  # noqa: B018

    def _work_out_required(self, i: int) -> None:
        sig = self.signatures[i]
        # Groups that hold one of the signature's own keywords are met on every candidate line: test them last.
        # from the source: the regex itself is compiled only for a line that passes these checks and RE2's gate
        groups = sorted(required_literals(sig.source, sig.flags),
                        key=lambda g: any(k in w.lower() or w.lower() in k for k in sig.keywords for w in g))
        self._required[i] = groups
        # For ASCII lines (checked as lower-cased bytes): only groups of ASCII literals; re.IGNORECASE can match a
        # non-ASCII literal with an ASCII letter (e.g. U+017F with "s"), so such groups are left to the regex.
        self._required_ascii[i] = [tuple(w.encode("ascii") for w in g) for g in groups if all(w.isascii() for w in g)]

    def _gate(self, i: int):
        """(RE2 twin of signature i's regex, exact) or None. Exact: the same regex, so `re` only has to match at
        RE2's leftmost start. Not exact: lookarounds removed (a superset of the matches), so `re` searches from
        RE2's leftmost start on. None where RE2 cannot take it (back-references) or could disagree (non-ASCII)."""
        gate = self._gates.get(i, False)
        if gate is False:
            gate = None
            sig = self.signatures[i]
            relaxed = _without_lookarounds(sig.source) if sig.source.isascii() else None
            if relaxed is not None:
                try:
                    import re2  # type: ignore[import-not-found]

                    options = re2.Options()
                    options.case_sensitive = not sig.flags & re.IGNORECASE
                    options.max_mem = 8 << 20
                    options.never_capture = True
                    options.log_errors = False
                    gate = (_start_finder(re2.compile(relaxed, options)), relaxed == sig.source)
                except Exception:
                    gate = None
            self._gates[i] = gate
        return gate

    def __len__(self) -> int:
        return len(self.signatures)

    def keywords(self) -> list[str]:
        """Every keyword as written (lower-cased, boundary marks included: see keyword_parts)."""
        return sorted(self._by_keyword)

    # -- scanning ---------------------------------------------------------------------------------------------
    def scan_text(self, text: str, source: str = "text", result: ScanResult | None = None) -> ScanResult:
        result = result or ScanResult()
        data = text.encode("utf-8", errors="replace")
        self._scan_chunk(data, source, result)
        result.bytes += len(data)
        result.lines += data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        return result

    def scan_stream(self, stream: IO[bytes], source: str = "text", keep_text: int = 0) -> tuple[ScanResult, str]:
        """Scan a binary stream chunk by chunk; also returns up to `keep_text` leading characters.

        Each block read is scanned in place (positions, no copy): only the line that spans two blocks is joined.
        A line without a newline for 4 blocks is scanned as it stands (its window, see MAX_LINE_CHARS)."""
        result = ScanResult()
        head = bytearray()
        tail = b""  # the unfinished line at the end of the last block
        while True:
            block = stream.read(CHUNK_BYTES)
            if not block:
                break
            if len(head) < keep_text:
                head += block[: keep_text - len(head)]
            first = block.find(b"\n")
            if first < 0:
                tail += block
                if len(tail) >= 4 * CHUNK_BYTES:
                    self._scan_part(tail, 0, len(tail), source, result, lines=0)  # the line goes on
                    tail = b""
                continue
            if tail:  # the line that spans the two blocks
                joined = tail + block[: first + 1]
                self._scan_part(joined, 0, len(joined), source, result)
                start = first + 1
            else:
                start = 0
            cut = block.rfind(b"\n") + 1
            self._scan_part(block, start, cut, source, result)
            tail = block[cut:]
        if tail:
            self._scan_part(tail, 0, len(tail), source, result, lines=1)
        return result, bytes(head).decode("utf-8", errors="replace")[:keep_text]

    def _scan_part(self, data: bytes, lo: int, hi: int, source: str, result: ScanResult,
                   lines: int | None = None) -> None:
        """Scan data[lo:hi] (whole lines) and count it; `lines`: the count of a part without its final newline."""
        if hi > lo:
            self._scan_chunk(data, source, result, lo, hi)
            result.bytes += hi - lo
            result.lines += data.count(b"\n", lo, hi) if lines is None else lines

    def _scan_chunk(self, data: bytes, source: str, result: ScanResult, lo: int = 0, hi: int | None = None) -> None:
        """Each line of data[lo:hi] (whole lines) with a keyword meets the regexes of the signatures whose keywords
        it holds (a line longer than MAX_LINE_CHARS: the window around its first hit)."""
        pre = self._prefilter
        if pre is None or not data:
            return
        text = data.lower() if pre.lowers else data
        n = len(data) if hi is None else hi
        find, which, plans, quiet, pos = pre.find, pre.which, self._plans, self._quiet_lines, lo
        rfind, lfind, match_line = data.rfind, data.find, self._match_line
        while pos < n:
            # from one character back: a keyword's start is checked on the character before it (keyword_regex);
            # at lo that is the newline ending the line before, or nothing
            hit = find(text, pos - 1 if pos else 0, n)
            if hit < 0:
                return
            if data[hit] == 10:  # the newline before a keyword at the start of a line
                hit += 1
            start = rfind(b"\n", pos, hit) + 1 or pos
            end = lfind(b"\n", hit, n)
            if end < 0:
                end = n
            pos = end + 1
            if end - start > MAX_LINE_CHARS:  # a window around the first hit stands for the whole line
                if pre.fast:  # the window is placed by the exact first hit (see _fast_regex)
                    hit = pre.find_exact(text, start - 1 if start else 0, end)
                    if hit < 0:
                        continue
                    if data[hit] == 10:
                        hit += 1
                start = max(start, hit - MAX_LINE_CHARS // 2)
                end = min(end, start + MAX_LINE_CHARS)
            line = text[start:end]
            seen = line if text is data else data[start:end]  # the stdlib's text is lower-cased: key by the bytes
            if seen in quiet:
                continue
            found = which(line)
            if found:
                key = tuple(found)
                sigs = plans.get(key)
                if sigs is None:
                    sigs = plans[key] = self._plan(key)
                if sigs and match_line(data, start, end, hit, sigs, source, result):
                    continue
            if end - start <= QUIET_LINE_BYTES:  # the answer depends on the line's bytes alone
                if len(quiet) >= QUIET_LINES:
                    quiet.clear()
                quiet.add(seen)

    def _plan(self, keywords: tuple) -> tuple[int, ...]:
        out: set[int] = set()
        for k in keywords:
            out.update(self._kw_sigs[k])
        return tuple(sorted(out))

    def _match_line(self, data: bytes, start, end, hit_pos, sig_ids, source, result) -> bool:
        """Match the line's signatures and cues into result; False when none of them matched."""
        if end - start > MAX_LINE_CHARS:
            start = max(start, hit_pos - MAX_LINE_CHARS // 2)
            end = min(end, start + MAX_LINE_CHARS)
        raw = data[start:end]
        # Cheap necessary conditions first (see required_literals); on ASCII lines without decoding at all.
        if raw.isascii():
            low, required = raw.lower(), self._required_ascii
        else:
            low, required = _fold(raw.decode("utf-8", errors="replace")), self._required
        todo = []
        for i in sig_ids:  # in order (see _plan)
            groups = required[i]
            if groups is None:
                self._work_out_required(i)
                groups = required[i]
            if _has_all(low, groups):
                todo.append(i)
        if not todo:
            return False
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        gates = raw.isascii() and not _PY_ONLY_SPACE.search(raw)
        ascii_line = raw.rstrip(b"\r") if gates else b""  # same offsets as `line`
        matched_any = cued = False
        for i in todo:
            sig = self.signatures[i]
            gate = self._gate(i) if gates else None
            if gate is not None:
                # RE2 answers in linear time; `re` then matches at RE2's leftmost start only (same semantics on
                # ASCII), so a line that defeats backtracking costs no more than any other line.
                start = gate[0](ascii_line)
                if start < 0:
                    continue
                if gate[1]:
                    m = sig.pattern.match(line, start) or sig.pattern.search(line)
                else:
                    m = sig.pattern.search(line, start)
            else:
                m = sig.pattern.search(line)
            if not m:
                continue
            if sig.kind == "cue":
                cued = True
                if sig.id not in result.cue_hits:
                    result.cue_hits[sig.id] = _excerpt(line, m)
                    for key, value in sig.facts.items():
                        result.facts.setdefault(key, Fact(key, value, f"cue:{sig.id}@{source}", "inferred"))
                continue
            matched_any = True
            n = result.counts.get(sig.id, 0)
            result.counts[sig.id] = n + 1
            if n == 0:
                result.matched.append(sig.id)
            for key, value in sig.extract(m, line).items():
                if sig.keep == "first" and key in result.facts:
                    continue
                result.facts[key] = Fact(key, value, f"signature:{sig.id}@{source}", "observed")
        if matched_any:
            result.excerpts.append(line[:500])
        return matched_any or cued


def _excerpt(line: str, m: re.Match, width: int = 160) -> str:
    """The words around a cue's match: long pasted lines (a web page joins log lines) stay readable."""
    start = max(0, m.start() - width // 4)
    end = min(len(line), max(m.end(), start + width))
    text = line[start:end].strip()
    return ("…" if start > 0 else "") + text + ("…" if end < len(line) else "")


def _start_finder(regex):
    """bytes -> start of RE2's leftmost match, or -1: through RE2's C search without a Python match object
    (~1 us instead of ~10 us a call), checked once against the public API."""
    try:
        import re2  # type: ignore[import-not-found]

        match, anchor = regex._regexp.Match, re2._Anchor.UNANCHORED
        if match(anchor, b"", 0, 0)[0][0] != (0 if regex.search(b"") else -1):
            raise ValueError
    except Exception:
        return lambda data: -1 if (m := regex.search(data)) is None else m.start()
    return lambda data: match(anchor, data, 0, len(data))[0][0]


_LOOKAROUND = ("(?=", "(?!", "(?<=", "(?<!")


def _without_lookarounds(src: str) -> str | None:
    """The pattern with its lookaround assertions cut out (each only narrows the matches), `\\Z` as RE2's `\\z`;
    None when a back-reference makes it a job for `re` alone."""
    out: list[str] = []
    i, n = 0, len(src)

    def skip_class(j: int) -> int:  # index after the `]` closing the class that opens at j
        j += 1
        if j < n and src[j] == "^":
            j += 1
        if j < n and src[j] == "]":
            j += 1
        while j < n and src[j] != "]":
            j += 2 if src[j] == "\\" else 1
        return j + 1

    while i < n:
        c = src[i]
        if c == "\\":
            esc = src[i:i + 2]
            if esc[1:2].isdigit() or src.startswith("(?P=", i):
                return None
            out.append("\\z" if esc == "\\Z" else esc)
            i += 2
        elif c == "[":
            j = skip_class(i)
            out.append(src[i:j])
            i = j
        elif src.startswith(_LOOKAROUND, i):
            depth, j = 0, i
            while j < n:
                if src[j] == "\\":
                    j += 2
                    continue
                if src[j] == "[":
                    j = skip_class(j)
                    continue
                depth += {"(": 1, ")": -1}.get(src[j], 0)
                j += 1
                if depth == 0:
                    break
            i = j
        else:
            if src.startswith("(?P=", i):
                return None
            out.append(c)
            i += 1
    return "".join(out)


def _has_all(text, groups) -> bool:
    """Every group has a literal in `text` (plain loops: cheaper than all()/any() generators per line)."""
    for group in groups:
        for word in group:
            if word in text:
                break
        else:
            return False
    return True


def _trusted(entry: dict) -> Signature:
    """A signature of the built-in set, which `hfdiag rules lint` and the test suite validate: no checks here."""
    return Signature(
        id=entry["id"], source=entry["pattern"], keywords=[k.lower() for k in entry["keywords"]], facts=entry["facts"],
        keep=entry.get("keep", "last"), description=entry.get("description", ""), bucket=entry.get("bucket"),
        tests=list(entry.get("tests") or []), flags=re.IGNORECASE if entry.get("ignore_case", True) else 0,
    )


def _compile(entry: Any, path: Path, known_fact=None) -> tuple[Signature | None, list[str]]:
    errs: list[str] = []
    if not isinstance(entry, dict):
        return None, [f"{path}: every signature must be a mapping"]
    sid = entry.get("id")
    where = f"{path}: {sid or '<no id>'}"
    for k in sorted(set(entry) - _SIG_KEYS):
        errs.append(f"{where}: unknown key {k!r}")
    if not isinstance(sid, str) or not re.match(r"^SIG-[A-Z]{2,5}-\d{3}$", sid):
        errs.append(f"{where}: id must look like SIG-XXX-000")
    pattern = entry.get("pattern")
    problem = regex_problem(pattern)
    if problem:
        errs.append(f"{where}: {problem}")
    kws = entry.get("keywords")
    if not isinstance(kws, list) or not kws or not all(
            isinstance(k, str) and all(len(keyword_parts(p)[0]) >= 3 for p in keyword_pieces(k)) for k in kws):
        errs.append(f"{where}: needs 'keywords': literals (3+ chars; each side of a `~`) one of which every match "
                    f"contains, where a word starts unless marked (see keyword_parts)")
    facts = entry.get("facts")
    if not isinstance(facts, dict) or not facts:
        errs.append(f"{where}: needs 'facts'")
    elif known_fact is not None:
        for k in facts:
            if not known_fact(k):
                errs.append(f"{where}: fact {k!r} is not declared in facts.yaml")
    if entry.get("keep", "last") not in ("first", "last"):
        errs.append(f"{where}: keep must be first or last")
    if errs:
        return None, errs
    flags = re.IGNORECASE if entry.get("ignore_case", True) else 0
    rx = re.compile(pattern, flags)
    for name_spec in facts.values():
        if isinstance(name_spec, str):
            vm = _VALUE_RX.match(name_spec)
            if vm and vm.group("name") not in rx.groupindex and name_spec not in ("{line}", "{match}"):
                errs.append(f"{where}: value {name_spec} names a group the pattern does not have")
    sig = Signature(
        id=sid, source=pattern, keywords=[k.lower() for k in kws], facts=facts, keep=entry.get("keep", "last"),
        description=entry.get("description", ""), bucket=entry.get("bucket"), tests=list(entry.get("tests") or []),
        flags=flags,
    )
    sig.__dict__["pattern"] = rx  # already compiled for the checks above
    # Every keyword must be able to trigger: a match the prefilter would never show is a silent miss.
    return (None if errs else sig), errs


def load_signatures(path: Path, known_fact=None, strict: bool = True,
                    trusted: bool = False) -> tuple[SignatureSet, list[str]]:
    data = read_yaml(path, max_bytes=2 * 1024 * 1024)
    if not isinstance(data, dict) or not isinstance(data.get("signatures"), list):
        raise RuleError(f"{path}: must be a mapping with a 'signatures' list")
    if trusted:
        return SignatureSet([_trusted(e) for e in data["signatures"]]), []
    sigs: list[Signature] = []
    problems: list[str] = []
    seen: set[str] = set()
    for entry in data["signatures"]:
        sig, errs = _compile(entry, path, known_fact)
        if sig and sig.id in seen:
            errs.append(f"{path}: duplicate signature id {sig.id}")
        problems += errs
        if sig and not errs:
            seen.add(sig.id)
            sigs.append(sig)
    if problems and strict:
        raise RuleError(problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    return SignatureSet(sigs), problems


def run_signature_tests(sigset: SignatureSet) -> list[str]:
    """Inline tests: each `text` must produce at least the `expect` facts (`expect: {}` means no match).
    Positive texts are also run through the whole set, so one signature's keywords cannot hide another's."""
    failures = []
    for sig in sigset.signatures:
        if sig.kind == "cue":
            continue  # cues carry their own tests (engine/cues.py: run_cue_tests)
        for t in sig.tests:
            if t.get("expect") and sig.id not in sigset.scan_text(t.get("text", "")).matched:
                failures.append(f"{sig.id}: does not fire through the combined prefilter on {t.get('text', '')[:60]!r}")
        single = SignatureSet([sig])
        for t in sig.tests:
            res = single.scan_text(t.get("text", ""))
            got = {k: f.value for k, f in res.facts.items()}
            want = t.get("expect") or {}
            if not want and got:
                failures.append(f"{sig.id}: expected no match on {t.get('text', '')[:60]!r}, got {got}")
            for k, v in want.items():
                if got.get(k) != v:
                    failures.append(f"{sig.id}: on {t.get('text', '')[:60]!r} expected {k}={v!r}, got {got.get(k)!r}")
            if sig.tests and not any(t.get("expect") for t in sig.tests):
                failures.append(f"{sig.id}: needs at least one positive test")
                break
    return failures


# `hfdiag rules lint`: a keyword that fires on this share of ordinary log lines without a full match is noise.
NOISY_SHARE = 0.01
CORPUS_BYTES = 512 * 1024


def keyword_noise(sigset: SignatureSet, text: str) -> list[tuple[str, int, int, int, list[str]]]:
    """(keyword, lines it fires on, lines where that sends a signature's full regex searching, lines where one of
    its signatures fully matches, signature ids) for every keyword that fires on `text`, most searches first.

    A line costs a search when the keyword fires and the signature's required literals are all on the line
    (the scan's own cheap check, see required_literals); a pattern anchored at the line start costs one attempt,
    not a search, and is not counted."""
    pre = sigset._prefilter
    if pre is None:
        return []
    words = sigset.keywords()
    hits, searched, full = [0] * len(words), [0] * len(words), [0] * len(words)
    for line in text.splitlines():
        data = line.encode("utf-8", errors="replace")
        present = pre.which(data.lower() if pre.lowers else data)
        if not present:
            continue
        low = _fold(line)
        outcome: dict[int, tuple[bool, bool]] = {}  # signature -> (searched, matched)
        for k in present:
            hits[k] += 1
            ran = matched = False
            for i in sigset._kw_sigs[k]:
                if i not in outcome:
                    sig = sigset.signatures[i]
                    if sigset._required[i] is None:
                        sigset._work_out_required(i)
                    runs = _has_all(low, sigset._required[i]) and not _anchored(sig.pattern)
                    outcome[i] = (runs, sig.pattern.search(line) is not None)
                ran, matched = ran or outcome[i][0], matched or outcome[i][1]
            searched[k] += ran
            full[k] += matched
    rows = [(words[k], hits[k], searched[k], full[k], [sigset.signatures[i].id for i in sigset._kw_sigs[k]])
            for k in range(len(words)) if hits[k]]
    return sorted(rows, key=lambda r: (-r[2], -r[1], r[0]))


def _anchored(pattern: re.Pattern) -> bool:
    """Every alternative starts with `^` (without MULTILINE): `re` tries the line's start only."""
    if pattern.flags & re.MULTILINE:
        return False
    try:
        from re import _constants as C  # Python >= 3.11
        from re import _parser as P
    except ImportError:  # pragma: no cover - 3.10
        import sre_constants as C  # type: ignore[no-redef]
        import sre_parse as P  # type: ignore[no-redef]
    try:
        items = P.parse(pattern.pattern, pattern.flags).data
    except Exception:
        return False

    def starts_at_beginning(seq) -> bool:
        if not seq:
            return False
        op, av = seq[0]
        if op is C.AT:
            return av is C.AT_BEGINNING
        if op is C.BRANCH:
            return all(starts_at_beginning(list(alt.data)) for alt in av[1])
        if op is C.SUBPATTERN:
            return starts_at_beginning(list(av[3].data))
        return False

    return starts_at_beginning(list(items))


def lint_keyword_noise(sigset: SignatureSet, path: Path | str = "signatures.yaml") -> list[str]:
    """Problems: keywords that send a full regex searching on NOISY_SHARE of the lines of the ordinary-log corpus
    (log_corpus.py) or more, and never to a full match there."""
    from hfdiag.engine.log_corpus import ordinary_text

    text = ordinary_text(CORPUS_BYTES)
    n = text.count("\n")
    floor = max(5, int(n * NOISY_SHARE))
    return [f"{path}: keyword {kw!r} ({', '.join(ids)}) sends the full regex searching on {ran} of {n} lines of "
            f"ordinary log text, never to a match: make it specific (a longer literal, '\\b' at its end, or a word "
            f"the pattern requires)"
            for kw, _, ran, full, ids in keyword_noise(sigset, text) if ran >= floor and not full]
