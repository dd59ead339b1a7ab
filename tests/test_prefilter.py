"""The keyword prefilter: keywords start at a word boundary (stems run on), `*` and `\\b` mark the exceptions,
the scan reports exactly what the regexes alone would on any line (ordinary, pathological, non-ASCII), and the
lint flags a keyword that sends a regex searching on ordinary log text for nothing."""

from __future__ import annotations

import re
import sys

import pytest

from hfdiag.engine.knowledge import load_knowledge
from hfdiag.engine.log_corpus import ordinary_text
from hfdiag.engine.signatures import (
    QUIET_LINE_BYTES,
    QUIET_LINES,
    Signature,
    SignatureSet,
    keyword_parts,
    lint_keyword_noise,
)


def _sig(keywords, pattern, sid="SIG-TST-001"):
    return Signature(id=sid, source=pattern, keywords=[k.lower() for k in keywords], facts={"x.hit": True})


@pytest.mark.parametrize("keyword,text,fires", [
    ("hang", "changing the scheduler", False),
    ("hang", "the build hangs", True),
    ("quota", "you have no quotas left", True),  # a stem runs on into the word
    ("timeout", "two timeouts in a row", True),
    ("trigger\\b", "(Triggered internally at ../aten/src)", False),
    ("trigger\\b", "push does not trigger a build", True),
    ("*error: ", "ValueError: bad input", True),
    ("error: ", "ValueError: bad input", False),
    ("--> ", "step--> done", True),  # no boundary next to a non-letter
    ("0 error", "10 errors", True),
    ("重启失败", "空间重启失败了", True),
    ("no gpu was available", '{"error": "worker error\\nNo GPU was available after 60s"}', True),  # escaped newline
    ("no gpu was available", "xNo GPU was available", False),
])
def test_keyword_boundaries(keyword, text, fires):
    body = re.escape(keyword_parts(keyword)[0])
    sigs = SignatureSet([_sig([keyword], body)])
    assert (sigs.scan_text(text).matched == ["SIG-TST-001"]) is fires


@pytest.mark.parametrize("keyword,text,fires", [
    ("can't reach", "the Space can\u2019t reach my database", True),  # a curly apostrophe (phones type them)
    ("can't reach", "the Space cant reach my database", True),  # or none at all
    ("didn\u2019t get", "I didn't get a GPU", True),
    ("can't reach", "the Space can reach my database", False),
    ("model '", "the model loads", False),  # a quote, not an apostrophe inside a word: as written
])
def test_an_apostrophe_inside_a_word_is_straight_curly_or_left_out(keyword, text, fires):
    sigs = SignatureSet([_sig([keyword], r"\b(?:can|didn|model)\W{0,3}t? ?(?:reach|get|')")])
    assert (sigs.scan_text(text).matched == ["SIG-TST-001"]) is fires


@pytest.mark.parametrize("keyword,text,fires", [
    ("static ~ file", "the static files failed", True),
    ("static ~ file", 'GET /static/fonts/a.woff2 HTTP/1.1" 200 OK', False),  # one word alone does not fire
    ("static ~ file", "files, then static", False),  # the second piece must come after the first
    ("static ~ file", "static\nfiles", False),  # on one line
    ("static ~ file", "staticfiles", False),  # each piece starts a word
    ("static ~ file", "static profile", False),
    ("static ~ file", "STATIC asset; \\nFILE", True),  # an escaped newline starts a word, as for any keyword
    ("static ~ file", "\u017ftatic files", True),  # U+017F folds to "s" (the exact path)
    ("static ~ file", "static " * 1000 + "files", True),  # far apart on a line (within the 8 KiB window)
    ("static ~ file", "the \u017ftatic files", True),  # after a space: no word boundary to RE2's ASCII `\b`
    ("stuck", "it is \u017ftuck", True),
    ("killed", "\u212ailled by the OOM", True),
    ("*error ~ code\\b", "ValueError: exit code 1", True),
    ("*error ~ code\\b", "ValueError: exit codes", False),
])
def test_a_keyword_of_two_pieces_fires_where_both_meet(keyword, text, fires):
    # the pattern holds the first piece alone, so the result shows the keyword's own decision
    body = re.escape(keyword_parts(keyword.split(" ~ ")[0])[0])
    sigs = SignatureSet([_sig([keyword], body)])
    assert (sigs.scan_text(text).matched == ["SIG-TST-001"]) is fires


def test_a_gap_holds_on_non_ascii_text_and_stops_at_bytes_that_are_not_utf8():
    """The gap crosses any UTF-8 text; like a word start (keyword_regex), it does not cross a byte that is not UTF-8
    (RE2's `[^\\n]`), as a word start does not follow one: such a line is found only by another keyword on it."""
    from io import BytesIO

    sigs = load_knowledge().signatures
    good = [b"static \xc3\xa9\xe2\x96\x88 files failed with 502", "the CSS \u00e9 calls fail".encode()]
    got, _ = sigs.scan_stream(BytesIO(b"\n".join(good) + b"\n"), "t")
    assert got.counts.get("SIG-APP-017") == 2
    got, _ = sigs.scan_stream(BytesIO(b"static \xff files broken\n"), "t")  # no other keyword on the line
    assert got.counts.get("SIG-APP-017") is None
    got, _ = sigs.scan_stream(BytesIO(b"static \xff files failed with 502\n"), "t")  # '502\b' finds the line
    assert got.counts.get("SIG-APP-017") == 1


def test_each_piece_of_a_keyword_needs_three_characters(tmp_path):
    from hfdiag.engine.signatures import load_signatures

    path = tmp_path / "signatures.yaml"
    path.write_text("signatures:\n  - id: SIG-TST-001\n    keywords: ['static ~ up']\n    pattern: 'static up'\n"
                    "    facts: {x.hit: true}\n", encoding="utf-8")
    _, problems = load_signatures(path, strict=False)
    assert len(problems) == 1 and "each side of a `~`" in problems[0]


def _pathological_lines(words, width=300):
    for w in words:
        body = keyword_parts(w)[0]
        yield ((body + " ") * (width // (len(body) + 1)))[:width]
        yield (body * (width // len(body)))[:width]


def test_the_scan_reports_what_the_regexes_alone_would():
    """Brute force as the reference: every signature's regex on every line. The prefilter and the RE2 gate may
    only save work, never change a result (ordinary text, every keyword repeated, every inline test text)."""
    sigs = load_knowledge().signatures
    lines = ordinary_text(96 * 1024, seed=3).splitlines()
    lines += list(_pathological_lines(sigs.keywords()))
    lines += [t.get("text", "") for s in sigs.signatures for t in s.tests]
    lines += [t.get("text", "") for c in load_knowledge().cues.cues for t in c.tests]
    lines += ["Ｔraceback ｜ ümlaut ValueError: ſtuck build", "ValueError:\x0bspace\x1ffolded: x"]
    for line in lines:
        for part in line.splitlines() or [""]:
            want = [s.id for s in sigs.signatures if s.pattern.search(part)]
            res = sigs.scan_text(part)
            got = res.matched + list(res.cue_hits)  # cues (rules/cues.yaml) share the scanner and its contract
            # a signature that matches must hold a keyword that fires (the contract of `keywords`)
            assert sorted(got) == sorted(want), part[:120]


def test_a_whole_log_gives_the_counts_of_its_lines():
    """Lines scanned together (chunk and window boundaries, keywords at a line's start) count as lines alone."""
    sigs = load_knowledge().signatures
    lines = [t.get("text", "") for s in sigs.signatures for t in s.tests for _ in range(2)]
    lines = [ln for text in lines for ln in text.splitlines()]
    lines += [ln for ln in _pathological_lines(sigs.keywords(), width=4000) if len(ln.encode()) <= 8192]
    want: dict[str, int] = {}
    for line in lines:
        for s in sigs.signatures:
            if s.kind != "cue" and s.pattern.search(line):  # cues record their first line, not counts
                want[s.id] = want.get(s.id, 0) + 1
    got = sigs.scan_text("\n".join(lines) + "\n").counts
    assert {k: v for k, v in got.items()} == want


@pytest.mark.parametrize("engine", ["re2", "stdlib"])
def test_a_repeated_line_scans_as_it_did_the_first_time(engine, monkeypatch):
    """Candidate lines that matched nothing are remembered by their bytes (a log repeats its warnings word for
    word): the same line again, or a twin that differs only in case under a case-sensitive regex (the stdlib
    prefilter searches lower-cased text), still gets exactly what the regex says, every time."""
    if engine == "stdlib":
        monkeypatch.setitem(sys.modules, "re2", None)  # the import fails: the stdlib prefilter
    else:
        pytest.importorskip("re2")
    sig = Signature(id="SIG-TST-001", source=r"Boom \d", keywords=["boom"], facts={"x.hit": True}, flags=0)
    sigs = SignatureSet([sig])
    assert sigs._prefilter.lowers == (engine == "stdlib")
    lines = ["boom 1", "BOOM 1", "Boom 1", "boom x", "a boom 1 then Boom 2"] * 3
    got = sigs.scan_text("\n".join(lines) + "\n")
    assert got.counts == {"SIG-TST-001": sum(1 for ln in lines if sig.pattern.search(ln))} == {"SIG-TST-001": 6}
    again = sigs.scan_text("boom 1\nBoom 7\n")  # a later scan through the same set
    assert again.counts == {"SIG-TST-001": 1}


def test_the_remembered_lines_stay_few_and_short():
    """Memory stays flat whatever the log: at most QUIET_LINES remembered lines, none longer than
    QUIET_LINE_BYTES, however many distinct candidate lines pass."""
    sigs = SignatureSet([_sig(["boom"], r"boom \d")])
    distinct = "\n".join(f"boom x{i}" for i in range(3 * QUIET_LINES))
    long_lines = "\n".join(f"boom y{i} " + "z" * QUIET_LINE_BYTES for i in range(50))
    res = sigs.scan_text(distinct + "\n" + long_lines + "\nboom 3\n")
    assert res.counts == {"SIG-TST-001": 1}
    assert 0 < len(sigs._quiet_lines) <= QUIET_LINES
    assert max(map(len, sigs._quiet_lines)) <= QUIET_LINE_BYTES


def test_lint_flags_a_keyword_that_wakes_a_regex_on_common_words():
    # SIG-BLD-021 ("push does not trigger a build") once had the keyword "trigger": it woke the regex on every
    # "(Triggered internally at ...)" warning of torch
    pattern = next(s.source for s in load_knowledge().signatures.signatures if s.id == "SIG-BLD-021")
    problems = lint_keyword_noise(SignatureSet([_sig(["trigger"], pattern)]))
    assert len(problems) == 1 and "'trigger'" in problems[0] and "SIG-TST-001" in problems[0]
    assert lint_keyword_noise(SignatureSet([_sig(["trigger\\b", "triggers\\b"], pattern)])) == []


def test_the_built_in_signatures_pass_the_noise_lint():
    assert lint_keyword_noise(load_knowledge().signatures) == []


def _exact_twin(sigs: SignatureSet) -> SignatureSet:
    """The same signatures, scanned with keyword_regex's own word starts only (no `\\b` fast path)."""
    import re2

    from hfdiag.engine.signatures import keyword_regex

    twin = SignatureSet(sigs.signatures)
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = 64 << 20
    exact = re2.Set.SearchSet(options)
    for k in twin._prefilter.keywords:
        exact.Add(keyword_regex(k))
    exact.Compile()
    twin._prefilter.find = twin._prefilter.find_exact
    twin._prefilter.which = lambda line: exact.Match(line) or ()
    return twin


class _ShortReads:
    """A stream that hands out its bytes in pieces of varying sizes, as a pipe or a socket does."""

    def __init__(self, data: bytes, sizes):
        self.data, self.sizes, self.pos, self.i = data, sizes, 0, 0

    def read(self, n: int = -1) -> bytes:
        size = min(n, self.sizes[self.i % len(self.sizes)])
        self.i += 1
        out = self.data[self.pos:self.pos + size]
        self.pos += len(out)
        return out


@pytest.mark.parametrize("sizes", [[1], [7, 1, 300, 64], [5000, 3], [1 << 20]])
def test_a_stream_read_in_any_pieces_scans_as_the_whole_text(sizes):
    """Lines that span two reads, a keyword right after a read's end, a last line without a newline: the stream
    scan (blocks scanned in place, the spanning line joined) gives what one scan of the whole text gives."""
    sigs = load_knowledge().signatures
    lines = [t.get("text", "") for s in sigs.signatures[::3] for t in s.tests if t.get("expect")]
    text = "\n".join(ln for t in lines for ln in t.splitlines()) + "\nlast line: no GPU was available after 60s"
    data = text.encode("utf-8")
    want = sigs.scan_text(text, "t")
    got, head = sigs.scan_stream(_ShortReads(data, sizes), "t", keep_text=100)
    assert (got.matched, got.counts, list(got.excerpts), got.cue_hits, got.lines, got.bytes) == \
        (want.matched, want.counts, list(want.excerpts), want.cue_hits, want.lines, want.bytes)
    assert got.matched and head == text[:100]


def test_the_fast_word_start_finds_what_the_exact_one_finds():
    # The prefilter's fast path takes `\b` for a word start; it disagrees with keyword_regex's class only next to
    # U+017F, U+212A and bytes that are not UTF-8. Lines with those before, inside and around keywords, short and
    # longer than the line window, scan exactly as with the exact word start.
    pytest.importorskip("re2")
    sigs = load_knowledge().signatures
    assert sigs._prefilter.find is not sigs._prefilter.find_exact  # the fast path is in use
    exact = _exact_twin(sigs)
    odd = ["\u017f", "\u212a", "\udcff", "é", "\\n", "_", "x"]
    lines = []
    for kw in sigs.keywords()[::7]:
        body = keyword_parts(kw)[0]
        for c in odd:
            lines.append(f"{c}{body} failed: {c}{body.upper()} 503 error stuck")
    lines += [("é" * 5000) + " \u017fquota exceeded " + ("x" * 4000) + " No GPU was available after 60s"]
    lines += [("\u212a" * 3000) + "hang " * 900 + "Scheduling failure: not enough hardware capacity"]
    data = "\n".join(lines).encode("utf-8", errors="surrogateescape") + b"\n"
    from io import BytesIO

    got, _ = sigs.scan_stream(BytesIO(data), "t")
    want, _ = exact.scan_stream(BytesIO(data), "t")
    assert (got.matched, got.counts, list(got.excerpts), got.cue_hits) == \
        (want.matched, want.counts, list(want.excerpts), want.cue_hits)
    assert got.matched  # the lines do reach the regexes


def test_the_factored_search_and_the_bare_sets_answer_as_each_keyword_alone():
    # The combined search writes the word start once before all keywords (a DFA that warms up ~10x faster) and
    # lines without a backslash go to Sets with a bare `\b`: on every line the search stops where an alternation
    # of each keyword's own fast form stops, and the keyword indices are those of one Set of those forms.
    re2 = pytest.importorskip("re2")
    from hfdiag.engine.signatures import _fast_regex, keyword_pieces

    sigs = load_knowledge().signatures
    pre = sigs._prefilter
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = 64 << 20
    each = re2.compile("|".join(f"(?:{_fast_regex(k)})" for k in pre.keywords), options)
    each_set = re2.Set.SearchSet(options)
    for k in pre.keywords:
        each_set.Add(_fast_regex(k))
    each_set.Compile()
    lines = ordinary_text(64 * 1024, seed=11).splitlines()
    lines += [t.get("text", "") for s in sigs.signatures for t in s.tests]
    for kw in pre.keywords[::5]:
        example = " ".join(keyword_parts(p)[0] for p in keyword_pieces(kw))
        lines += [f"x {example} y", f"x\\n{example}", f"{example.upper()}", f"\u017f{example[1:]} \\t{example}"]
    for line in lines:
        data = line.encode("utf-8")
        m = each.search(data)
        assert pre.find(data, 0, len(data)) == (m.start() if m else -1), line[:120]
        if m and not any(c in line for c in "\u017f\u212a"):  # those two go to the exact Set (see above)
            assert sorted(pre.which(data)) == sorted(each_set.Match(data) or ()), line[:120]
