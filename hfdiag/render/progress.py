"""Live progress on stderr: a status line per probe on a terminal, plain lines otherwise. Never stdout."""

from __future__ import annotations

import time

from hfdiag.environment import Environment


class PlainProgress:
    def __init__(self, env: Environment, prefix: str = ""):
        self.env, self.prefix = env, prefix

    def __call__(self, probe: str, state: str, message: str = "") -> None:
        if state == "done":
            self.env.message(f"hfdiag: {self.prefix}{probe}: {message}")

    def close(self) -> None:
        pass


class LiveProgress:
    """One rich Live table, refreshed as probes report; removed when the run ends."""

    def __init__(self, env: Environment, prefix: str = ""):
        from rich.console import Console
        from rich.live import Live

        self.prefix = prefix
        self.states: dict[str, tuple[str, str, float]] = {}
        self.console = Console(file=env.stderr, force_terminal=True, no_color=not env.stderr_colour, markup=False)
        self.live = Live(self._table(), console=self.console, transient=True, refresh_per_second=8)
        self.live.start()

    def _table(self):
        from rich.table import Table
        from rich.text import Text

        from hfdiag.render.sanitize import visible

        t = Table(show_header=False, box=None, padding=(0, 1))
        for name, (state, msg, start) in self.states.items():
            mark = {"start": "…", "update": "…", "done": "✔"}.get(state, "?")
            if state == "done" and not msg.startswith("ok"):
                mark = "✘" if not msg.startswith("skipped") else "-"
            t.add_row(mark, f"{self.prefix}{name}", Text(visible(msg[:90], keep_newlines=False)), f"{time.monotonic() - start:5.1f}s")
        return t

    def __call__(self, probe: str, state: str, message: str = "") -> None:
        start = self.states.get(probe, ("", "", time.monotonic()))[2]
        self.states[probe] = (state, message or state, start)
        self.live.update(self._table())

    def close(self) -> None:
        self.live.stop()


class HeldProgress:
    """Progress held back until `release()` creates the real one and replays what happened so far; dropped if
    never released (the early start of `check` shows nothing until typer agreed with its reading)."""

    def __init__(self, make):
        self._make, self._events, self._target, self._closed = make, [], None, False

    def __call__(self, probe: str, state: str, message: str = "") -> None:
        if self._target is not None:
            self._target(probe, state, message)
        elif not self._closed:
            self._events.append((probe, state, message))

    def release(self) -> None:
        if self._target is None and not self._closed:
            self._target = self._make()
            for event in self._events:
                self._target(*event)
            self._events.clear()

    def close(self) -> None:
        self._closed = True
        if self._target is not None:
            self._target.close()


def make_progress(env: Environment, quiet: bool, prefix: str = ""):
    if quiet:
        return None
    if env.stderr_isatty:
        return LiveProgress(env, prefix)
    return PlainProgress(env, prefix)
