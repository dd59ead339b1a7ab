"""Cues: the second tier of text evidence, for reports as people write them.

A signature extracts a value from an exact message and stays high-confidence. A cue is looser: a word-level
pattern ("stuck … building", "quota … signed in", a traceback inside /home/user/app) that tolerates case,
punctuation, inflection, words in between and text around it in any language. A cue carries a bucket and a
weight (negative: it speaks *against* the bucket); when no rule concludes, the weighed cues decide, with low or
medium confidence, and the cues that fired are listed as the evidence.

Cues are data (`rules/cues.yaml`) and are scanned by the same streaming scanner and keyword prefilter as the
signatures (one pass over the text): a cue is a `Signature` whose `kind` is "cue".

Pattern shorthand (expanded at load, so cue files stay readable):
  `~`    up to 60 characters on the same line: "words in between" ("stuck ~ build" matches "stuck in build");
         `\\~` is a literal tilde
  `\\b`   an ASCII word boundary: text in other languages around an English term still counts as a boundary
Cues are compiled case-insensitive with re.ASCII, so "\\w" means [A-Za-z0-9_].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hfdiag.engine import conditions
from hfdiag.engine.data import BUCKETS, read_yaml
from hfdiag.engine.regex_safety import regex_problem
from hfdiag.errors import RuleError
from hfdiag.evidence.model import Fact, FactSet

GAP = r"[^\n]{0,60}?"
CUE_FLAGS = re.IGNORECASE | re.ASCII
_CUE_KEYS = {"id", "bucket", "weight", "means", "keywords", "pattern", "when", "facts", "tests", "requires_any",
             "against"}
_ID_RX = re.compile(r"^CUE-[A-Z]{2,5}-\d{3}$")
CUE_BUCKETS = tuple(b for b in BUCKETS if b not in ("healthy", "inconclusive"))
MAX_WEIGHT = 5

# How the weighed cues become a verdict (docs/architecture.md, "Verdicts from text alone").
MIN_SCORE = 2.0  # below this the text only hints: inconclusive
MIN_MARGIN = 1.0  # the best bucket must lead the next by this much, else the two are named as a tie
MEDIUM_SCORE = 5.0  # medium confidence needs this much support and twice the runner-up's
# A platform rule below high confidence gives way when the text as a whole points elsewhere this strongly.
OUTWEIGH_SCORE = 5.0
OUTWEIGH_MARGIN = 3.0
# A low-confidence rule says itself that it rests on little: a smaller, still clear lead of the text outweighs it.
OUTWEIGH_LOW_SCORE = 3.0
OUTWEIGH_LOW_MARGIN = 2.0


def expand(pattern: str) -> str:
    """The cue shorthand: ` ~ ` (or `~`) for a same-line gap of up to 60 characters; `\\~` is a literal tilde."""
    return re.sub(r"(?<!\\)\s*~\s*", lambda _m: GAP, pattern)


def _stray_gap(pattern: str) -> bool:
    """A gap written where an alternative or a group starts or ends (`(a|~)`) is almost surely a tilde meant as a
    character: it would match any 60 characters there."""
    return re.search(r"(?<!\\)[(|]\s*~|(?<!\\)~\s*[|)]", pattern) is not None


@dataclass
class Cue:
    id: str
    bucket: str
    weight: float
    means: str
    pattern: str | None = None  # expanded regex (text cues)
    keywords: list[str] = field(default_factory=list)
    when: dict | None = None  # condition over facts (fact cues: a stage, a status code)
    facts: dict[str, Any] = field(default_factory=dict)  # interpreted facts a text cue adds
    tests: list[dict] = field(default_factory=list)
    requires_any: list[str] = field(default_factory=list)  # counts only if one of these cues fired anywhere too
    # Other buckets the same words speak against (bucket -> weight taken off): an outside API's "429 ... quota"
    # is the app's evidence *and* evidence that neither the Space edge nor ZeroGPU answered.
    against: dict[str, float] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        return "for" if self.weight > 0 else "against"


@dataclass
class CueHit:
    cue: Cue
    source: str  # "text:stdin", "post:3 (maintainer)", "fact:space.stage"
    excerpt: str
    factor: float = 1.0  # the part's weight, at most 1 (a reply: explain.CONTEXT_WEIGHT)

    def to_dict(self) -> dict:
        out = {
            "id": self.cue.id, "bucket": self.cue.bucket, "weight": self.cue.weight * self.factor,
            "direction": self.cue.direction, "means": self.cue.means, "source": self.source,
            "excerpt": self.excerpt,
        }
        if self.cue.against:
            out["against"] = {b: w * self.factor for b, w in self.cue.against.items()}
        return out


@dataclass
class CueTally:
    hits: list[CueHit]
    scores: dict[str, float]  # bucket -> summed weight (one hit per cue: the strongest)

    def ranked(self) -> list[tuple[str, float]]:
        return sorted(((b, s) for b, s in self.scores.items() if s > 0), key=lambda kv: (-kv[1], kv[0]))

    def to_dict(self) -> dict:
        return {"scores": {b: round(s, 2) for b, s in sorted(self.scores.items())},
                "hits": [h.to_dict() for h in self.hits]}


class CueSet:
    def __init__(self, cues: list[Cue]):
        self.cues = cues
        self.by_id = {c.id: c for c in cues}
        self.text_cues = [c for c in cues if c.pattern is not None]
        self.fact_cues = [c for c in cues if c.when is not None]

    def __len__(self) -> int:
        return len(self.cues)

    def signatures(self) -> list:
        """The text cues as scanner entries (kind 'cue'): they share the signatures' prefilter and pass."""
        from hfdiag.engine.signatures import Signature

        return [Signature(id=c.id, source=c.pattern, keywords=[k.lower() for k in c.keywords], facts=dict(c.facts),
                          description=c.means, bucket=c.bucket, flags=CUE_FLAGS, kind="cue") for c in self.text_cues]

    def fact_hits(self, facts: FactSet) -> list[CueHit]:
        hits = []
        for c in self.fact_cues:
            if conditions.evaluate(c.when, facts).result is True:
                keys = ", ".join(f"{k}={facts.get(k)}" for k in _condition_facts(c.when) if k in facts)
                hits.append(CueHit(c, "facts", keys))
        return hits

    def tally(self, hits: list[CueHit]) -> CueTally:
        fired = {h.cue.id for h in hits}
        # A combination cue ("CUDA not available" on ZeroGPU) counts only beside one of the cues it names; the
        # partners may stand on other lines or come from facts.
        hits = [h for h in hits if not h.cue.requires_any or fired.intersection(h.cue.requires_any)]
        best: dict[str, CueHit] = {}
        for h in hits:  # a cue counts once, at its strongest place
            cur = best.get(h.cue.id)
            if cur is None or h.factor > cur.factor:
                best[h.cue.id] = h
        scores: dict[str, float] = {}
        for h in best.values():
            scores[h.cue.bucket] = scores.get(h.cue.bucket, 0.0) + h.cue.weight * h.factor
            for other, w in h.cue.against.items():
                scores[other] = scores.get(other, 0.0) - w * h.factor
        ordered = sorted(best.values(), key=lambda h: (-abs(h.cue.weight * h.factor), h.cue.id))
        return CueTally(ordered, scores)


def _condition_facts(node) -> list[str]:
    if isinstance(node, dict):
        if "fact" in node:
            return [node["fact"]]
        out = []
        for v in node.values():
            out += _condition_facts(v)
        return out
    if isinstance(node, list):
        return [k for item in node for k in _condition_facts(item)]
    return []


@dataclass
class CueDecision:
    bucket: str | None  # None: no decision (inconclusive)
    confidence: str
    top: list[tuple[str, float]]  # ranked buckets with positive scores
    tie: bool = False  # no decision because the two best fit equally (rather than nothing or only hints)


def decide(tally: CueTally) -> CueDecision:
    """Weighed cues -> a bucket with low/medium confidence, or no decision (nothing named, or a tie)."""
    ranked = tally.ranked()
    if not ranked:
        return CueDecision(None, "low", [])
    b1, s1 = ranked[0]
    s2 = ranked[1][1] if len(ranked) > 1 else 0.0
    if s1 < MIN_SCORE:
        return CueDecision(None, "low", ranked)
    if s1 - s2 < MIN_MARGIN:
        return CueDecision(None, "low", ranked, tie=True)
    conf = "medium" if s1 >= MEDIUM_SCORE and s1 >= 2 * s2 else "low"
    return CueDecision(b1, conf, ranked)


# -- loading and lint ----------------------------------------------------------------------------------------
def _compile(entry: Any, path: Path, known_fact=None) -> tuple[Cue | None, list[str]]:
    if not isinstance(entry, dict):
        return None, [f"{path}: every cue must be a mapping"]
    cid = entry.get("id")
    where = f"{path}: {cid or '<no id>'}"
    errs = [f"{where}: unknown key {k!r}" for k in sorted(set(entry) - _CUE_KEYS)]
    if not isinstance(cid, str) or not _ID_RX.match(cid):
        errs.append(f"{where}: id must look like CUE-XXX-000")
    bucket = entry.get("bucket")
    if bucket not in CUE_BUCKETS:
        errs.append(f"{where}: bucket must be one of {', '.join(CUE_BUCKETS)}")
    weight = entry.get("weight")
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 < abs(weight) <= MAX_WEIGHT:
        errs.append(f"{where}: weight must be a number, 0 < |weight| <= {MAX_WEIGHT} (negative: against)")
    if not isinstance(entry.get("means"), str) or not entry["means"].strip():
        errs.append(f"{where}: needs 'means': what the cue says about the boundary")
    pattern, when = entry.get("pattern"), entry.get("when")
    if (pattern is None) == (when is None):
        errs.append(f"{where}: needs exactly one of 'pattern' (text cue) or 'when' (fact cue)")
    expanded = None
    if pattern is not None:
        if not isinstance(pattern, str):
            errs.append(f"{where}: pattern must be a string")
        else:
            if _stray_gap(pattern):
                errs.append(f"{where}: `~` (a gap) right after `(`/`|` or before `|`/`)`: write `\\~` for a tilde")
            expanded = expand(pattern)
            problem = regex_problem(expanded)
            if problem:
                errs.append(f"{where}: {problem}")
        kws = entry.get("keywords")
        if not isinstance(kws, list) or not kws or not all(isinstance(k, str) and len(k.encode()) >= 3 for k in kws):
            errs.append(f"{where}: needs 'keywords': literal substrings (3+ bytes) one of which every match contains")
    if when is not None:
        errs += [f"{where}: when: {e}" for e in conditions.validate(when, "when", known_fact)]
    facts = entry.get("facts") or {}
    if not isinstance(facts, dict):
        errs.append(f"{where}: facts must be a mapping")
    elif known_fact is not None:
        errs += [f"{where}: fact {k!r} is not declared in facts.yaml" for k in facts if not known_fact(k)]
    req = entry.get("requires_any") or []
    if not isinstance(req, list) or not all(isinstance(r, str) and _ID_RX.match(r) for r in req):
        errs.append(f"{where}: requires_any must be a list of cue ids")
    against = entry.get("against") or {}
    if not isinstance(against, dict) or not all(
            b in CUE_BUCKETS and b != bucket and isinstance(w, (int, float)) and not isinstance(w, bool)
            and 0 < w <= MAX_WEIGHT for b, w in against.items()):
        errs.append(f"{where}: against must map other buckets to weights 0 < w <= {MAX_WEIGHT}")
    tests = entry.get("tests") or []
    if pattern is not None and not any(isinstance(t, dict) and t.get("expect") == "match" for t in tests):
        errs.append(f"{where}: needs inline tests, at least one `expect: match`")
    if errs:
        return None, errs
    cue = Cue(id=cid, bucket=bucket, weight=float(weight), means=entry["means"].strip(), pattern=expanded,
              keywords=[k.lower() for k in entry.get("keywords") or []], when=when, facts=dict(facts),
              tests=list(tests), requires_any=list(req),
              against={b: float(w) for b, w in against.items()})
    return cue, []


def _trusted(entry: dict) -> Cue:
    """A cue of the built-in set, which `hfdiag rules lint` and the test suite validate: no checks here (the
    regex-safety analysis of every pattern was most of the cue tier's load time)."""
    pattern = entry.get("pattern")
    return Cue(id=entry["id"], bucket=entry["bucket"], weight=float(entry["weight"]), means=entry["means"].strip(),
               pattern=None if pattern is None else expand(pattern),
               keywords=[k.lower() for k in entry.get("keywords") or []], when=entry.get("when"),
               facts=dict(entry.get("facts") or {}), tests=list(entry.get("tests") or []),
               requires_any=list(entry.get("requires_any") or []),
               against={b: float(w) for b, w in (entry.get("against") or {}).items()})


def load_cues(path: Path, known_fact=None, strict: bool = True, trusted: bool = False) -> tuple[CueSet, list[str]]:
    if not path.is_file():
        return CueSet([]), []
    data = read_yaml(path, max_bytes=1024 * 1024)
    if not isinstance(data, dict) or not isinstance(data.get("cues"), list):
        raise RuleError(f"{path}: must be a mapping with a 'cues' list")
    if trusted:
        return CueSet([_trusted(e) for e in data["cues"]]), []
    cues, problems, seen = [], [], set()
    for entry in data["cues"]:
        cue, errs = _compile(entry, path, known_fact)
        if cue and cue.id in seen:
            errs = errs + [f"{path}: duplicate cue id {cue.id}"]
        problems += errs
        if cue and not errs:
            seen.add(cue.id)
            cues.append(cue)
    for cue in cues:
        problems += [f"{path}: {cue.id}: requires_any names an unknown cue {r}" for r in cue.requires_any if r not in seen]
    if problems and strict:
        raise RuleError(problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    return CueSet(cues), problems


def run_cue_tests(cues: CueSet, combined) -> list[str]:
    """Inline tests: `text` with `expect: match | no_match`, each run through the cue alone *and* through the
    combined scanner (signatures + cues), so a keyword that the shared prefilter never shows is caught."""
    from hfdiag.engine.signatures import SignatureSet

    failures = []
    singles = {s.id: s for s in cues.signatures()}
    for c in cues.text_cues:
        single = SignatureSet([singles[c.id]])
        for t in c.tests:
            text, want = t.get("text", ""), t.get("expect")
            alone = c.id in single.scan_text(text).cue_hits
            together = c.id in combined.scan_text(text).cue_hits
            if want == "match" and not alone:
                failures.append(f"{c.id}: does not match {text[:70]!r}")
            elif want == "match" and not together:
                failures.append(f"{c.id}: does not fire through the combined prefilter on {text[:70]!r}")
            elif want == "no_match" and alone:
                failures.append(f"{c.id}: expected no match on {text[:70]!r}")
            elif want not in ("match", "no_match"):
                failures.append(f"{c.id}: test expect must be match or no_match")
    return failures


def hits_from_scan(result, cues: CueSet, source: str, factor: float = 1.0) -> list[CueHit]:
    """The cue hits a scan recorded (ScanResult.cue_hits: id -> first excerpt)."""
    return [CueHit(cues.by_id[cid], source, excerpt, factor)
            for cid, excerpt in result.cue_hits.items() if cid in cues.by_id]


def cue_fact(hits: list[CueHit], source: str) -> Fact | None:
    """`text.cues`: the ids of the cues that fired (observed: the words are in the text; the bucket they point
    to is the interpretation, made in the verdict)."""
    ids = sorted({h.cue.id for h in hits})
    return Fact("text.cues", ids, source, "observed") if ids else None
