"""From a report to an exit status, by `--fail-on` (bucket names, `platform`, `any`, `none`)."""

from __future__ import annotations

from hfdiag.engine.data import BUCKETS, PLATFORM_BUCKETS
from hfdiag.errors import UsageError
from hfdiag.exit_status import ExitStatus

FAIL_ON_WORDS = ("any", "platform", "none")


def parse_fail_on(value: str) -> frozenset[str]:
    """The set of buckets whose findings fail the run."""
    if not value.strip():  # "" must not quietly mean "none" (a CI variable that came out empty)
        raise UsageError("--fail-on is empty: name buckets, 'platform', 'any', or 'none' to never fail")
    chosen: set[str] = set()
    for word in (w.strip() for w in value.split(",")):
        if not word:
            continue
        if word == "any":
            chosen |= set(BUCKETS) - {"healthy", "inconclusive"}
        elif word == "platform":
            chosen |= set(PLATFORM_BUCKETS)
        elif word == "none":
            continue
        elif word in BUCKETS and word not in ("healthy", "inconclusive"):
            chosen.add(word)
        else:
            allowed = ", ".join(FAIL_ON_WORDS + tuple(b for b in BUCKETS if b not in ("healthy", "inconclusive")))
            raise UsageError(f"--fail-on {word!r}: not one of {allowed}")
    return frozenset(chosen)


def exit_status(report: dict, fail_on: frozenset[str]) -> ExitStatus:
    bucket = report["verdict"]["bucket"]
    failing = [
        f for f in report["findings"]
        if f["status"] == "match" and f["knowledge"] != "background" and f["bucket"] in fail_on
    ]
    if failing and bucket != "healthy":
        return ExitStatus.FINDING
    if report["verdict"].get("basis") == "cues" and bucket in fail_on:  # a verdict from text cues alone
        return ExitStatus.FINDING
    if bucket == "inconclusive" and fail_on:
        return ExitStatus.INCONCLUSIVE
    return ExitStatus.OK


def combined(statuses: list[ExitStatus]) -> ExitStatus:
    """Several reports in one run: a finding beats inconclusive beats ok."""
    for s in (ExitStatus.FINDING, ExitStatus.INCONCLUSIVE):
        if s in statuses:
            return s
    return ExitStatus.OK
