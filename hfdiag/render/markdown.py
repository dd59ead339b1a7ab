"""Markdown ready to paste into a forum thread (Discourse `[details=…]`) or a GitHub issue (`<details>`).

Layout (the order a helper reads in):
1. one line: the verdict (bold), the target;
2. the evidence chains, as a table (where the evidence stops);
3. observed facts vs interpretation, one table, kinds apart;
4. next steps and references of the winning finding;
5. folded details: every finding, every probe with excerpts (in a code block);
6. versions of hfdiag, Python, the platform and the Hub libraries (metadata only, never imported);
7. one line saying what was redacted.
Text from the outside world (log lines, error messages, values in a rule's text) is escaped (render/sanitize.py)
so that it cannot close the folding, start HTML, render a link, an image or emphasis, or break a table.
"""

from __future__ import annotations

import re

from hfdiag.environment import Environment
from hfdiag.redact import redact_output
from hfdiag.render.sanitize import code_text, md_code, md_text
from hfdiag.render.text import (
    chain_line,
    cue_lines,
    fact_value,
    inferred_facts,
    matched,
    needs_lines,
    observed_facts,
    raise_lines,
)
from hfdiag.report import first_sentence

MAX_FACT_ROWS = 30


def md_cell(text) -> str:
    """Safe in a table cell: one line, no pipe, no Markdown or HTML from the text."""
    return md_text(str(text).replace("\r", " ").replace("\n", " "))


def md_inline(text) -> str:
    """Safe in running text: no Markdown, HTML or folding marker from the text."""
    return md_text(text)


def md_own(text) -> str:
    """The project's own text (rule titles, reference titles): its Markdown stays, HTML and folding do not."""
    return code_text(str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def code_block(lines: list[str]) -> str:
    body = code_text("\n".join(line.rstrip() for line in lines))  # no trailing blanks
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def fold(title: str, body: str, flavor: str) -> str:
    if flavor == "discourse":
        return f'[details="{title.replace(chr(34), chr(39))}"]\n{body}\n[/details]'
    return f"<details><summary>{md_inline(title)}</summary>\n\n{body}\n\n</details>"


_fold = fold  # backwards compatible name
_cell = md_cell


def _chains(report: dict) -> list[str]:
    if not report["chains"]:
        return []
    out = ["| chain | hops (✔ seen, ✘ missing, ? unknown) | evidence stops at |", "|---|---|---|"]
    for c in report["chains"]:
        out.append(f"| {md_cell(c['title'])} | {md_cell(chain_line(c))} | {md_cell(c['first_without'] or 'complete')} |")
    return out + [""]


def _facts_table(report: dict) -> list[str]:
    obs = observed_facts(report)
    rows = [("observed", f["key"], fact_value(f["value"]), f["source"]) for f in obs[:MAX_FACT_ROWS]]
    rows += [("inferred", f["key"], fact_value(f["value"]), f["source"]) for f in inferred_facts(report)]
    rows += [("**interpretation**", f["id"], f["because"], f"{f['bucket']}, {f['knowledge']}, {f['confidence']}")
             for f in matched(report)]
    if not rows:
        return []
    out = ["| kind | fact / finding | value / because | from |", "|---|---|---|---|"]
    out += [f"| {k} | {md_code(a, in_table=True)} | {md_cell(b)} | {md_cell(c)} |" for k, a, b, c in rows]
    if len(obs) > MAX_FACT_ROWS:
        out.append(f"| … | {len(obs) - MAX_FACT_ROWS} more observed facts | in `--format json` | |")
    return out + [""]


def _details(report: dict) -> list[str]:
    out = []
    for f in report["findings"]:
        if f["status"] == "match":
            loc = "".join(f" ({md_inline(x['file'])}{':' + str(x['line']) if x.get('line') else ''})"
                          for x in (f.get("locations") or [])[:3])
            out.append(f"- `{f['id']}` ({f['bucket']}, {f['severity']}, {f['confidence']}): {md_own(f['title'])}{loc}")
        elif f["status"] == "inconclusive":
            missing = ", ".join(f["missing_facts"][:4])
            out.append(f"- undecided `{f['id']}` ({f['bucket']}): would need {md_inline(missing)}")
    for p in report.get("probes") or []:
        err = f" — {md_inline(p['error'])}" if p.get("error") else ""
        out.append(f"- probe `{p['probe']}`: {p['status']} in {p['duration_ms']:.0f} ms{err}")
        if p.get("excerpts"):
            out += ["", code_block(p["excerpts"][-8:]), ""]
    for i in report.get("inputs") or []:
        out.append(f"- input {md_code(i['name'])}: {i['chars']} characters{' (truncated)' if i['truncated'] else ''}")
    return out


def to_markdown(report: dict, flavor: str = "github") -> str:
    from hfdiag.envinfo import versions_line

    v = report["verdict"]
    target = f" {md_code(report['target'])}" if report.get("target") else ""
    mode = report.get("mode", "check")
    out = [f"**hfdiag {mode}{target}: {md_inline(first_sentence(report))}**", ""]
    if v["bucket"] not in ("inconclusive", "healthy"):
        out += [md_inline(v["summary"]), ""]
    elif v["bucket"] == "inconclusive" and v.get("needs"):
        out += ["Would decide it: " + md_inline("; ".join(needs_lines(report))), ""]
    out += _chains(report)
    out += _facts_table(report)
    win = matched(report)[:1]
    steps = [s for f in win for s in f["next_steps"]]
    if steps:
        out += ["**Next steps**", ""] + [f"- {md_inline(s)}" for s in steps] + [""]
    raisers = raise_lines(report)
    if raisers:
        title = "Would decide it" if v["bucket"] == "inconclusive" else "Would make it firmer"
        out += [f"**{title}**", ""] + [f"- {md_inline(s)}" for s in raisers] + [""]
    cues = cue_lines(report)
    if cues:
        out += ["**Text cues** (words seen in the input; the boundary they point to is interpreted)", ""]
        out += [f"- {md_inline(c)}" for c in cues] + [""]
    refs = [r for f in matched(report)[:2] for r in f["references"]]
    if refs:
        out += ["**References**", ""] + [f"- [{md_own(r.get('title', r['url']))}]({r['url']})" for r in refs] + [""]
    details = _details(report)
    if details:
        out += [fold("Details: findings and probes", "\n".join(details), flavor), ""]
    out.append(f"<sub>{md_own(versions_line())}</sub>")
    red = report["redaction"]["summary"]
    out.append("")
    out.append(f"<sub>Redaction: {md_own(red)} (tokens, JWTs, Authorization/cookie values, signed-URL query "
               f"strings and e-mail addresses are always removed).</sub>")
    return redact_output("\n".join(out), report) + "\n"


def render(report: dict, env: Environment, markdown_flavor: str = "github", **_) -> None:
    env.stdout.write(to_markdown(report, markdown_flavor or "github"))
    env.stdout.flush()
