"""Markdown ready to paste into a forum thread (Discourse `[details=…]`) or a GitHub issue (`<details>`)."""

from __future__ import annotations

import platform

from hfdiag.environment import Environment
from hfdiag.redact import Redactor
from hfdiag.render.text import chain_line, fact_value, matched, needs_lines, observed_facts, inferred_facts
from hfdiag.report import first_sentence


def _fold(title: str, body: str, flavor: str) -> str:
    if flavor == "discourse":
        return f'[details="{title}"]\n{body}\n[/details]'
    return f"<details><summary>{title}</summary>\n\n{body}\n\n</details>"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict, flavor: str = "github") -> str:
    v = report["verdict"]
    target = f" `{report['target']}`" if report.get("target") else ""
    out = [f"**hfdiag{target}: {first_sentence(report)}**", ""]
    if v["bucket"] != "inconclusive":
        out += [v["summary"], ""]
    elif v.get("needs"):
        out += ["Would decide it: " + "; ".join(needs_lines(report)), ""]
    if report["chains"]:
        out += ["| chain | hops | evidence stops at |", "|---|---|---|"]
        for c in report["chains"]:
            out.append(f"| {c['title']} | {_cell(chain_line(c))} | {c['first_without'] or 'complete'} |")
        out.append("")
    rows = [("observed", f["key"], fact_value(f["value"]), f["source"]) for f in observed_facts(report)[:30]]
    rows += [("inferred", f["key"], fact_value(f["value"]), f["source"]) for f in inferred_facts(report)]
    rows += [("interpretation", f["id"], f["because"], f"{f['bucket']}, {f['knowledge']}") for f in matched(report)]
    if rows:
        out += ["| kind | what | value | from |", "|---|---|---|---|"]
        out += [f"| {k} | `{_cell(a)}` | {_cell(b)} | {_cell(c)} |" for k, a, b, c in rows]
        out.append("")
    steps = [s for f in matched(report)[:1] for s in f["next_steps"]]
    if steps:
        out += ["**Next steps**", ""] + [f"- {s}" for s in steps] + [""]
    refs = [r for f in matched(report)[:2] for r in f["references"]]
    if refs:
        out += ["**References**", ""] + [f"- [{r.get('title', r['url'])}]({r['url']})" for r in refs] + [""]
    details = []
    for f in matched(report):
        details.append(f"- `{f['id']}` ({f['bucket']}, {f['severity']}, {f['confidence']}): {f['title']}")
    for p in report.get("probes") or []:
        err = f" — {p['error']}" if p.get("error") else ""
        details.append(f"- probe `{p['probe']}`: {p['status']} in {p['duration_ms']:.0f} ms{err}")
        for line in p.get("excerpts", [])[-8:]:
            details.append(f"    {line}")
    if details:
        out += [_fold("Details", "\n".join(details), flavor), ""]
    out.append(
        f"<sub>hfdiag {report['tool']['version']} · Python {platform.python_version()} · "
        f"{report['redaction']['summary']}</sub>"
    )
    return Redactor().text("\n".join(out)) + "\n"


def render(report: dict, env: Environment, markdown_flavor: str = "github", **_) -> None:
    env.stdout.write(to_markdown(report, markdown_flavor))
    env.stdout.flush()
