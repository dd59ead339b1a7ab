"""Renderers for `hfdiag triage`: a table grouped by bucket (human), the same with reply drafts ready to paste
(markdown, GitHub or Discourse folding), and JSON Lines (one explain report per thread, plus its draft).
Titles and everything else from a thread are hostile: escaped for the sink, and redacted once more at the end."""

from __future__ import annotations

from hfdiag.environment import Environment
from hfdiag.redact import Redactor
from hfdiag.render.markdown import fold, md_cell, md_inline

TITLE_CHARS = 60


def plain(text) -> str:
    """Safe on a terminal: control characters (escape sequences, carriage returns) become spaces."""
    return "".join(c if c.isprintable() else " " for c in str(text))


def cell(text) -> str:
    """A table cell that cannot close a Discourse fold either."""
    return md_cell(text).replace("[/details]", "[/ details]")


def _spread(g: dict) -> str:
    c = g["confidence"]
    return f"{c.get('high', 0)}/{c.get('medium', 0)}/{c.get('low', 0)}"


def _knowledge(g: dict) -> str:
    return ", ".join(f"{k} {n}" for k, n in g["knowledge"].most_common()) or "—"


def headline(meta: dict, groups: list[dict]) -> str:
    n = sum(g["count"] for g in groups)
    kind = "issues" if meta["target"].startswith("github:") else "discussions"
    scope = "" if meta.get("all") else "open "
    since = f" since {meta['since']}" if meta.get("since") else ""
    cut = f" (first {n} of {meta['listed']})" if meta.get("truncated") else ""
    explained = sum(g["count"] for g in groups if g["bucket"] not in ("inconclusive", "healthy"))
    return (f"hfdiag triage {meta['target']}: {n} {scope}{kind}{since}{cut}, {explained} classified, "
            f"{n - explained} inconclusive")


def to_human(meta: dict, groups: list[dict], width: int = 100) -> str:
    out = [plain(headline(meta, groups)), "",
           f"{'bucket':<20}{'count':>6}  {'high/med/low':<13} knowledge"]
    for g in groups:
        out.append(f"{g['bucket']:<20}{g['count']:>6}  {_spread(g):<13} {_knowledge(g)}")
    for g in groups:
        out += ["", f"{g['bucket']} ({g['count']})"]
        for t in g["threads"]:
            title = plain(t["title"])[:TITLE_CHARS]
            out.append(f"  #{t['number'] or '?':<5} {title:<{TITLE_CHARS}} {t['confidence']:<7}{t['rule'] or '—'}"[:max(60, width)])
    drafts = sum(len(g["replies"]) for g in groups)
    if drafts:
        out += ["", f"{drafts} reply drafts for explained findings: --format markdown"]
    return Redactor().text("\n".join(out)) + "\n"


def to_markdown(meta: dict, groups: list[dict], flavor: str = "github") -> str:
    out = [f"**{md_inline(headline(meta, groups))}**", "",
           "| bucket | threads | confidence high/medium/low | knowledge |", "|---|---|---|---|"]
    out += [f"| {g['bucket']} | {g['count']} | {_spread(g)} | {md_cell(_knowledge(g))} |" for g in groups]
    for g in groups:
        out += ["", f"### {g['bucket']} ({g['count']})", "", "| # | title | confidence | rule |", "|---|---|---|---|"]
        for t in g["threads"]:
            url = t["url"].replace("(", "%28").replace(")", "%29").replace(" ", "%20")
            link = f"[#{t['number']}]({cell(url)})" if url.startswith(("https://", "http://")) else f"#{t['number']}"
            out.append(f"| {link} | {cell(t['title'])} | {t['confidence']} | {cell(t['rule'] or '—')} |")
        for rule, draft in g["replies"].items():
            out += ["", fold(f"Reply draft: {g['bucket']} ({rule})", draft.rstrip(), flavor)]
    return Redactor().text("\n".join(out)) + "\n"


def render(meta: dict, groups: list[dict], reports: list[dict], env: Environment, fmt: str,
           markdown_flavor: str = "github") -> None:
    if fmt == "json":
        from hfdiag.render.json_out import dumps
        from hfdiag.triage import reply_draft

        for report in reports:
            line = {**report, "triage": {"target": meta["target"], "reply": reply_draft(report)}}
            env.stdout.write(dumps(Redactor().obj(line), lines=True) + "\n")
    elif fmt == "markdown":
        env.stdout.write(to_markdown(meta, groups, markdown_flavor))
    else:
        env.stdout.write(to_human(meta, groups, env.width or 100))
    env.stdout.flush()
