"""Checks of option values shared by several commands. Free of typer, so the early start of `check`
(`early_check.py`) runs them before typer is imported."""

from __future__ import annotations


def check_format(fmt: str, allowed=("human", "json", "markdown", "github")) -> str:
    from hfdiag.errors import UsageError

    if fmt not in allowed:
        raise UsageError(f"--format {fmt!r}: not one of {', '.join(allowed)}")
    return fmt


def check_flavor(flavor: str | None, fmt: str = "markdown") -> str | None:
    """None: not given (github folding). Given with another --format, it would be ignored: say so."""
    from hfdiag.errors import UsageError

    if flavor is None:
        return None
    if fmt != "markdown":
        raise UsageError(f"--markdown-flavor goes with --format markdown (not --format {fmt})")
    if flavor not in ("github", "discourse"):
        raise UsageError(f"--markdown-flavor {flavor!r}: not one of github, discourse")
    return flavor


def output_settings(fmt: str, flavor: str, fail_on: str, formats=("human", "json", "markdown", "github")):
    """Validate --format and --markdown-flavor; return the --fail-on bucket set (one place for every command)."""
    from hfdiag.outcome import parse_fail_on

    check_format(fmt, formats)
    check_flavor(flavor, fmt)
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
