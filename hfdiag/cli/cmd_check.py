from pathlib import Path
from typing import List, Optional

import typer

from hfdiag.cli.app import app
from hfdiag.cli.options import fail_on_option, format_option, markdown_flavor_option, rules_dir_option, verbose_option


@app.command("check")
def check_cmd(
    spaces: Optional[List[str]] = typer.Argument(None, metavar="SPACE", help="Space ids (owner/name); several are checked concurrently."),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="Hub endpoint (default: HF_ENDPOINT, else https://huggingface.co)."),
    token: Optional[str] = typer.Option(None, "--token", help="Hub token (default: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, token file)."),
    fmt: str = format_option(),
    markdown_flavor: Optional[str] = markdown_flavor_option(),
    timeout: float = typer.Option(30.0, "--timeout", help="Global deadline per Space, in seconds."),
    fail_on: str = fail_on_option(),
    wait: float = typer.Option(0.0, "--wait", help="Poll up to this many seconds while the Space is building or starting."),
    restart: bool = typer.Option(False, "--restart", help="Owner only: restart the Space first (combine with --wait)."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="Write the redacted evidence bundle to this file."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write the JSON report to this file (JSON Lines for several Spaces), whatever --format says."),
    sim: Optional[str] = typer.Option(None, "--sim", help="Run against the embedded simulator with this scenario."),
    sim_as: str = typer.Option("owner", "--sim-as", help="With --sim: call as owner, other (a non-owner token), pro (a PRO non-owner) or anonymous."),
    dns_server: Optional[str] = typer.Option(None, "--dns-server", help="DNS server HOST[:PORT] instead of the system resolver."),
    status_url: Optional[str] = typer.Option(None, "--status-url", help="Status page JSON (default: the public Hugging Face status page)."),
    concurrency: int = typer.Option(4, "--concurrency", help="How many Spaces are checked at once."),
    route_requests: int = typer.Option(4, "--route-requests", help="Requests the route probe sends to the Space origin."),
    zerogpu_call: Optional[str] = typer.Option(None, "--zerogpu-call", help="Opt-in: call this API name once (spends quota)."),
    zerogpu_data: Optional[str] = typer.Option(None, "--zerogpu-data", help="JSON list of inputs for --zerogpu-call."),
    settle_wait: float = typer.Option(0.0, "--settle-wait", help="With --zerogpu-call: re-read the quota after this many seconds."),
    log_wait: float = typer.Option(2.0, "--log-wait", help="Longest wait, in seconds, for a live run-log line (the route request's nonce); logs otherwise end with their replay."),
    transfer_file: Optional[str] = typer.Option(None, "--transfer-file", help="REPO[:PATH] to probe the transfer path with."),
    rules_dir: Optional[Path] = rules_dir_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
    verbose: bool = verbose_option(),
) -> int:
    """Probe Spaces live and name the boundary where the evidence disappears."""
    from hfdiag.cli.check_run import run

    return run(locals())
