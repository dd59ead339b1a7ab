"""The thin CLI entry point: one-line errors, exit statuses and the fast paths. The typer application is in
`app.py`; each command lives in its own module and imports its heavy dependencies inside the function, so
`hfdiag --help` and `hfdiag --version` stay fast, and `check` can start probing before typer is imported
(`early_check.py`)."""

from __future__ import annotations

import os
import sys

from hfdiag import __version__
from hfdiag.exit_status import ExitStatus


def _click_status(e: Exception) -> int | None:
    """The exit status for one of click's exceptions as typer raises them (typer >= 0.24 bundles its own copy of
    click as `typer._click`, older typer uses click itself); None for any other exception. Looked up only when
    something was raised, so the early start of `check` never imports typer for it."""
    names = ("typer.exceptions", "typer._click.exceptions", "click.exceptions")
    for m in filter(None, (sys.modules.get(name) for name in names)):
        if isinstance(e, getattr(m, "Exit", ())):
            return e.exit_code
        if isinstance(e, getattr(m, "Abort", ())):
            return _fail("interrupted", ExitStatus.INTERRUPTED)
        if isinstance(e, getattr(m, "NoArgsIsHelpError", ())):
            # a bare `hfdiag` / `hfdiag rules`: the help itself, not an "error: Usage" line; incomplete usage: 2
            sys.stderr.write(e.ctx.get_help() + "\n" if e.ctx else e.format_message() + "\n")
            sys.stderr.flush()
            return ExitStatus.USAGE
        if isinstance(e, getattr(m, "UsageError", ())):
            hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
            return _fail(e.format_message() + hint, ExitStatus.USAGE)
        if isinstance(e, getattr(m, "ClickException", ())):
            return _fail(e.format_message(), ExitStatus.USAGE)
    return None


def _fail(message: str, status: int) -> int:
    from hfdiag.redact import redact
    from hfdiag.render.sanitize import visible

    line = redact(message).splitlines()[0] if message and message.strip() else "unknown error"
    sys.stderr.write(f"hfdiag: error: {visible(line)}\n")
    sys.stderr.flush()
    return status


def _skip_unused_imports() -> None:
    """Two imports that cost ~30-50 ms each before the first request of `check` and that hfdiag never uses:
    httpx's own command-line client (click, rich, pygments), imported whenever click is installed, and trio,
    which httpcore imports whenever it is installed only to tell whether it runs under trio (hfdiag runs under
    asyncio). A None entry in sys.modules makes such an import fail with ImportError, which both libraries
    expect and handle. Done by the CLI entry point only, never by the library modules."""
    for name in ("httpx._main", "trio"):
        sys.modules.setdefault(name, None)


def _dispatch(args: list[str]) -> int:
    if args[:1] == ["check"]:
        from hfdiag.cli.early_check import run_early

        code = run_early(args)
        if code is not None:
            return code
    from hfdiag.cli.app import app, register

    register()
    rv = app(args=args, standalone_mode=False, prog_name="hfdiag")
    return rv if isinstance(rv, int) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: every error becomes one line on stderr and a defined exit status (never a traceback)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:
        # The fast path: without building the commands (their imports and typer's parameter adapters).
        sys.stdout.write(f"hfdiag {__version__}\n")
        sys.stdout.flush()
        if argv is None:
            sys.exit(0)
        return 0
    _skip_unused_imports()
    from hfdiag.errors import HfdiagError

    try:
        code = _dispatch(args)
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
    except Exception as e:
        status = _click_status(e)
        if status is not None:
            code = status
        elif os.environ.get("HFDIAG_DEBUG"):  # a bug of ours: still one line, with the way to see more
            raise
        else:
            code = _fail(f"internal error: {type(e).__name__}: {e} (set HFDIAG_DEBUG=1 for the traceback)",
                         ExitStatus.USAGE)
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
