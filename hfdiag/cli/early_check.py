"""`hfdiag check` started before typer is imported, so its first requests leave ~100 ms sooner.

typer builds a pydantic adapter for every parameter of a command: with its import that is ~130 ms of CPU before
a command runs, while `check` then mostly waits on the network. So `main()` reads a plain `check` command line
itself (`read_check_args`), starts the probes, and lets typer parse the same command line while the first requests
are in flight (`EarlyStart.confirm`, a warm-up of the probe runner). The early run counts only when typer's values
are exactly the ones it started with. When typer rejects the command line or reads it differently, the early run
is cancelled before it printed anything (progress is held back until then) and the command runs the usual way,
so the user sees typer's own answer. Only read-only runs start early: never --restart or --zerogpu-call, which
act on the Space or spend quota. `HFDIAG_EARLY_START=0` turns it off.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Any, Callable

# The parameters of `check` (hfdiag/cli/cmd_check.py): name, flags, type, default.
# tests/test_early_check.py compares this table with typer's command, so the two cannot drift apart.
CHECK_PARAMS: tuple[tuple[str, tuple[str, ...], type, Any], ...] = (
    ("endpoint", ("--endpoint",), str, None),
    ("token", ("--token",), str, None),
    ("fmt", ("--format", "-f"), str, "human"),
    ("markdown_flavor", ("--markdown-flavor",), str, None),
    ("timeout", ("--timeout",), float, 30.0),
    ("fail_on", ("--fail-on",), str, "any"),
    ("wait", ("--wait",), float, 0.0),
    ("restart", ("--restart",), bool, False),
    ("bundle", ("--bundle",), Path, None),
    ("report", ("--report",), Path, None),
    ("sim", ("--sim",), str, None),
    ("sim_as", ("--sim-as",), str, "owner"),
    ("dns_server", ("--dns-server",), str, None),
    ("status_url", ("--status-url",), str, None),
    ("concurrency", ("--concurrency",), int, 4),
    ("route_requests", ("--route-requests",), int, 4),
    ("zerogpu_call", ("--zerogpu-call",), str, None),
    ("zerogpu_data", ("--zerogpu-data",), str, None),
    ("settle_wait", ("--settle-wait",), float, 0.0),
    ("log_wait", ("--log-wait",), float, 2.0),
    ("transfer_file", ("--transfer-file",), str, None),
    ("rules_dir", ("--rules-dir",), Path, None),
    ("quiet", ("--quiet", "-q"), bool, False),
    ("verbose", ("--verbose", "-v"), bool, False),
)
NOT_EARLY = ("restart", "zerogpu_call")  # they act on the Space or spend the caller's quota: typer first
_BY_FLAG = {flag: (name, kind) for name, flags, kind, _ in CHECK_PARAMS for flag in flags}


def read_check_args(argv: list[str]) -> dict | None:
    """The values of a plain `check` command line, as typer would give them to the command; None when the
    line is anything else (another command, help, an unknown or unusual option, a value that does not parse)."""
    if not argv or argv[0] != "check":
        return None
    values: dict[str, Any] = {name: default for name, _, _, default in CHECK_PARAMS}
    spaces: list[str] = []
    rest = list(argv[1:])
    while rest:
        token = rest.pop(0)
        if not token.startswith("-"):
            spaces.append(token)
            continue
        flag, eq, inline = token.partition("=")
        if flag not in _BY_FLAG or (eq and not flag.startswith("--")):
            return None  # --help, --, -qv, -fjson, a typo: typer answers those
        name, kind = _BY_FLAG[flag]
        if kind is bool:
            if eq:
                return None
            values[name] = True
            continue
        if not eq:
            if not rest:
                return None
            inline = rest.pop(0)
        try:
            values[name] = kind(inline)
        except ValueError:
            return None
        if kind is float and not math.isfinite(values[name]):
            return None  # nan never equals typer's nan
    if any(values[name] for name in NOT_EARLY):
        return None
    values["spaces"] = spaces or None
    return values


def _typer_values(argv: list[str]) -> dict:
    """typer's own reading of the command line, without running the command."""
    import typer.main

    from hfdiag.cli.app import app, register

    register()
    command = typer.main.get_command(app).commands[argv[0]]  # type: ignore[attr-defined]
    with command.make_context(argv[0], list(argv[1:])) as ctx:
        return dict(ctx.params)


def _same(early: dict, typer_values: dict) -> bool:
    def norm(values: dict) -> dict:
        return {**values, "spaces": list(values.get("spaces") or [])}

    return norm(early) == norm(typer_values)


class EarlyStart:
    """One early `check`: the values it started with, and whether typer agrees with them (None: not asked yet)."""

    def __init__(self, argv: list[str], values: dict):
        self.argv, self.values = list(argv), values
        self.agreed: bool | None = None
        self._lock = threading.Lock()
        self.on_agreed: list[Callable[[], None]] = []  # e.g. release the held-back progress
        self.on_refused: list[Callable[[], None]] = []  # e.g. cancel the probes

    def confirm(self) -> bool:
        """Ask typer (once). Whatever typer does with a command line it rejects (an error, help), it does
        later, in the usual run; here it only means "no"."""
        with self._lock:  # asked in the warm-up thread, and again after the run (whichever comes first)
            self._confirm()
        return self.agreed

    def _confirm(self) -> None:
        if self.agreed is None:
            try:
                self.agreed = _same(self.values, _typer_values(self.argv))
            except (Exception, SystemExit):
                self.agreed = False
            for hook in self.on_agreed if self.agreed else self.on_refused:
                hook()


class Refused(Exception):
    """typer does not agree with the early reading: run the command the usual way."""


def enabled(environ=os.environ) -> bool:
    return environ.get("HFDIAG_EARLY_START", "1") != "0"


def run_early(argv: list[str]) -> int | None:
    """Run `check` early when the command line allows; None when the usual run must do it (nothing was printed)."""
    values = read_check_args(argv) if enabled() else None
    if values is None:
        return None
    from hfdiag.cli.check_run import run

    early = EarlyStart(argv, values)
    try:
        return run(values, early=early)
    except Refused:
        return None
    except KeyboardInterrupt:
        raise
    except Exception:
        if early.confirm():
            raise  # the same error the usual run would meet, with the same values
        return None
