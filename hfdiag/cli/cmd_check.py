from __future__ import annotations

import typer

from hfdiag.cli import app


@app.command("check")
def check_cmd(space: str = typer.Argument(..., help="owner/space")) -> int:
    """Probe a Space (work in progress)."""
    from hfdiag.errors import UsageError

    raise UsageError("check is not implemented yet")
