"""The typer application: the root options and the registration of every command module."""

import sys

import typer

from hfdiag import __version__

app = typer.Typer(
    name="hfdiag",
    help="Tells at which service boundary the evidence of a Hugging Face Spaces failure disappears.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"hfdiag {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """hfdiag: probes, evidence chains and tested rules instead of guesses."""


def _plain_argument_help() -> None:
    """typer (>= 0.2x) writes a required argument as `{ID}` in the usage line and every argument with its
    Python type (`spaces... <list[str]>`); hfdiag's help names arguments like the rest of its docs (`ID`,
    `SPACES...`) and says in the help text what they hold. Skipped if typer changes these methods."""
    from typer.core import TyperArgument

    if not hasattr(TyperArgument, "_usage_display_name") or not hasattr(TyperArgument, "display_type_rich"):
        return

    def usage_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    TyperArgument._usage_display_name = usage_name
    TyperArgument.display_type_rich = lambda self, ctx: None


def register() -> None:
    """Import the command modules; each registers its command on `app`.

    They (and this module) do without `from __future__ import annotations`: typer reads every parameter's type
    with typing.get_type_hints when it builds the commands, which evals each string annotation (several hundred
    in every `hfdiag --help`: ~4 ms of its CPU time); as objects, they are built once at import."""
    _plain_argument_help()
    for module in ("cmd_check", "cmd_explain", "cmd_sim", "cmd_egress", "cmd_preflight", "cmd_scan", "cmd_env",
                   "cmd_rules", "cmd_triage"):
        __import__(f"hfdiag.cli.{module}")
