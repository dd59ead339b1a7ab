from pathlib import Path
from typing import List, Optional

import typer

from hfdiag.cli.app import app
from hfdiag.cli.options import fail_on_option, format_option, markdown_flavor_option, rules_dir_option, verbose_option


@app.command("egress")
def egress_cmd(
    targets: Optional[List[str]] = typer.Argument(
        None, metavar="TARGET", help="HOST[:PORT] or http(s):// URLs to check, besides huggingface.co:443 and cas-bridge.xethub.hf.co:443."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds allowed for each step (DNS, connect, TLS, HTTP)."),
    dns_server: Optional[str] = typer.Option(None, "--dns-server", help="DNS server HOST[:PORT] instead of the system resolver."),
    no_defaults: bool = typer.Option(False, "--no-defaults", help="Check only the given targets."),
    no_markers: bool = typer.Option(False, "--no-markers", help="Do not print hfdiag-marker lines."),
    fmt: str = format_option(),
    markdown_flavor: Optional[str] = markdown_flavor_option(),
    fail_on: str = fail_on_option(),
    rules_dir: Optional[Path] = rules_dir_option(),
    verbose: bool = verbose_option(),
) -> int:
    """Run inside a Space: DNS, TCP, TLS and an HTTP answer for each target, with hfdiag-marker lines for the run log."""
    import asyncio
    import sys
    import time

    from hfdiag import __version__
    from hfdiag.cli.emit import emit
    from hfdiag.cli.validate import check_dns_server, output_settings
    from hfdiag.egress import DEFAULT_TARGETS, check_all, facts_from_results, in_space, marker_line, parse_target
    from hfdiag.engine.knowledge import load_knowledge
    from hfdiag.engine.verdict import diagnose
    from hfdiag.environment import Environment
    from hfdiag.errors import UsageError
    from hfdiag.evidence.model import FactSet, ProbeResult
    from hfdiag.outcome import exit_status
    from hfdiag.redact import Redactor
    from hfdiag.report import build_report

    threshold = output_settings(fmt, markdown_flavor, fail_on)
    if timeout <= 0:
        raise UsageError("--timeout must be positive")
    check_dns_server(dns_server)
    specs = ([] if no_defaults else list(DEFAULT_TARGETS)) + list(targets or [])
    if not specs:
        raise UsageError("no target: name HOST[:PORT] targets or drop --no-defaults")
    parsed = []
    for spec in specs:
        try:
            t = parse_target(spec)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if t not in parsed:
            parsed.append(t)
    env = Environment()
    kb = load_knowledge(rules_dir)
    inside = in_space(env.environ)
    start = time.monotonic()
    results = asyncio.run(check_all(parsed, dns_server=dns_server, timeout=timeout,
                                    user_agent=f"hfdiag/{__version__} (egress)"))
    if not no_markers:
        # The Space run log captures stdout and stderr; with --format json stdout stays one JSON document.
        stream = sys.stderr if fmt == "json" else sys.stdout
        for r in results:
            stream.write(marker_line(r) + "\n")
        stream.flush()
    probe = ProbeResult("egress", duration_ms=(time.monotonic() - start) * 1000)
    for key, value in facts_from_results(results, inside).items():
        probe.fact(key, value)
    probe.detail = {"in_space": inside, "dns_server": dns_server, "timeout_s": timeout,
                    "port_policy": "only 80, 443 and 8080 leave a Space",
                    "targets": [r.to_dict() for r in results]}
    probe.excerpts = [f"{r.target.label}: {r.error_step} failed: {r.error}" for r in results if r.error]
    if any(not r.ok for r in results):
        probe.status = "error"
        probe.error = "; ".join(f"{r.target.label}: {r.error or 'failed'}" for r in results if not r.ok)[:500]
    facts = FactSet()
    facts.update(probe.facts)
    diagnosis = diagnose(kb, facts)
    report = build_report(diagnosis, mode="egress", target=", ".join(t.label for t in parsed), redactor=Redactor(),
                          probes=[probe])
    emit(report, env, fmt, markdown_flavor=markdown_flavor, verbose=verbose)
    return int(exit_status(report, threshold))
