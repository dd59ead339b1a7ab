"""The report: one redacted JSON-like document that every renderer draws (schema: hfdiag/schema/report-v1)."""

from __future__ import annotations

from datetime import datetime, timezone

from hfdiag import __version__
from hfdiag.engine.verdict import Diagnosis
from hfdiag.evidence.model import ProbeResult, TextInput
from hfdiag.redact import Redactor, own_texts

REPORT_SCHEMA_VERSION = 1


def build_report(
    diagnosis: Diagnosis,
    *,
    mode: str,
    target: str | None,
    redactor: Redactor,
    probes: list[ProbeResult] | None = None,
    inputs: list[TextInput] | None = None,
    extra: dict | None = None,
) -> dict:
    """Assemble and redact the report. Redaction happens here, once, before any renderer sees a string."""
    facts = diagnosis.facts
    report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": {"name": "hfdiag", "version": __version__},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": mode,
        "target": target,
        "verdict": diagnosis.verdict.to_dict(),
        "chains": [c.to_dict() for c in diagnosis.chains if c.relevant],
        "findings": [f.to_dict() | {"next_steps": [_render(s, facts) for s in f.rule.next_steps]}
                     for f in diagnosis.findings],
        "facts": facts.to_list(),
        "probes": [p.to_dict() for p in probes or []],
        "inputs": [{"name": i.name, "chars": len(i.text), "truncated": i.truncated} for i in inputs or []],
    }
    if diagnosis.cues is not None:
        report["cues"] = diagnosis.cues.to_dict()
    _add_coverage(report, facts)
    if extra:
        report.update(extra)
    redactor.allow(own_texts(f.rule for f in diagnosis.findings))  # templates, before values were filled in
    report = redactor.obj(report)
    report["redaction"] = {"summary": redactor.summary(), "counts": dict(sorted(redactor.counts.items()))}
    return report


def _add_coverage(report: dict, facts) -> None:
    """A Space's report says which chains its evidence exercised; a healthy verdict names the gaps in its own
    line. Built from the facts, so a replayed bundle (`hfdiag explain BUNDLE`) says the same as the live check."""
    from hfdiag.coverage import coverage, not_exercised_note

    rows = coverage(facts)
    if not rows:
        return
    report["coverage"] = rows
    note = not_exercised_note(rows)
    if note and report["verdict"]["bucket"] == "healthy":
        report["verdict"]["summary"] += " " + note


def _render(template: str, facts) -> str:
    from hfdiag.engine.rules import render_template

    return render_template(template, facts)


def first_sentence(report: dict) -> str:
    """The verdict in one sentence: what every format leads with."""
    v = report["verdict"]
    bucket = v["bucket"]
    where = ""
    if v.get("first_missing_hop"):
        where = f"; evidence stops at {v['first_missing_hop']}"
        if v.get("last_seen_hop"):
            where += f" (last seen: {v['last_seen_hop']})"
    if bucket == "healthy":
        if v.get("confidence") == "low":  # evidence was set aside (engine/verdict.py, _caveat_healthy)
            return (f"healthy (low confidence): every hop checked has evidence ({v.get('rule') or 'no finding'}), "
                    "but evidence elsewhere was set aside, not settled.")
        return f"healthy: every hop checked has evidence ({v.get('rule') or 'no finding'})."
    if bucket == "inconclusive":
        return f"inconclusive{where}: {v['summary']}"
    knowledge = f", {v['knowledge']}" if v.get("knowledge") else ""
    basis = v["rule"] or ("from text cues" if v.get("basis") == "cues" else "no rule")
    return f"{bucket} ({v['confidence']} confidence{knowledge}, {basis}){where}."
