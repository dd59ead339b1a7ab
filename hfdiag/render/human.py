"""Human report (rich): the verdict first in one sentence, then the chains, observed facts apart from the
interpretation, next steps and references."""

from __future__ import annotations

import io

from hfdiag.environment import Environment
from hfdiag.redact import Redactor
from hfdiag.render.text import (
    chain_line,
    cue_lines,
    fact_value,
    grouped_facts,
    inferred_facts,
    matched,
    near_misses,
    needs_lines,
    observed_facts,
    raise_lines,
)
from hfdiag.report import first_sentence

_BUCKET_STYLE = {"healthy": "bold green", "inconclusive": "bold yellow"}


def render(report: dict, env: Environment, verbose: bool = False, **_) -> None:
    import shutil

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    buf = io.StringIO()
    width = env.width or shutil.get_terminal_size((100, 24)).columns  # honours COLUMNS when piped
    console = Console(
        file=buf, force_terminal=env.colour, no_color=not env.colour, width=max(60, min(width, 160)),
        highlight=False, soft_wrap=False, emoji=False,
    )
    v = report["verdict"]
    style = _BUCKET_STYLE.get(v["bucket"], "bold red")
    target = f" {report['target']}" if report.get("target") else ""
    console.print(f"[{style}]Verdict{escape(target)}: {escape(first_sentence(report))}[/]")
    if v["bucket"] not in ("inconclusive",):
        console.print(escape(v["summary"]))
    if v["bucket"] == "inconclusive" and v.get("needs"):
        console.print("[bold]Would decide it:[/] " + escape("; ".join(needs_lines(report))))

    if report["chains"]:
        console.print("\n[bold]Evidence chains[/] (+ seen, x missing, ? unknown)" if not env.colour
                      else "\n[bold]Evidence chains[/]")
        chains = Table(show_header=False, box=None, padding=(0, 1))
        chains.add_column(no_wrap=True)
        chains.add_column(overflow="fold")
        chains.add_column(no_wrap=True)
        for c in report["chains"]:
            stop = f"stops at {c['first_without']}" if c["first_without"] else "complete"
            chains.add_row(escape(c["title"]), escape(chain_line(c, ascii_only=not env.colour)), stop)
        console.print(chains)

    cover = report.get("coverage") or []
    if cover:
        console.print("\n[bold]Exercised / not exercised[/]")
        for row in cover:
            mark = "+" if row["exercised"] else "-"
            console.print(f"  {mark} {escape(row['chain']):<9} {escape(row['detail'])}")

    obs = observed_facts(report)
    if obs:
        console.print("\n[bold]Observed[/] (what the probes and inputs showed)")
        if verbose:
            table = Table(show_header=False, box=None, padding=(0, 2))
            for f in obs:
                table.add_row(escape(f["key"]), escape(fact_value(f["value"])), escape(f["source"]))
            console.print(table)
        else:
            table = Table(show_header=False, box=None, padding=(0, 1))
            table.add_column(style="bold", no_wrap=True)
            table.add_column(overflow="fold")
            for family, text in grouped_facts(obs):
                table.add_row(escape(family), escape(text))
            console.print(table)
    inf = inferred_facts(report)
    if inf:
        console.print("\n[bold]Inferred[/]")
        for f in inf:
            console.print(f"  {escape(f['key'])} = {escape(fact_value(f['value']))}")

    findings = matched(report)
    if findings:
        console.print("\n[bold]Interpretation[/] (rules that matched, winner first)")
        for f in findings:
            tag = escape("[" + f["bucket"] + ", " + f["knowledge"] + "]")
            console.print(f"  [bold]{f['id']}[/] {tag} {escape(f['title'])}")
            console.print(f"    {escape(f['because'])}")
    cues = cue_lines(report)
    if cues:
        console.print("\n[bold]Text cues[/] (words seen in the input; the boundary they point to is interpreted)")
        for line in cues:
            console.print(f"  {escape(line)}")
    near = near_misses(report)
    if near and (verbose or v["bucket"] == "inconclusive"):
        console.print("\n[bold]Undecided[/] (rules with some evidence and missing facts)")
        for f in near[:6]:
            tag = escape("[" + f["bucket"] + "]")
            console.print(f"  {f['id']} {tag} missing: {escape(', '.join(f['missing_facts']))}")

    steps = []
    for f in findings[:1] or near[:1]:
        steps += f["next_steps"]
    if steps:
        console.print("\n[bold]Next steps[/]")
        for s in steps:
            console.print(f"  - {escape(s)}")
    raisers = raise_lines(report)
    if raisers:
        title = "Would decide it" if v["bucket"] == "inconclusive" else "Would make it firmer"
        console.print(f"\n[bold]{title}[/]")
        for s in raisers:
            console.print(f"  - {escape(s)}")
    refs = [r for f in findings[:2] for r in f["references"]]
    if refs:
        console.print("\n[bold]References[/]")
        for r in refs:
            console.print(f"  - {escape(r.get('title', r['url']))}: {escape(r['url'])}")

    probes = report.get("probes") or []
    if probes:
        console.print("\n[bold]Probes[/]")
        for p in probes:
            err = f"  {escape(p['error'])}" if p.get("error") else ""
            console.print(f"  {p['probe']:<10} {p['status']:<8} {p['duration_ms']:>8.0f} ms{err}")
    console.print(f"\n[dim]{escape(report['redaction']['summary'])}[/]")
    text = Redactor().text(buf.getvalue())
    env.stdout.write(text)
    env.stdout.flush()
