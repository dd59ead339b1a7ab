"""Shared machinery of the reliability suite: run the real `hfdiag check` (a subprocess) against an in-process
simulator with faults, measure its wall time, and keep what the simulator saw. Loopback only."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from conftest import ROOT, cli_env

TIMEOUT = 3.0  # --timeout of every fault run; the guarantee is wall time <= TIMEOUT + 1 s
WORKERS = 6  # fault runs in flight at once (each is mostly waiting on a socket)
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@dataclass(frozen=True)
class Case:
    scenario: str
    faults: tuple = ()  # ((selector, fault), ...)
    overrides: tuple = ()  # ((knob, value), ...)
    args: tuple = ()


@dataclass
class Run:
    case: Case
    elapsed: float
    returncode: int
    stdout: str
    stderr: str
    report: dict | None
    requests: list = field(default_factory=list)
    tokens: dict = field(default_factory=dict)
    endpoint: str = ""

    def probe(self, name: str) -> dict:
        return next(p for p in self.report["probes"] if p["probe"] == name)

    def facts_of(self, probes: set[str]) -> dict:
        return {f["key"]: f["value"] for f in self.report["facts"] if f["source"] in {f"probe:{p}" for p in probes}}


def run_check(case: Case, *, timeout: float = TIMEOUT, fmt: str = "json", extra_env: dict | None = None,
              bundle=None) -> Run:
    from hfdiag.sim import Simulator

    overrides = {k: v for k, v in case.overrides}
    if case.faults:
        overrides["faults"] = {k: v for k, v in case.faults}
    env = {k: v for k, v in cli_env(**(extra_env or {})).items() if k not in PROXY_VARS}
    with Simulator(case.scenario, overrides=overrides or None) as sim:
        args = [sys.executable, "-m", "hfdiag", "check", sim.space_ids[0], "--endpoint", sim.endpoint,
                "--token", sim.tokens["owner"], "--dns-server", sim.dns_server, "--status-url", sim.status_url,
                "--timeout", f"{timeout:g}", "--format", fmt, "--quiet", *case.args]
        if bundle is not None:
            args += ["--bundle", str(bundle)]
        start = time.monotonic()
        proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout + 60)
        elapsed = time.monotonic() - start
        requests = list(sim.requests)
        tokens = dict(sim.tokens)
        endpoint = sim.endpoint
    report = None
    if fmt == "json" and proc.stdout.strip():
        report = json.loads(proc.stdout)
    return Run(case, elapsed, proc.returncode, proc.stdout, proc.stderr, report, requests, tokens, endpoint)


class RunPool:
    """Runs cases in the background, a few at a time; `get` waits for one. Results are cached per case."""

    def __init__(self, workers: int = WORKERS):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fault-run")
        self._futures: dict[Case, Future] = {}

    def submit(self, case: Case) -> None:
        if case not in self._futures:
            self._futures[case] = self._pool.submit(run_check, case)

    def get(self, case: Case) -> Run:
        self.submit(case)
        return self._futures[case].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def run_pool():
    from hfdiag.sim.faults import gzip_bomb

    gzip_bomb(1024 ** 3)  # built once, before any timed run (the simulator would build it on first use)
    pool = RunPool()
    yield pool
    pool.close()
