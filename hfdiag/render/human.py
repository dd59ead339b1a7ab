"""Human report (rich): the verdict first in one sentence, then the chains, observed facts apart from the
interpretation, next steps and references."""

from __future__ import annotations

import io

from hfdiag.environment import Environment
from hfdiag.redact import redact_output
from hfdiag.render.sanitize import visible
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


def _indented(console, text, indent: int) -> None:
    """A paragraph (str or rich Text) whose wrapped lines keep the indent of its first line."""
    from rich.padding import Padding
    from rich.text import Text

    console.print(Padding(text if isinstance(text, Text) else Text(visible(text)), (0, 0, 0, indent)))


def _bullets(console, items: list[str], indent: int = 2) -> None:
    """`  - item` lines; a wrapped item continues under its text, not at column 0."""
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for item in items:
        table.add_row(" " * indent + "-", Text(visible(item)))
    console.print(table)


def _unique_references(findings: list[dict]) -> list[dict]:
    seen: set[str] = set()
    out = []
    for f in findings:
        for r in f["references"]:
            if r["url"] not in seen:
                seen.add(r["url"])
                out.append(r)
    return out


def render(report: dict, env: Environment, verbose: bool = False, **_) -> None:
    import shutil

    from rich.console import Console
    from rich.markup import escape as markup_escape
    from rich.table import Table
    from rich.text import Text

    def escape(data) -> str:
        """Data inside markup: every control character shown as an escape, then rich's markup escaped."""
        return markup_escape(visible(data))

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
            _indented(console, Text.assemble((visible(f["id"]), "bold"),
                                              visible(f" [{f['bucket']}, {f['knowledge']}] {f['title']}")), 2)
            _indented(console, f["because"], 4)
    cues = cue_lines(report)
    if cues:
        console.print("\n[bold]Text cues[/] (words seen in the input; the boundary they point to is interpreted)")
        for line in cues:
            _indented(console, line, 2)
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
        _bullets(console, steps)
    raisers = raise_lines(report)
    if raisers:
        title = "Would decide it" if v["bucket"] == "inconclusive" else "Would make it firmer"
        console.print(f"\n[bold]{title}[/]")
        _bullets(console, raisers)
    refs = _unique_references(findings[:2])
    if refs:
        console.print("\n[bold]References[/]")
        _bullets(console, [f"{r.get('title', r['url'])}: {r['url']}" for r in refs])

    probes = report.get("probes") or []
    if probes:
        console.print("\n[bold]Probes[/]")
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, justify="right")
        table.add_column(overflow="fold")
        for p in probes:
            table.add_row(Text(visible(f"  {p['probe']}")), Text(visible(p["status"])), f"{p['duration_ms']:.0f} ms",
                          Text(visible(p.get("error") or "")))
        console.print(table)
    console.print(f"\n[dim]{escape(report['redaction']['summary'])}[/]")
    # rich pads table cells and padded paragraphs to the width: no trailing blanks in a file or a forum paste
    text = redact_output("\n".join(line.rstrip(" ") for line in buf.getvalue().split("\n")), report)
    env.stdout.write(text)
    env.stdout.flush()
