"""Human report (rich): the verdict first in one sentence, then the chains, observed facts apart from the
interpretation, next steps and references."""

from __future__ import annotations

import io

from hfdiag.environment import Environment
from hfdiag.redact import redact_output
from hfdiag.render.sanitize import visible
from hfdiag.render.text import (
    chain_line,
    fact_value,
    grouped_facts,
    inferred_facts,
    matched,
    near_misses,
    needs_lines,
    observed_facts,
)
from hfdiag.report import first_sentence

_BUCKET_STYLE = {"healthy": "bold green", "inconclusive": "bold yellow"}


def render(report: dict, env: Environment, verbose: bool = False, **_) -> None:
    import shutil

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    def line(*parts) -> Text:
        """Text from parts: a plain str is data (shown as written, controls escaped, never markup), a tuple is
        (str, style)."""
        out = Text()
        for part in parts:
            text, style = part if isinstance(part, tuple) else (part, "")
            out.append(visible(text), style=style)
        return out

    buf = io.StringIO()
    width = env.width or shutil.get_terminal_size((100, 24)).columns  # honours COLUMNS when piped
    console = Console(
        file=buf, force_terminal=env.colour, no_color=not env.colour, width=max(60, min(width, 160)),
        highlight=False, soft_wrap=False, emoji=False, markup=False,
    )
    v = report["verdict"]
    style = _BUCKET_STYLE.get(v["bucket"], "bold red")
    target = f" {report['target']}" if report.get("target") else ""
    console.print(line(("Verdict" + visible(target) + ": " + visible(first_sentence(report)), style)))
    if v["bucket"] not in ("inconclusive",):
        console.print(line(v["summary"]))
    if v["bucket"] == "inconclusive" and v.get("needs"):
        console.print(line(("Would decide it:", "bold"), " ", "; ".join(needs_lines(report))))

    if report["chains"]:
        console.print(line("\n", ("Evidence chains", "bold"), " (+ seen, x missing, ? unknown)" if not env.colour else ""))
        chains = Table(show_header=False, box=None, padding=(0, 1))
        chains.add_column(no_wrap=True)
        chains.add_column(overflow="fold")
        chains.add_column(no_wrap=True)
        for c in report["chains"]:
            stop = f"stops at {c['first_without']}" if c["first_without"] else "complete"
            chains.add_row(line(c["title"]), line(chain_line(c, ascii_only=not env.colour)), line(stop))
        console.print(chains)

    obs = observed_facts(report)
    if obs:
        console.print(line("\n", ("Observed", "bold"), " (what the probes and inputs showed)"))
        if verbose:
            table = Table(show_header=False, box=None, padding=(0, 2))
            for f in obs:
                table.add_row(line(f["key"]), line(fact_value(f["value"])), line(f["source"]))
            console.print(table)
        else:
            table = Table(show_header=False, box=None, padding=(0, 1))
            table.add_column(style="bold", no_wrap=True)
            table.add_column(overflow="fold")
            for family, text in grouped_facts(obs):
                table.add_row(line(family), line(text))
            console.print(table)
    inf = inferred_facts(report)
    if inf:
        console.print(line("\n", ("Inferred", "bold")))
        for f in inf:
            console.print(line("  ", f["key"], " = ", fact_value(f["value"])))

    findings = matched(report)
    if findings:
        console.print(line("\n", ("Interpretation", "bold"), " (rules that matched, winner first)"))
        for f in findings:
            console.print(line("  ", (f["id"], "bold"), f" [{f['bucket']}, {f['knowledge']}] ", f["title"]))
            console.print(line("    ", f["because"]))
    near = near_misses(report)
    if near and (verbose or v["bucket"] == "inconclusive"):
        console.print(line("\n", ("Undecided", "bold"), " (rules with some evidence and missing facts)"))
        for f in near[:6]:
            console.print(line(f"  {f['id']} [{f['bucket']}] missing: ", ", ".join(f["missing_facts"])))

    steps = []
    for f in findings[:1] or near[:1]:
        steps += f["next_steps"]
    if steps:
        console.print(line("\n", ("Next steps", "bold")))
        for s in steps:
            console.print(line("  - ", s))
    refs = [r for f in findings[:2] for r in f["references"]]
    if refs:
        console.print(line("\n", ("References", "bold")))
        for r in refs:
            console.print(line("  - ", r.get("title", r["url"]), ": ", r["url"]))

    probes = report.get("probes") or []
    if probes:
        console.print(line("\n", ("Probes", "bold")))
        for p in probes:
            err = f"  {p['error']}" if p.get("error") else ""
            console.print(line(f"  {p['probe']:<10} {p['status']:<8} {p['duration_ms']:>8.0f} ms", err))
    console.print(line("\n", (visible(report["redaction"]["summary"]), "dim")))
    text = redact_output(buf.getvalue(), report)
    env.stdout.write(text)
    env.stdout.flush()
