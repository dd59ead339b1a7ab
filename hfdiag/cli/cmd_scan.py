"""`hfdiag scan FILE|-`: check a fleet of Spaces (one id per line) under one shared Hub rate limiter."""

from pathlib import Path
from typing import Optional

import typer

from hfdiag.cli.app import app
from hfdiag.cli.options import fail_on_option, markdown_flavor_option, rules_dir_option

SCAN_FORMATS = ("human", "json", "jsonl", "markdown", "github", "prometheus", "openmetrics")


@app.command("scan")
def scan_cmd(
    source: Optional[str] = typer.Argument(None, metavar="FILE", help="File with one Space id per line (blank lines and #comments ignored), or - for stdin."),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="Hub endpoint (default: HF_ENDPOINT, else https://huggingface.co)."),
    token: Optional[str] = typer.Option(None, "--token", help="Hub token (default: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, token file)."),
    fmt: str = typer.Option("human", "--format", "-f", metavar="FORMAT",
                            help="human, jsonl (json: the same), markdown, github, prometheus (text format for the node_exporter "
                                 "textfile collector and the Pushgateway) or openmetrics."),
    markdown_flavor: Optional[str] = markdown_flavor_option(),
    timeout: float = typer.Option(30.0, "--timeout", help="Global deadline per Space, in seconds."),
    fail_on: str = fail_on_option(),
    concurrency: int = typer.Option(8, "--concurrency", help="How many Spaces are checked at once."),
    attempts: int = typer.Option(3, "--attempts", help="Checks per Space when rate limiting damaged the evidence."),
    read_logs: str = typer.Option("problems", "--read-logs", metavar="WHEN",
                                  help="problems: open a Space's logs only where its stage or route shows a problem "
                                       "(a healthy verdict then says so, at low confidence); always: as check does."),
    route_requests: int = typer.Option(2, "--route-requests", help="Requests the route probe sends to each Space."),
    sim: Optional[str] = typer.Option(None, "--sim", help="Run against the embedded simulator with this scenario (e.g. fleet)."),
    dns_server: Optional[str] = typer.Option(None, "--dns-server", help="DNS server HOST[:PORT] instead of the system resolver."),
    status_url: Optional[str] = typer.Option(None, "--status-url", help="Status page JSON (default: the public Hugging Face status page)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file (atomically, for a textfile collector) instead of stdout."),
    rules_dir: Optional[Path] = rules_dir_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary line on stderr."),
) -> int:
    """Check many Spaces with bounded concurrency and one rate limiter that honours the Hub's RateLimit headers."""
    from hfdiag.cli.scan_run import run

    return run(locals())
