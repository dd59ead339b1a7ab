from __future__ import annotations

from typing import Optional

import typer

from hfdiag.cli import app


@app.command("sim")
def sim_cmd(
    scenario: Optional[str] = typer.Argument(None, help="Scenario name (see --list)."),
    port: Optional[int] = typer.Option(None, "--port", help="Hub API port (default: ephemeral)."),
    list_: bool = typer.Option(False, "--list", help="List the scenarios with one-line descriptions."),
) -> int:
    """Serve a simulated Hugging Face on loopback, and print the `hfdiag check` command to use against it."""
    from hfdiag.errors import UsageError

    try:
        from hfdiag.sim import list_scenarios
    except ModuleNotFoundError as e:
        raise UsageError(f"the simulator needs the 'sim' extra: pip install 'hfdiag[sim]' ({e.name} missing)") from None
    if list_:
        for s in list_scenarios():
            typer.echo(f"{s.name:<36} {s.expect.get('bucket', '?'):<19} {s.description}")
        return 0
    if not scenario:
        raise UsageError("name a scenario, or use --list")
    from hfdiag.sim.cli import serve

    serve(scenario, port)
    return 0
