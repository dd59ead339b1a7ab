from typing import Optional

import typer

from hfdiag.cli.app import app


@app.command("sim")
def sim_cmd(
    scenario: Optional[str] = typer.Argument(None, metavar="SCENARIO", help="Scenario name (see --list)."),
    port: Optional[int] = typer.Option(None, "--port", help="Hub API port (default: ephemeral)."),
    list_: bool = typer.Option(False, "--list", help="List the scenarios with one-line descriptions."),
) -> int:
    """Serve a simulated Hugging Face on loopback, and print the `hfdiag check` command to use against it."""
    from hfdiag.errors import UsageError

    try:
        import hfdiag.sim  # noqa: F401
    except ModuleNotFoundError as e:
        raise UsageError(f"the simulator needs the 'sim' extra: pip install 'hfdiag[sim]' ({e.name} missing)") from None
    import sys

    from hfdiag.sim import ScenarioError
    from hfdiag.sim.cli import print_list, serve

    if list_:
        print_list(sys.stdout)
        return 0
    if not scenario:
        raise UsageError("name a scenario, or use --list")
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"--port {port}: not a port number")
    try:
        serve(scenario, port, sys.stdout)
    except ScenarioError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    except OSError as e:
        raise UsageError(f"cannot serve on port {port}: {e.strerror}") from None
    return 0
