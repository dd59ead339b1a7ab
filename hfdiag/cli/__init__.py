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
    """Import the command modules; each registers its command on `app`."""
    for module in ("cmd_check", "cmd_explain", "cmd_sim", "cmd_egress", "cmd_preflight", "cmd_scan", "cmd_env",
                   "cmd_rules"):
        __import__(f"hfdiag.cli.{module}")


class _ClickExceptions:
    """click's exception classes as typer raises them: typer >= 0.24 bundles its own copy of click
    (`typer._click`), older typer uses click itself. Each name is a tuple usable in `except`."""

    def __init__(self) -> None:
        modules = []
        try:
            from typer._click import exceptions as bundled  # type: ignore[import-not-found]

            modules.append(bundled)
        except ImportError:
            pass
        try:
            from click import exceptions as upstream

            modules.append(upstream)
        except ImportError:
            pass
        for name in ("Exit", "Abort", "UsageError", "ClickException"):
            setattr(self, name, tuple(getattr(m, name) for m in modules if hasattr(m, name)))


def _click_exceptions() -> _ClickExceptions:
    return _ClickExceptions()


def _fail(message: str, status: int) -> int:
    from hfdiag.redact import redact

    sys.stderr.write(f"hfdiag: error: {redact(message).splitlines()[0] if message else 'unknown error'}\n")
    sys.stderr.flush()
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point: every error becomes one line on stderr and a defined exit status (never a traceback)."""
    if (sys.argv[1:] if argv is None else list(argv)) == ["--version"]:
        # The fast path: without building the commands (their imports and typer's parameter adapters).
        sys.stdout.write(f"hfdiag {__version__}\n")
        sys.stdout.flush()
        if argv is None:
            sys.exit(0)
        return 0
    from hfdiag.errors import HfdiagError

    click_exc = _click_exceptions()
    _register()
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="hfdiag")
        code = rv if isinstance(rv, int) else 0
    except click_exc.Exit as e:
        code = e.exit_code
    except click_exc.Abort:
        code = _fail("interrupted", ExitStatus.INTERRUPTED)
    except click_exc.UsageError as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
        code = _fail(e.format_message() + hint, ExitStatus.USAGE)
    except click_exc.ClickException as e:
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
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown (freeing every module's objects took ~200 ms after
    `check`): flush, run the atexit handlers, then os._exit. Falls back to sys.exit when anything is unusual."""
    import atexit
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        sys.exit(code)
    os._exit(code)
