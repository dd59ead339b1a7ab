"""`hfdiag triage OWNER/NAME | github:OWNER/REPO`: classify a Space's discussions or a repo's issues."""

from pathlib import Path
from typing import Optional

import typer

from hfdiag.cli.app import app
from hfdiag.cli.options import fail_on_option, markdown_flavor_option, rules_dir_option

TRIAGE_FORMATS = ("human", "json", "markdown")


@app.command("triage")
def triage_cmd(
    target: str = typer.Argument(..., help="A Space (OWNER/NAME: its Community tab) or github:OWNER/REPO (its issues)."),
    all_threads: bool = typer.Option(False, "--all", help="Closed threads too (default: open ones only)."),
    since: Optional[str] = typer.Option(None, "--since", help="Only threads created since a date (2026-11-01), a date-time, or an age (7d, 12h)."),
    limit: int = typer.Option(200, "--limit", help="Classify at most this many threads (newest first, as listed)."),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="Hub endpoint (default: HF_ENDPOINT, else https://huggingface.co)."),
    token: Optional[str] = typer.Option(None, "--token", help="Hub token (default: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, token file); GitHub uses GITHUB_TOKEN and GITHUB_API_URL."),
    fmt: str = typer.Option("human", "--format", "-f", metavar="FORMAT",
                            help="human (table grouped by bucket), markdown (with reply drafts to paste) or json (JSON Lines, one report per thread)."),
    markdown_flavor: str = markdown_flavor_option(),
    fail_on: str = fail_on_option(),
    rules_dir: Optional[Path] = rules_dir_option(),
) -> int:
    """Classify every open discussion of a Space (or issue of a GitHub repo) and group them by bucket, with a
    reply draft for each explained finding. Reads only; writes nothing to any service."""
    import asyncio

    from hfdiag.cli.validate import output_settings
    from hfdiag.engine.knowledge import load_knowledge
    from hfdiag.environment import Environment
    from hfdiag.errors import UsageError
    from hfdiag.outcome import combined, exit_status
    from hfdiag.redact import Redactor
    from hfdiag.render.triage import render
    from hfdiag.threads.classify import services_for
    from hfdiag.triage import MAX_THREADS, classify, collect, group, parse_since, parse_target

    threshold = output_settings(fmt, markdown_flavor, fail_on, TRIAGE_FORMATS)
    if not 1 <= limit <= MAX_THREADS:
        raise UsageError(f"--limit must be between 1 and {MAX_THREADS}")
    where = parse_target(target)
    after = parse_since(since)
    env = Environment()
    kb = load_knowledge(rules_dir)
    services = services_for(endpoint, token, env.environ)

    async def fetch():
        try:
            return await collect(where, services, include_closed=all_threads, since=after, limit=limit)
        finally:
            await services.aclose()

    collected = asyncio.run(fetch())
    reports = classify(collected, kb, [], lambda: Redactor(services.secrets()))
    meta = {"target": where.label, "all": all_threads, "since": since, "listed": collected.listed,
            "truncated": collected.truncated}
    render(meta, group(reports), reports, env, fmt, markdown_flavor)
    return int(combined([exit_status(r, threshold) for r in reports]))
