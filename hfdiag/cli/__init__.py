"""The thin CLI. Each command lives in its own module and imports its heavy dependencies inside the function,
so `hfdiag --help` and `hfdiag --version` stay fast."""

from __future__ import annotations

import os
import sys

import typer

from hfdiag import __version__
from hfdiag.exit_status import ExitStatus

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


def _register() -> None:
    from hfdiag.cli import cmd_check, cmd_explain, cmd_rules, cmd_sim  # noqa: F401  (commands register themselves)

    for optional in ("cmd_egress", "cmd_preflight", "cmd_scan", "cmd_env"):
        try:
            __import__(f"hfdiag.cli.{optional}")
        except ModuleNotFoundError as e:
            if e.name != f"hfdiag.cli.{optional}":
                raise


def _fail(message: str, status: int) -> int:
    from hfdiag.redact import redact

    sys.stderr.write(f"hfdiag: error: {redact(message).splitlines()[0] if message else 'unknown error'}\n")
    sys.stderr.flush()
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point: every error becomes one line on stderr and a defined exit status (never a traceback)."""
    import click

    from hfdiag.errors import HfdiagError

    _register()
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="hfdiag")
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.exceptions.Abort:
        code = _fail("interrupted", ExitStatus.INTERRUPTED)
    except click.exceptions.UsageError as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
        code = _fail(e.format_message() + hint, ExitStatus.USAGE)
    except click.exceptions.ClickException as e:
        code = _fail(e.format_message(), ExitStatus.USAGE)
    except HfdiagError as e:
        code = _fail(str(e), e.exit_status)
    except KeyboardInterrupt:
        code = _fail("interrupted", ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        code = 0
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 — silence the flush at exit
        except OSError:
            pass
    except Exception as e:  # a bug of ours: still one line, with the way to see more
        if os.environ.get("HFDIAG_DEBUG"):
            raise
        code = _fail(f"internal error: {type(e).__name__}: {e} (set HFDIAG_DEBUG=1 for the traceback)", ExitStatus.USAGE)
    if argv is None:
        sys.exit(code)
    return code
