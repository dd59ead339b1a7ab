from pathlib import Path
from typing import List, Optional

import typer

from hfdiag.cli.app import app
from hfdiag.cli.options import fail_on_option, format_option, markdown_flavor_option, rules_dir_option, verbose_option


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


@app.command("explain")
def explain_cmd(
    inputs: Optional[List[str]] = typer.Argument(
        None, metavar="FILE|URL",
        help="Files (text, logs or evidence bundles), - for stdin, or the URL of a Hub discussion, a Discourse "
             "topic or a GitHub issue."),
    fact: Optional[List[str]] = typer.Option(
        None, "--fact", metavar="KEY=VALUE",
        help="A fact that overrides what the text says (keys: rules/facts.yaml, e.g. space.stage=RUNTIME_ERROR)."),
    fmt: str = format_option(),
    markdown_flavor: Optional[str] = markdown_flavor_option(),
    fail_on: str = fail_on_option(),
    rules_dir: Optional[Path] = rules_dir_option(),
    verbose: bool = verbose_option(),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="Hub endpoint for discussion URLs (default: HF_ENDPOINT, else https://huggingface.co)."),
    token: Optional[str] = typer.Option(None, "--token", help="Hub token for discussion URLs (default: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, token file); GitHub issues use GITHUB_TOKEN."),
) -> int:
    """Classify pasted text, a log file, a saved evidence bundle, or a thread by URL (Hub discussion, Discourse
    topic, GitHub issue: the first post is the report, a maintainer's reply counts as evidence, other replies
    are context). Several inputs give JSON Lines."""
    from hfdiag.cli.emit import emit
    from hfdiag.cli.validate import output_settings
    from hfdiag.engine.knowledge import load_knowledge
    from hfdiag.environment import Environment
    from hfdiag.explain import explain_report, parse_fact_args, read_input
    from hfdiag.outcome import combined, exit_status
    from hfdiag.redact import Redactor
    from hfdiag.threads.urls import looks_like_url

    threshold = output_settings(fmt, markdown_flavor, fail_on)
    env = Environment()
    kb = load_knowledge(rules_dir)
    overrides = parse_fact_args(fact or [], kb)
    names = list(inputs or ["-"])
    if names.count("-") > 1:
        from hfdiag.errors import UsageError

        raise UsageError("stdin (-) can be read only once")
    if "-" in names and _is_tty(env.stdin):
        # a bare `hfdiag explain` in a terminal would otherwise sit there waiting, saying nothing
        env.message("hfdiag: reading the text to classify from the terminal: paste it, then press Ctrl-D on an "
                    "empty line (or name a FILE: hfdiag explain build.log)")
    urls = [n for n in names if looks_like_url(n)]
    secrets: list[str] = []
    threads = {}
    if urls:
        from hfdiag.threads.classify import read_thread_inputs, services_for

        services = services_for(endpoint, token, env.environ)
        secrets = services.secrets()
        threads = read_thread_inputs(urls, kb, services)
    statuses = []
    for name in names:
        inp = threads[name] if name in threads else read_input(name, kb, env.stdin)
        report = explain_report(inp, kb, overrides, Redactor(secrets))
        emit(report, env, fmt, markdown_flavor=markdown_flavor, verbose=verbose, lines=len(names) > 1)
        statuses.append(exit_status(report, threshold))
    return int(combined(statuses))
