"""Renderers for a scan of many Spaces: one line per Space (human), a table (markdown), annotations plus one
job-summary table (github). JSON Lines and OpenMetrics live in json_out.py and openmetrics.py."""

from __future__ import annotations

from collections import Counter

from hfdiag.environment import Environment
from hfdiag.redact import Redactor
from hfdiag.render.github import annotations, append_summary
from hfdiag.render.markdown import md_cell
from hfdiag.render.sanitize import md_code, visible


def human_line(report: dict, width: int = 100) -> str:
    v = report["verdict"]
    where = f" @ {v['first_missing_hop']}" if v.get("first_missing_hop") else ""
    head = f"{report.get('target') or '?':<40} {v['bucket']:<18} {v.get('rule') or '-':<12}"
    tail = f"{v['confidence']}{where}"
    return Redactor().text(visible(f"{head} {tail}", keep_newlines=False))[: max(60, width)]


def counts_line(reports: list[dict]) -> str:
    counts = Counter(r["verdict"]["bucket"] for r in reports)
    return ", ".join(f"{n} {b}" for b, n in counts.most_common())


def markdown_table(reports: list[dict], stats: dict | None = None) -> str:
    out = [f"**hfdiag scan: {len(reports)} Spaces — {counts_line(reports) or 'nothing checked'}**", "",
           "| Space | verdict | rule | confidence | evidence stops at |", "|---|---|---|---|---|"]
    for r in reports:
        v = r["verdict"]
        out.append(f"| {md_code(r.get('target') or '?', in_table=True)} | {v['bucket']} | {md_cell(v.get('rule') or '—')} | "
                   f"{v['confidence']} | {md_cell(v.get('first_missing_hop') or '—')} |")
    if stats:
        rate = stats.get("rate_limit") or {}
        out += ["", f"<sub>{stats['spaces']} Spaces in {stats['wall_s']:.1f} s, concurrency {stats['concurrency']}; "
                    f"Hub 429 answers: {rate.get('throttled', 0)}, re-checked: {stats.get('rechecked', 0)}, "
                    f"Hub calls: {stats.get('hub_calls', 0)} ({stats.get('hub_calls_per_space', 0):.2f} per Space)</sub>"]
    return Redactor().text("\n".join(out)) + "\n"


def render_github(reports: list[dict], env: Environment, stats: dict | None = None) -> None:
    for r in reports:
        if r["verdict"]["bucket"] == "healthy":
            continue  # a fleet of healthy Spaces should not flood the annotations panel
        for line in annotations(r):
            env.stdout.write(line + "\n")
    env.stdout.flush()
    append_summary(env, markdown_table(reports, stats))
