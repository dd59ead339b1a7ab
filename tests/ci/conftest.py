"""Shared fixtures for the CI / fleet / forum tests: real CLI subprocesses, the simulator over loopback."""

from __future__ import annotations

import pytest

from hfdiag.sim import Simulator


@pytest.fixture(scope="module")
def app_sim():
    """A Space whose app fails (ModuleNotFoundError): an `app` finding with evidence in the run log."""
    with Simulator("app-module-not-found") as sim:
        yield sim


def sim_args(sim) -> list[str]:
    return ["--endpoint", sim.endpoint, "--dns-server", sim.dns_server, "--status-url", sim.status_url]


def scan_fleet_to_file(sim, fmt: str, out) -> list[str]:
    """`hfdiag scan - --format FMT -o OUT -q` of the simulator's fleet Spaces (quiet: nothing on stdout or
    stderr); returns the Space ids, in order."""
    from tests.conftest import cli_env, run_cli

    ids = [s for s in sim.space_ids if s.startswith("fleetuser/")]
    p = run_cli("scan", "-", *sim_args(sim), "--format", fmt, "-o", str(out), "-q",
                input="\n".join(ids) + "\n", env=cli_env(HF_TOKEN=sim.tokens["owner"]))
    assert p.returncode in (0, 1, 3), p.stderr
    assert p.stdout == "" and p.stderr == ""
    return ids
