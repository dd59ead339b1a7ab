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
MAX_EXCERPTS = 40
_VALUE_RX = re.compile(r"^\{(?P<name>\w+)(?::(?P<type>int|float|str|lower|bool|duration_s))?\}$")
_TRUE = {"true", "yes", "1", "on"}
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


def keyword_trie(words: list[str]) -> str:
    """One regex for many literals, factored as a trie: Python's engine then tries a handful of first
    characters per position instead of every keyword (about 1.5-3x faster than a flat alternation)."""
    root: dict = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        if list(node) == [""]:
            return ""
        optional = "" in node
        alts = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items()) if ch]
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if optional else body

    return emit(root) if words else ""


def _compile_prefilter(words: list[str]):
    """(pattern, needs lower-cased input). RE2 (google-re2) runs one case-insensitive DFA over all keywords
    at hundreds of MB/s; without it, a stdlib trie regex over lower-cased bytes does the same job, slower."""
    if not words:
        return None, False
    try:
        import re2  # type: ignore[import-not-found]

        options = re2.Options()
        options.max_mem = 64 << 20
        options.longest_match = True  # leftmost-longest: "quota (" must not hide behind its prefix "quota"
        # Longest first: at one position RE2 (leftmost-first) reports the first alternative that matches, and a
        # hit must be the longest keyword there, since it stands for every keyword it contains (see _closure).
        longest_first = sorted(words, key=lambda w: (-len(w), w))
        return re2.compile("(?i)" + "|".join(re.escape(w) for w in longest_first), options), False
    except Exception:  # not installed, or the pattern exceeds RE2's limits: fall back to the stdlib
        return re.compile(keyword_trie(words).encode("utf-8")), True


def _raw_search(prefilter, sample: bytes):
    """google-re2's C-level search, `(text, pos, endpos) -> (start, end)` ((-1, -1) when none), or None.

    `re2._Regexp.finditer` builds a Python match object per hit (~3 us); on a log where a keyword shows up on
    every few lines that wrapper, not the DFA, was most of the scan time. Checked once against the public API."""
    try:
        import re2  # type: ignore[import-not-found]

        match = prefilter._regexp.Match
        anchor = re2._Anchor.UNANCHORED
        probe = b"x " + sample
        want = prefilter.search(probe)
        got = match(anchor, probe, 0, len(probe))[0]
        if want is None or tuple(got) != want.span():
            return None
    except Exception:
        return None

    def search(text: bytes, pos: int, endpos: int) -> tuple[int, int]:
        return match(anchor, text, pos, endpos)[0]

    return search


def required_literals(pattern: str, flags: int = 0) -> list[tuple[str, ...]]:
    """Necessary conditions read off a pattern: groups of lower-cased literals such that every match contains
    at least one literal of each group. Only top-level items whose every alternative starts with literal text
    count; anything else is skipped, so a group never excludes a real match. Used to skip the full regex on
    candidate lines that lack a required word (one `in` test instead of a backtracking search)."""
    try:
        from re import _constants as C  # Python >= 3.11
        from re import _parser as P
    except ImportError:  # pragma: no cover - 3.10
        import sre_constants as C  # type: ignore[no-redef]
        import sre_parse as P  # type: ignore[no-redef]
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
        self._by_keyword: dict[bytes, list[int]] = {}
        for i, sig in enumerate(signatures):
            for kw in sig.keywords:
                self._by_keyword.setdefault(kw.lower().encode("utf-8"), []).append(i)
        # A hit on a keyword also stands for every keyword it contains ("exceeded your quota (" holds "quota ("),
        # since the scan reports non-overlapping hits only.
        self._closure: dict[bytes, list[int]] = {
            k: sorted({i for other, ids in self._by_keyword.items() if other in k for i in ids})
            for k in self._by_keyword
        }
        words = sorted(k.decode("utf-8") for k in self._by_keyword)
        self._prefilter, self._prefilter_lowers = _compile_prefilter(words)
        self._search = None
        if self._prefilter is not None and not self._prefilter_lowers:
            self._search = _raw_search(self._prefilter, words[0].encode("utf-8"))
        # Necessary literals per signature (see required_literals), worked out on a signature's first candidate
        # line: most runs meet only a few signatures, and parsing every pattern up front costs start-up time.
        self._required: list[list | None] = [None] * len(signatures)
        self._required_ascii: list[list | None] = [None] * len(signatures)

    def _work_out_required(self, i: int) -> None:
        sig = self.signatures[i]
        # Groups that hold one of the signature's own keywords are met on every candidate line: test them last.
        groups = sorted(required_literals(sig.pattern.pattern, sig.pattern.flags),
                        key=lambda g: any(k in w.lower() or w.lower() in k for k in sig.keywords for w in g))
        self._required[i] = groups
        # For ASCII lines (checked as lower-cased bytes): only groups of ASCII literals; re.IGNORECASE can match a
        # non-ASCII literal with an ASCII letter (e.g. U+017F with "s"), so such groups are left to the regex.
        self._required_ascii[i] = [tuple(w.encode("ascii") for w in g) for g in groups if all(w.isascii() for w in g)]

    def __len__(self) -> int:
        return len(self.signatures)

    def keywords(self) -> list[str]:
        return sorted(k.decode("utf-8") for k in self._by_keyword)

    # -- scanning ---------------------------------------------------------------------------------------------
    def scan_text(self, text: str, source: str = "text", result: ScanResult | None = None) -> ScanResult:
        result = result or ScanResult()
        data = text.encode("utf-8", errors="replace")
        self._scan_chunk(data, source, result)
        result.bytes += len(data)
        result.lines += data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        return result

    def scan_stream(self, stream: IO[bytes], source: str = "text", keep_text: int = 0) -> tuple[ScanResult, str]:
        """Scan a binary stream chunk by chunk; also returns up to `keep_text` leading characters."""
        result = ScanResult()
        head = b""
        tail = b""
        while True:
            block = stream.read(CHUNK_BYTES)
            if not block:
                break
            data = tail + block if tail else block
            cut = data.rfind(b"\n")
            if cut < 0 and len(data) < 4 * CHUNK_BYTES:
                tail = data
                continue
            if cut < 0:
                cut = len(data) - 1
            chunk, tail = data[: cut + 1], data[cut + 1:]
            if len(head) < keep_text:
                head += chunk[: keep_text - len(head)]
            self._scan_chunk(chunk, source, result)
            result.bytes += len(chunk)
            result.lines += chunk.count(b"\n")
        if tail:
            if len(head) < keep_text:
                head += tail[: keep_text - len(head)]
            self._scan_chunk(tail, source, result)
            result.bytes += len(tail)
            result.lines += 1
        return result, head.decode("utf-8", errors="replace")[:keep_text]

    def _scan_chunk(self, data: bytes, source: str, result: ScanResult) -> None:
        if self._prefilter is None or not data:
            return
        if self._search is not None:
            self._scan_chunk_raw(data, source, result)
            return
        line_start, line_end, first_hit = 0, -1, 0
        pending: set[int] = set()
        for hit in self._prefilter.finditer(data.lower() if self._prefilter_lowers else data):
            pos = hit.start()
            if pos > line_end:  # the hit is on a new line: settle the previous one
                if pending:
                    self._match_line(data, line_start, line_end, first_hit, pending, source, result)
                    pending = set()
                line_start = data.rfind(b"\n", 0, pos) + 1
                e = data.find(b"\n", pos)
                line_end = len(data) if e < 0 else e
                first_hit = pos
            pending.update(self._keyword_sigs(hit.group(0).decode("utf-8", errors="replace").lower().encode("utf-8")))
        if pending:
            self._match_line(data, line_start, line_end, first_hit, pending, source, result)

    def _scan_chunk_raw(self, data: bytes, source: str, result: ScanResult) -> None:
        """The same hits as `_scan_chunk`, through RE2's C search: one call per hit, no match objects."""
        search, closure, n, pos = self._search, self._closure, len(data), 0
        while pos < n:
            s, e = search(data, pos, n)
            if s < 0:
                return
            line_start = data.rfind(b"\n", pos, s) + 1 or pos
            line_end = data.find(b"\n", e)
            if line_end < 0:
                line_end = n
            sigs = closure.get(data[s:e].lower()) or self._hit_sigs(data[s:e])
            cur = s + 1
            while cur < line_end:  # further hits on the same line, overlapping ones included: "500 error" holds
                s2, e2 = search(data, cur, line_end)  # the cue keyword "500" and the signature keyword "0 error"
                if s2 < 0 or e2 <= s2:
                    break
                sigs = set(sigs).union(closure.get(data[s2:e2].lower()) or self._hit_sigs(data[s2:e2]))
                cur = s2 + 1
            self._match_line(data, line_start, line_end, s, sigs, source, result)
            pos = line_end + 1

    def _hit_sigs(self, hit: bytes) -> list[int]:
        return self._keyword_sigs(hit.decode("utf-8", errors="replace").lower().encode("utf-8"))

    def _keyword_sigs(self, matched: bytes) -> list[int]:
        sigs = self._closure.get(matched)
        if sigs is not None:
            return sigs
        return [i for k, v in self._by_keyword.items() if k in matched for i in v]

    def _match_line(self, data: bytes, start, end, hit_pos, sig_ids, source, result) -> None:
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
        for i in sorted(sig_ids):
            if required[i] is None:
                self._work_out_required(i)
            if _has_all(low, required[i]):
                todo.append(i)
        if not todo:
            return
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        matched_any = False
        for i in todo:
            sig = self.signatures[i]
            m = sig.pattern.search(line)
            if not m:
                continue
            if sig.kind == "cue":
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


def _excerpt(line: str, m: re.Match, width: int = 160) -> str:
    """The words around a cue's match: long pasted lines (a web page joins log lines) stay readable."""
    start = max(0, m.start() - width // 4)
    end = min(len(line), max(m.end(), start + width))
    text = line[start:end].strip()
    return ("…" if start > 0 else "") + text + ("…" if end < len(line) else "")


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
    if not isinstance(kws, list) or not kws or not all(isinstance(k, str) and len(k) >= 3 for k in kws):
        errs.append(f"{where}: needs 'keywords': literal substrings (3+ chars) one of which every match contains")
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
