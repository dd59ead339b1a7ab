"""`hfdiag triage` as a library: list the open threads of a Space's Community tab (or a GitHub repo's issues),
classify each through the same engine as `hfdiag explain`, and group the reports by bucket.

Nothing is written to any service: the output is a table, reply drafts to paste, or JSON Lines for a workflow
that labels or comments on its own (docs/ci.md)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from hfdiag.engine.knowledge import KnowledgeBase
from hfdiag.errors import UsageError
from hfdiag.threads.classify import Services, thread_input
from hfdiag.threads.model import Thread

MAX_THREADS = 500  # threads classified per run (--limit lowers it)
CONCURRENCY = 4  # thread reads in flight
_SPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_BUCKET_ORDER = ("zerogpu-quota", "zerogpu-identity", "zerogpu-settlement", "app", "builder", "proxy", "runtime",
                 "transfer", "egress", "healthy", "inconclusive")


@dataclass(frozen=True)
class TriageTarget:
    kind: str  # space | github
    repo: str

    @property
    def label(self) -> str:
        return f"github:{self.repo}" if self.kind == "github" else self.repo


def parse_target(value: str) -> TriageTarget:
    text = value.strip()
    kind = "space"
    if text.startswith("github:"):
        kind, text = "github", text[len("github:"):]
    elif text.startswith("spaces/"):
        text = text[len("spaces/"):]
    if not _SPACE.match(text):
        raise UsageError(f"{value!r}: expected OWNER/NAME (a Space) or github:OWNER/REPO")
    return TriageTarget(kind, text)


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """`--since`: an ISO date or date-time (UTC when no zone), or a age such as 7d / 12h."""
    if not value:
        return None
    now = now or datetime.now(timezone.utc)
    m = re.fullmatch(r"(\d{1,4})([dh])", value.strip())
    if m:
        n = int(m.group(1))
        return now - (timedelta(days=n) if m.group(2) == "d" else timedelta(hours=n))
    when = parse_time(value)
    if when is None:
        raise UsageError(f"--since {value!r}: expected a date (2026-11-01), a date-time or an age (7d, 12h)")
    return when


def parse_time(value: str | None) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _recent(created: str | None, since: datetime | None) -> bool:
    if since is None:
        return True
    when = parse_time(created)
    return when is not None and when >= since


@dataclass
class Collected:
    threads: list[Thread] = field(default_factory=list)
    listed: int = 0
    truncated: bool = False  # the listing or --limit cut the set short


async def collect(target: TriageTarget, services: Services, *, include_closed: bool, since: datetime | None,
                  limit: int) -> Collected:
    out = Collected()
    gate = asyncio.Semaphore(CONCURRENCY)
    if target.kind == "github":
        from hfdiag.threads.github import list_issues, read_comments, thread_of

        http = services.github()
        issues, cut = await list_issues(http, target.repo, include_closed=include_closed,
                                        since=since.strftime("%Y-%m-%dT%H:%M:%SZ") if since else None)
        chosen = [i for i in issues if _recent(i.get("created_at"), since)]

        async def read(issue: dict) -> Thread:
            async with gate:
                thread = thread_of(issue, f"https://github.com/{target.repo}/issues/{issue['number']}")
                await read_comments(http, target.repo, thread)
                return thread
    else:
        from hfdiag.threads.hub import list_discussions, read_discussion

        http = services.hub()
        listed, cut = await list_discussions(http, "spaces", target.repo, include_closed=include_closed)
        chosen = [d for d in listed if _recent(d.get("created_at"), since)]

        async def read(d: dict) -> Thread:
            async with gate:
                return await read_discussion(http, "spaces", target.repo, d["num"])
    out.listed = len(chosen)
    out.truncated = cut or len(chosen) > limit
    out.threads = list(await asyncio.gather(*(read(x) for x in chosen[:limit])))
    return out


def classify(collected: Collected, kb: KnowledgeBase, overrides, redactor_for) -> list[dict]:
    """One explain report per thread, in listing order (the engine and report of `hfdiag explain`)."""
    from hfdiag.explain import explain_report

    return [explain_report(thread_input(t, kb), kb, overrides, redactor_for()) for t in collected.threads]


def thread_row(report: dict) -> dict:
    detail = next((p.get("detail") or {} for p in report.get("probes") or [] if p.get("probe") == "thread"), {})
    v = report["verdict"]
    return {"number": detail.get("number"), "title": detail.get("title") or "", "url": detail.get("url") or "",
            "status": detail.get("status"), "created_at": detail.get("created_at"), "bucket": v["bucket"],
            "confidence": v["confidence"], "knowledge": v.get("knowledge"), "rule": v.get("rule")}


def reply_draft(report: dict) -> str | None:
    """Next steps and references of the winning finding, ready to paste; only for an explained finding."""
    from hfdiag.render.markdown import md_inline

    v = report["verdict"]
    if v.get("knowledge") != "explained" or not v.get("rule"):
        return None
    win = next((f for f in report["findings"] if f["id"] == v["rule"] and f["status"] == "match"), None)
    if win is None:
        return None
    lines = [f"This looks like **{v['bucket']}**: {md_inline(win['title'])} (hfdiag rule `{win['id']}`, "
             f"{v['confidence']} confidence).", ""]
    if win.get("next_steps"):
        lines += ["What to do:", ""] + [f"- {md_inline(s)}" for s in win["next_steps"]] + [""]
    if win.get("references"):
        lines += ["References:", ""] + [f"- [{md_inline(r.get('title') or r['url'])}]({r['url']})"
                                        for r in win["references"] if isinstance(r, dict) and r.get("url")]
    return "\n".join(lines).rstrip() + "\n"


def group(reports: list[dict]) -> list[dict]:
    """Buckets with their threads, counts, confidence spread and one reply draft per explained rule."""
    groups: dict[str, dict] = {}
    for report in reports:
        row = thread_row(report)
        g = groups.setdefault(row["bucket"], {"bucket": row["bucket"], "count": 0, "confidence": Counter(),
                                              "knowledge": Counter(), "threads": [], "replies": {}})
        g["count"] += 1
        g["confidence"][row["confidence"]] += 1
        if row["knowledge"]:
            g["knowledge"][row["knowledge"]] += 1
        g["threads"].append(row)
        draft = reply_draft(report)
        if draft and row["rule"] not in g["replies"]:
            g["replies"][row["rule"]] = draft
    order = {b: i for i, b in enumerate(_BUCKET_ORDER)}
    return sorted(groups.values(), key=lambda g: (g["bucket"] in ("healthy", "inconclusive"), -g["count"],
                                                  order.get(g["bucket"], 99)))
