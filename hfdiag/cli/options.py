"""Options shared by several commands (one definition each, so help texts stay consistent)."""

from __future__ import annotations

import typer

FORMAT_HELP = "Output format: human, json, markdown or github (json/markdown/github go to stdout only)."


def format_option(default: str = "human"):
    return typer.Option(default, "--format", "-f", help=FORMAT_HELP, metavar="FORMAT")


def markdown_flavor_option():
    return typer.Option("github", "--markdown-flavor", help="Folding for --format markdown: github or discourse.")


def rules_dir_option():
    return typer.Option(None, "--rules-dir", help="Use rules from this directory instead of the built-in ones.")


def fail_on_option():
    return typer.Option(
        "any", "--fail-on",
        help="Exit 1 when a finding is in these buckets: comma-separated bucket names, 'platform', 'any' or 'none'.",
    )


def check_format(fmt: str, allowed=("human", "json", "markdown", "github")) -> str:
    from hfdiag.errors import UsageError

    if fmt not in allowed:
        raise UsageError(f"--format {fmt!r}: not one of {', '.join(allowed)}")
    return fmt


def check_flavor(flavor: str) -> str:
    from hfdiag.errors import UsageError

    if flavor not in ("github", "discourse"):
        raise UsageError(f"--markdown-flavor {flavor!r}: not one of github, discourse")
    return flavor


def verbose_option():
    return typer.Option(False, "--verbose", "-v", help="Show every fact and undecided rule.")


def output_settings(fmt: str, flavor: str, fail_on: str, formats=("human", "json", "markdown", "github")):
    """Validate --format and --markdown-flavor; return the --fail-on bucket set (one place for every command)."""
    from hfdiag.outcome import parse_fail_on

    check_format(fmt, formats)
    check_flavor(flavor)
    return parse_fail_on(fail_on)


def check_dns_server(value: str | None) -> str | None:
    from hfdiag.errors import UsageError
    from hfdiag.probes.dnsutil import parse_server

    if value:
        try:
            parse_server(value)
        except ValueError:
            raise UsageError(f"--dns-server {value!r}: expected HOST[:PORT]") from None
    return value
