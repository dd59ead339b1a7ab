"""The one injected view of the process's streams and terminal (swapped in tests).

Machine output goes to `stdout`; messages, progress and errors go to `stderr`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TextIO


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Environment:
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    environ: dict = field(default_factory=lambda: dict(os.environ))
    stdout_isatty: bool | None = None
    stderr_isatty: bool | None = None
    width: int | None = None

    def __post_init__(self) -> None:
        if self.stdout_isatty is None:
            self.stdout_isatty = _is_tty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _is_tty(self.stderr)

    @property
    def colour(self) -> bool:
        """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
        if "NO_COLOR" in self.environ:
            return False
        if self.environ.get("FORCE_COLOR"):
            return True
        return bool(self.stdout_isatty)

    @property
    def stderr_colour(self) -> bool:
        if "NO_COLOR" in self.environ:
            return False
        return bool(self.stderr_isatty)

    def message(self, text: str) -> None:
        """A human message: always stderr, so stdout stays machine-readable; no control character from the
        text reaches the terminal."""
        from hfdiag.render.sanitize import visible

        self.stderr.write(visible(text.rstrip("\n")) + "\n")
        self.stderr.flush()
