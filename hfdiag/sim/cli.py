"""Entry points the `hfdiag sim` command uses: `serve()` and `print_list()`."""

from __future__ import annotations

import threading
from typing import TextIO

from .scenario import list_scenarios, load_scenario


def print_list(out: TextIO) -> None:
    """`hfdiag sim --list`: per scenario, name, expected bucket and description, then the command that
    reproduces it (every flag it needs included)."""
    scs = list_scenarios()
    width = max(len(s.name) for s in scs)
    for s in scs:
        out.write(f"{s.name:<{width}}  {s.expect['bucket']:<18}  {s.description}\n")
        out.write(f"{'':<{width}}  $ {s.check_command()}\n")


def serve(scenario: str, port: int | None, out: TextIO, stop: threading.Event | None = None) -> None:
    """Serve `scenario` on loopback until Ctrl-C (or `stop` is set) and print the `hfdiag check` line."""
    from .server import Simulator

    sc = load_scenario(scenario)
    sim = Simulator(sc, port=port)
    sim.start()
    try:
        out.write(f"hfdiag sim: scenario {sc.name!r}: {sc.description}\n")
        out.write(f"  Hub API, /resolve:  {sim.endpoint}\n")
        out.write(f"  status page:        {sim.status_url}\n")
        out.write(f"  DNS (UDP+TCP):      {sim.dns_server}\n")
        for sid in sim.space_ids[:20]:
            out.write(f"  Space {sid}: {sim.space_url(sid)}\n")
        if len(sim.space_ids) > 20:
            out.write(f"  ... and {len(sim.space_ids) - 20} more Spaces\n")
        out.write(f"  tokens: owner={sim.tokens['owner']} other={sim.tokens['other']} pro={sim.tokens['pro']}\n")
        out.write(f"  expected verdict: {sc.expect['bucket']}"
                  + (f" (first missing hop {sc.expect['first_missing_hop']})" if sc.expect['first_missing_hop'] else "")
                  + "\n\nRun:\n")
        out.write(f"  {sim.check_command(token='owner', extra=sc.check)}\n")
        out.write(f"or, with the simulator embedded:\n  {sc.check_command()}\n\nPress Ctrl-C to stop.\n")
        out.flush()
        ev = stop or threading.Event()
        try:
            while not ev.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        sim.stop()
