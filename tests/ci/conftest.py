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
