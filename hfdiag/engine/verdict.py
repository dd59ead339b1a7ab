"""From facts to a verdict: derive inferred facts, evaluate every rule, apply precedence, walk the chains.

Precedence (documented in docs/architecture.md and rules/precedence.yaml, tested in tests/test_precedence.py):
1. only matching findings that are not `knowledge: background` can win;
2. an `app` finding beats the platform buckets in `app_override.beats` when `app_override.when` holds
   (the request reached user code and user code failed);
3. otherwise the narrowest boundary wins (earliest in `narrow_to_broad`);
4. ties: confidence, then the number of true leaves, then the rule id.
Before any of this, a rule whose counter-evidence (`vetoes`) holds is out of the contest (status `vetoed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfdiag.engine import conditions
from hfdiag.engine.chains import ChainState, evaluate_chains
from hfdiag.engine.cues import (
    OUTWEIGH_LOW_MARGIN,
    OUTWEIGH_LOW_SCORE,
    OUTWEIGH_MARGIN,
    OUTWEIGH_SCORE,
    CueHit,
    CueTally,
    decide,
)
from hfdiag.engine.knowledge import KnowledgeBase
from hfdiag.engine.rules import RuleOutcome, evaluate_rule
from hfdiag.evidence.model import Fact, FactSet

_CONF_RANK = {"high": 0, "medium": 1, "low": 2}
_CONF_DOWN = {"high": "medium", "medium": "low", "low": "low"}


@dataclass
class Finding:
    outcome: RuleOutcome
    because: str

    @property
    def rule(self):
        return self.outcome.rule

    def to_dict(self, with_trace: bool = True) -> dict:
        r = self.rule
        d = {
            "id": r.id,
            "bucket": r.bucket,
            "status": self.outcome.status,
            "title": r.title,
            "because": self.because,
            "severity": r.severity,
            "confidence": r.confidence,
            "knowledge": r.knowledge,
            "chain": r.chain,
            "hop": r.hop,
            "next_steps": list(r.next_steps),
            "references": list(r.references),
            "missing_facts": self.outcome.missing_facts,
        }
        if self.outcome.vetoed_because:
            d["vetoed_because"] = self.outcome.vetoed_because
        if with_trace:
            d["trace"] = [leaf.to_dict() for leaf in self.outcome.evaluation.leaves]
        return d


@dataclass
class Need:
    fact: str
    probe: str | None
    needs: str | None

    def to_dict(self) -> dict:
        return {"fact": self.fact, "probe": self.probe, "needs": self.needs}


@dataclass
class Verdict:
    bucket: str
    confidence: str
    knowledge: str | None
    rule: str | None
    summary: str
    first_missing_hop: str | None = None
    last_seen_hop: str | None = None
    needs: list[Need] = field(default_factory=list)
    basis: str = "rules"  # rules | cues (text alone, engine/cues.py) | none
    candidates: list[dict] = field(default_factory=list)  # cue-weighed buckets, best first
    raise_confidence: list[str] = field(default_factory=list)  # what would decide it or make it firmer

    def to_dict(self) -> dict:
        return {
            "bucket": self.bucket,
            "confidence": self.confidence,
            "knowledge": self.knowledge,
            "rule": self.rule,
            "summary": self.summary,
            "first_missing_hop": self.first_missing_hop,
            "last_seen_hop": self.last_seen_hop,
            "needs": [n.to_dict() for n in self.needs],
            "basis": self.basis,
            "candidates": self.candidates,
            "raise_confidence": self.raise_confidence,
        }


@dataclass
class Diagnosis:
    verdict: Verdict
    findings: list[Finding]  # matches first (winner first), then inconclusive near-misses
    chains: list[ChainState]
    facts: FactSet
    cues: CueTally | None = None  # the weighed text cues (explain), None where no text was read


def derive(kb: KnowledgeBase, facts: FactSet) -> None:
    """Add inferred facts (rules/derived.yaml) that are not already known; in file order."""
    for d in kb.derived:
        if d["fact"] in facts:
            continue
        if conditions.evaluate(d["when"], facts).result is True:
            facts.add(Fact(d["fact"], d["value"], "derived", "inferred"))


def _hop_label(chains: list[ChainState], chain: str | None, hop: str | None) -> tuple[str | None, str | None]:
    """(last seen hop, first hop without evidence) as `chain.hop`.

    1. A winning rule that names a hop is authoritative: its conditions encode the evidence (a chain can show
       a stale hop as seen, e.g. the previous build's log of a Space whose restart failed).
    2. Otherwise the first chain (build, request, zerogpu, transfer, egress) with an explicitly missing hop.
    3. Otherwise the rule's own chain, as far as it has evidence.
    """
    def label(c: ChainState, h) -> str | None:
        return f"{c.name}.{h.id}" if h is not None else None

    state = next((c for c in chains if c.name == chain), None)
    if chain and hop:
        if state is None:
            return None, f"{chain}.{hop}"
        rule_hop = next((h for h in state.hops if h.id == hop), None)
        if rule_hop is not None:
            idx = state.hops.index(rule_hop)
            seen_before = [h for h in state.hops[:idx] if h.status == "seen"]
            return label(state, seen_before[-1] if seen_before else None), label(state, rule_hop)
    broken = next((c for c in chains if any(h.status == "missing" for h in c.hops) and c.first_without), None)
    if broken is not None:
        return label(broken, broken.last_seen), label(broken, broken.first_without)
    if state is not None and state.relevant:
        return label(state, state.last_seen), label(state, state.first_without)
    return None, None


def _sort_key(kb: KnowledgeBase, f: Finding):
    order = kb.precedence["narrow_to_broad"]
    rank = order.index(f.rule.bucket) if f.rule.bucket in order else len(order)
    return (rank, _CONF_RANK.get(f.rule.confidence, 3), -f.outcome.evaluation.true_leaves, f.rule.id)


def choose(kb: KnowledgeBase, facts: FactSet, matches: list[Finding]) -> list[Finding]:
    """Order matching findings so that the winner comes first."""
    candidates = [f for f in matches if f.rule.knowledge != "background" and f.rule.bucket != "healthy"]
    rest = [f for f in matches if f not in candidates]
    candidates.sort(key=lambda f: _sort_key(kb, f))
    override = kb.precedence.get("app_override")
    app = [f for f in candidates if f.rule.bucket == "app"]
    if override and app and conditions.evaluate(override["when"], facts).result is True:
        beats = set(override["beats"])
        head = [f for f in candidates if f.rule.bucket not in beats and f.rule.bucket != "app"
                and _sort_key(kb, f) < _sort_key(kb, app[0])]
        tail = [f for f in candidates if f not in head and f not in app]
        candidates = head + app + tail
    healthy = sorted((f for f in rest if f.rule.bucket == "healthy"), key=lambda f: f.rule.id)
    background = sorted((f for f in rest if f.rule.bucket != "healthy"), key=lambda f: f.rule.id)
    return candidates + healthy + background


def diagnose(kb: KnowledgeBase, facts: FactSet, no_evidence_reason: str | None = None,
             cue_hits: list[CueHit] | None = None) -> Diagnosis:
    """`cue_hits`: the text cues found in pasted text (explain); None where no text was read (check), which
    turns the cue tier off: a live check concludes from its rules alone."""
    derive(kb, facts)
    outcomes = [evaluate_rule(r, facts) for r in kb.rules]
    matches = [Finding(o, o.rule.render_because(facts)) for o in outcomes if o.status == "match"]
    # An undecided rule is worth reporting only when a symptom (not mere context such as the stage or who is
    # calling) already points its way.
    near = [Finding(o, o.rule.render_because(facts)) for o in outcomes
            if o.status == "inconclusive" and _symptoms(kb, o) > 0]
    ordered = choose(kb, facts, matches)
    chains = evaluate_chains(kb.chains, facts)
    winner = ordered[0] if ordered and ordered[0].rule.knowledge != "background" else None

    if winner is not None and winner.rule.bucket != "healthy":
        r = winner.rule
        conf = r.confidence
        rivals = {f.rule.bucket for f in ordered[1:] if f.rule.bucket not in (r.bucket, "healthy")
                  and f.rule.knowledge != "background"}
        if rivals - {"app"} and r.bucket != "app" and len(rivals) >= 2:
            conf = _CONF_DOWN[conf]  # several other boundaries also fit: say so through a lower confidence
        last, first = _hop_label(chains, r.chain, r.hop)
        verdict = Verdict(r.bucket, conf, r.knowledge, r.id, f"{r.title}: {winner.because}", first, last)
    elif near and (winner is None or winner.rule.bucket != "healthy"):
        # First the undecided rules that a probe (or a token) could decide, then the best supported.
        near.sort(key=lambda f: (not any(kb.catalog.obtainable(k) for k in f.outcome.missing_facts),
                                 -_symptoms(kb, f.outcome), _sort_key(kb, f)))
        needs = _needs(kb, near)
        top = near[0].rule
        verdict = Verdict(
            "inconclusive", "low", None, None,
            f"Evidence points towards {top.bucket} ({top.id}), but deciding it needs "
            + "; ".join(f"{how} ({', '.join(keys[:3])}{', …' if len(keys) > 3 else ''})"
                        for how, keys in group_needs(near[0], kb).items()) + ".",
            needs=needs,
        )
        last, first = _hop_label(chains, top.chain, top.hop)
        verdict.last_seen_hop, verdict.first_missing_hop = last, first
    elif winner is not None:  # healthy
        verdict = Verdict("healthy", winner.rule.confidence, winner.rule.knowledge, winner.rule.id,
                          f"{winner.rule.title}: {winner.because}")
        verdict = _caveat_healthy(verdict, ordered, vetoed_findings(kb, facts, outcomes), facts, chains)
    else:
        verdict = Verdict(
            "inconclusive", "low", None, None,
            no_evidence_reason or "No rule matched the evidence: nothing here names a boundary.",
        )
    findings = ordered + sorted(near, key=lambda f: _sort_key(kb, f)) + vetoed_findings(kb, facts, outcomes)
    tally = None
    if cue_hits is not None:
        tally = kb.cues.tally(cue_hits + kb.cues.fact_hits(facts))
        if verdict.bucket == "inconclusive":
            verdict = _from_cues(kb, tally, verdict, near, chains)
        elif _outweighed(verdict, tally):
            verdict = _from_cues(kb, tally, verdict, near, chains, outweighed=verdict)
    return Diagnosis(verdict, findings, chains, facts, tally)


# What would exercise or settle a chain that a healthy finding does not cover.
_CHAIN_DECIDER = {"build": "builder", "request": "proxy", "zerogpu": "zerogpu-settlement", "transfer": "transfer",
                  "egress": "egress"}


def _caveat_healthy(verdict: Verdict, ordered: list[Finding], vetoed: list[Finding], facts: FactSet,
                    chains: list[ChainState]) -> Verdict:
    """`healthy` speaks for the chains its healthy findings cover. Evidence set aside elsewhere was not disproved
    there: a platform finding vetoed on a chain no healthy finding covers (its counter-evidence came from another
    chain), or ZeroGPU call outcomes in the run log that may be other visitors' (hfdiag/attribution.py). Either
    keeps the verdict at low confidence, named in its line with what would settle it. Evidence that stops on such
    a chain with no finding at all to explain it (a ZeroGPU call whose queue/join failed) is stronger: the verdict
    is inconclusive at that hop (docs/architecture.md, "Evidence strength")."""
    covered = {f.rule.chain for f in ordered if f.rule.bucket == "healthy" and f.outcome.status == "match"}
    aside = [f for f in vetoed if f.rule.bucket not in ("healthy", "app") and f.rule.knowledge != "background"
             and f.rule.chain not in covered]
    told = covered | {f.rule.chain for f in aside}
    broken = next((c for c in chains if c.name not in told and c.first_without is not None
                   and any(h.status == "missing" for h in c.hops)), None)
    if broken is not None:
        hop = broken.first_without
        last = broken.last_seen
        decider = _DECIDERS.get(_CHAIN_DECIDER.get(broken.name, ""), "the probe errors in the report")
        return Verdict(
            "inconclusive", "low", None, None,
            f"{verdict.summary} But the {broken.title} chain stops at {broken.name}.{hop.id} ({hop.label}) and no "
            f"rule names that boundary, so the Space is not shown healthy (the probe errors in the report say what "
            f"was answered). What would settle it: {decider}.",
            first_missing_hop=f"{broken.name}.{hop.id}",
            last_seen_hop=f"{broken.name}.{last.id}" if last is not None else None,
            raise_confidence=[decider])
    notes, settle = [], []
    for f in aside[:2]:
        why = (f.outcome.vetoed_because or "").split(": ")[0].rstrip(".")
        decider = _DECIDERS.get(f.rule.bucket, f"evidence on the {f.rule.chain} chain")
        notes.append(f"{f.rule.id} ({f.rule.bucket}, on the {f.rule.chain or 'no'} chain) matched but was vetoed "
                     f"({why}); what would settle it: {decider}")
        settle.append(decider)
    visitors = facts.get("zerogpu.visitor_evidence")
    if visitors:
        notes.append("the run log shows ZeroGPU call outcomes without this check's identity ("
                     + ", ".join(str(v) for v in visitors[:3]) + "), possibly other visitors' calls; what would "
                     f"settle it: {_DECIDERS['zerogpu-settlement']}")
        settle.append(_DECIDERS["zerogpu-settlement"])
    if not notes:
        return verdict
    verdict.confidence = "low"
    verdict.summary += " Set aside, not settled: " + "; ".join(notes) + "."
    for s in settle:
        if s not in verdict.raise_confidence:
            verdict.raise_confidence.append(s)
    return verdict


def _outweighed(verdict: Verdict, tally: CueTally) -> bool:
    """A platform rule that is not high-confidence rests on one fact (a stage, a launch-timeout line) while the
    text as a whole points elsewhere: the stronger evidence decides (docs/architecture.md, "Evidence strength").
    An app rule is never outweighed by platform cues: the tool does not talk the user out of their own bug."""
    if verdict.basis != "rules" or verdict.confidence == "high" or verdict.bucket in ("app", "healthy", "inconclusive"):
        return False
    decision = decide(tally)
    if decision.bucket is None or decision.bucket == verdict.bucket:
        return False
    if decision.bucket == "zerogpu-quota" and verdict.bucket.startswith("zerogpu-"):
        return False  # the quota message is the surface all three ZeroGPU buckets share; the rule reads its details
    best = tally.scores.get(decision.bucket, 0.0)
    lead = best - max(tally.scores.get(verdict.bucket, 0.0), 0.0)
    if verdict.confidence == "low":
        return best >= OUTWEIGH_LOW_SCORE and lead >= OUTWEIGH_LOW_MARGIN
    return best >= OUTWEIGH_SCORE and lead >= OUTWEIGH_MARGIN


def _from_cues(kb: KnowledgeBase, tally: CueTally, fallback: Verdict, near: list[Finding],
               chains: list[ChainState], outweighed: Verdict | None = None) -> Verdict:
    """No rule concluded (or the one that did is outweighed): the weighed cues decide, at low or medium confidence
    (docs/architecture.md)."""
    decision = decide(tally)
    candidates = [{"bucket": b, "score": round(sc, 2)} for b, sc in decision.top[:4]]
    if decision.bucket is None:
        if decision.tie:
            (b1, _), (b2, _) = decision.top[:2]
            fallback.summary = (f"The text fits {b1} and {b2} equally ({_cue_list(tally, b1)} vs. "
                                f"{_cue_list(tally, b2)}); " + _separator(b1, b2))
        elif decision.top and fallback.rule is None and not near:
            b1 = decision.top[0][0]
            fallback.summary = (f"The text only hints at {b1} ({_cue_list(tally, b1)}); nothing in it is enough "
                                "to name a boundary.")
        fallback.basis = "cues" if decision.top else "none"
        fallback.candidates = candidates
        fallback.raise_confidence = _raisers(kb, [b for b, _ in decision.top[:2]], near)
        return fallback
    bucket = decision.bucket
    mine = [f for f in near if f.rule.bucket == bucket]
    summary = f"From the text alone, the evidence points to {bucket}: {_cue_list(tally, bucket, 3)}."
    if outweighed is not None:
        summary += (f" {outweighed.rule} ({outweighed.bucket}, {outweighed.confidence}) also matched, on weaker "
                    "evidence than the text as a whole.")
    verdict = Verdict(
        bucket, "low" if outweighed is not None else decision.confidence,
        "suspicious" if bucket != "app" else "explained", None, summary,
        needs=_needs(kb, mine), basis="cues", candidates=candidates,
        raise_confidence=_raisers(kb, [bucket], mine),
    )
    if mine:
        verdict.last_seen_hop, verdict.first_missing_hop = _hop_label(chains, mine[0].rule.chain, mine[0].rule.hop)
    return verdict


def _cue_list(tally: CueTally, bucket: str, most: int = 2) -> str:
    means = [h.cue.means for h in tally.hits if h.cue.bucket == bucket and h.cue.weight > 0]
    return "; ".join(means[:most]) or "no cue"


# What tells one boundary from another when the text alone cannot: the probe or fact that decides.
_DECIDERS = {
    "builder": "`hfdiag check OWNER/NAME` with the owner's token (build log and stage), or --fact space.stage=BUILDING",
    "proxy": "`hfdiag check OWNER/NAME` (does the edge answer without x-proxied-*, does the request nonce reach "
             "the run log?), or --fact route.reached_app=false",
    "zerogpu-settlement": "`hfdiag check OWNER/NAME --zerogpu-call API --settle-wait 120` (was the function entered, "
                          "was the reservation charged?)",
    "zerogpu-identity": "`hfdiag check OWNER/NAME` with your token (which pool the caller lands in: `hfdiag env` "
                        "shows whose token is used)",
    "zerogpu-quota": "`hfdiag check OWNER/NAME` with your token (quota left and the requested duration)",
    "transfer": "`hfdiag check OWNER/NAME --transfer-file REPO:PATH` (resolve, backend, first byte, throughput)",
    "egress": "`hfdiag egress HOST:PORT` run inside the Space (DNS, TCP, TLS, HTTP answer per target)",
    "runtime": "the GPU name and torch/CUDA versions from the run log (--fact space.hardware=...)",
    "app": "the run log's traceback (`hfdiag check OWNER/NAME` with the owner's token), or --fact "
           "route.reached_app=true",
}


def _raisers(kb: KnowledgeBase, buckets: list[str], near: list[Finding]) -> list[str]:
    out = []
    for f in near[:2]:
        for how, keys in group_needs(f, kb).items():
            line = f"{how} ({', '.join(keys[:3])})"
            if line not in out:
                out.append(line)
    for b in buckets:
        if b in _DECIDERS and _DECIDERS[b] not in out:
            out.append(_DECIDERS[b])
    return out[:4]


def _separator(b1: str, b2: str) -> str:
    return f"to separate them: {_DECIDERS.get(b1, b1)}; {_DECIDERS.get(b2, b2)}."


def vetoed_findings(kb: KnowledgeBase, facts: FactSet, outcomes: list[RuleOutcome]) -> list[Finding]:
    """Rules that matched but whose counter-evidence holds: never a winner, listed last so the report shows
    which story the evidence ruled out and why (docs/architecture.md, "Evidence strength")."""
    vetoed = [o for o in outcomes if o.status == "vetoed"]
    return [Finding(o, o.rule.render_because(facts)) for o in sorted(vetoed, key=lambda o: o.rule.id)]


_POSITIVE_OPS = ("eq", "in", "gt", "gte", "lt", "lte", "matches", "contains")


def _symptoms(kb: KnowledgeBase, outcome: RuleOutcome) -> int:
    """True leaves that are positive evidence of a symptom: a present fact that is not mere context, tested
    by an operator that asserts something about its value (not `exists`, `missing`, `ne`, `not_in`)."""
    return sum(
        1 for leaf in outcome.evaluation.leaves
        if leaf.result is True and leaf.present and leaf.op in _POSITIVE_OPS
        and not kb.catalog.is_context(leaf.fact, leaf.actual)
    )


def need_label(needs: str | None, probe: str | None) -> str:
    if needs:
        return needs
    if probe:
        return f"the {probe} probe"
    return "a pasted report or log that says so, or `--fact KEY=VALUE`"


def group_needs(finding: Finding, kb: KnowledgeBase) -> dict[str, list[str]]:
    """The missing facts of one undecided rule, grouped by what would supply them (a token, a flag, a probe)."""
    groups: dict[str, list[str]] = {}
    for key in finding.outcome.missing_facts:
        spec = kb.catalog.spec(key)
        groups.setdefault(need_label(spec.needs if spec else None, spec.probe if spec else None), []).append(key)
    # What a probe or a token can supply first; text-only facts last.
    return dict(sorted(groups.items(), key=lambda kv: kv[0] == need_label(None, None)))


def _needs(kb: KnowledgeBase, near: list[Finding]) -> list[Need]:
    seen: dict[str, Need] = {}
    for f in near:
        for key in f.outcome.missing_facts:
            if key not in seen:
                spec = kb.catalog.spec(key)
                seen[key] = Need(key, spec.probe if spec else None, spec.needs if spec else None)
    return list(seen.values())
