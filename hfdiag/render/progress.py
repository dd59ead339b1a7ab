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


def rate_limit_line(views) -> str:
    """`Hub rate limit: waiting 27 s for the 'api' window (0 of 500 left)`, from what the RateLimit headers
    said; empty while no bucket holds requests back."""
    waiting = [v for v in views if v.paused_for_s > 0.05]
    if not waiting:
        return ""
    v = max(waiting, key=lambda x: x.paused_for_s)
    left = ""
    if v.remaining is not None:
        left = f" ({max(0, int(v.remaining))} of {int(v.quota)} left)" if v.quota else f" ({max(0, int(v.remaining))} left)"
    return f"Hub rate limit: waiting {v.paused_for_s:.0f} s for the '{v.name}' window{left}"


class ScanProgress:
    """A fleet scan on a terminal: one rich progress bar (Spaces done of all) and the rate-limit wait, read
    from the limiter's view of the Hub's RateLimit headers. Removed when the scan ends."""

    def __init__(self, env: Environment, total: int, limiter):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.limiter = limiter
        console = Console(file=env.stderr, force_terminal=True, no_color=not env.stderr_colour)
        self.progress = Progress(TextColumn("scan"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.description}", markup=False), console=console, transient=True,
                                 refresh_per_second=4)
        self.task = self.progress.add_task("", total=total)
        self.progress.start()

    def update(self, done: int) -> None:
        self.progress.update(self.task, completed=done, description=rate_limit_line(self.limiter.snapshot()))

    def close(self) -> None:
        self.progress.stop()
