"""Options shared by several commands (one definition each, so help texts stay consistent)."""

from __future__ import annotations

import typer

FORMAT_HELP = "Output format: human, json, markdown or github (json/markdown/github go to stdout only)."


def format_option(default: str = "human"):
    return typer.Option(default, "--format", "-f", help=FORMAT_HELP, metavar="FORMAT")


def markdown_flavor_option():
    return typer.Option(None, "--markdown-flavor", metavar="FLAVOR",
                        help="Folding for --format markdown: github (the default) or discourse.")


def rules_dir_option():
    return typer.Option(None, "--rules-dir", metavar="DIR", help="Use rules from this directory instead of the built-in ones.")


def fail_on_option():
    return typer.Option(
        "any", "--fail-on", metavar="BUCKETS",
        help="Exit 1 when a finding is in these buckets: comma-separated bucket names, 'platform', 'any' or 'none'.",
    )


def verbose_option():
    return typer.Option(False, "--verbose", "-v", help="Show every fact and undecided rule.")
