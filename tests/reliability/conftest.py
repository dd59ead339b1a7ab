"""Shared machinery of the reliability suite: run the real `hfdiag check` (a subprocess) against an in-process
simulator with faults, measure its wall time, and keep what the simulator saw. Loopback only."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ROOT, cli_env

TIMEOUT = 3.0  # --timeout of every fault run on a quiet machine; the guarantee is check time <= timeout + 1 s
BASE_TIMEOUT = 30.0  # fault-free runs end by themselves (logs drained); the timeout only stops a hang
WORKERS = 4  # fault runs in flight at once (each is mostly waiting on a socket)
TIMED_CLI = str(Path(ROOT) / "bench" / "_phases.py")  # the CLI with its probing phase timed (check_many_s)
AFTER_CHECK_S = 2.0  # rendering and exit after the probing phase, whatever the report holds
# facts that differ between two fault-free runs (timings, ports, the run log's growing access lines)
VOLATILE = re.compile(r"(latency|_age_s$|_ms|\.host$|^run_log\.lines$|^route\.replicas$|^dns\.resolver$|"
                      r"^transfer\.(throughput|elapsed|duration|first_byte))")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@dataclass(frozen=True)
class Case:
    scenario: str
    faults: tuple = ()  # ((selector, fault), ...); a fault with parameters is a tuple of (key, value) pairs
    overrides: tuple = ()  # ((knob, value), ...)
    args: tuple = ()


@dataclass
class Run:
    case: Case
    elapsed: float  # wall time of the process
    returncode: int
    stdout: str
    stderr: str
    report: dict | None
    requests: list = field(default_factory=list)
    tokens: dict = field(default_factory=dict)
    endpoint: str = ""
    timeout: float = TIMEOUT
    phases: dict = field(default_factory=dict)  # bench/_phases.py: check_start_s, check_many_s, process_s

    def probe(self, name: str) -> dict:
        return next(p for p in self.report["probes"] if p["probe"] == name)

    def facts_of(self, probes: set[str]) -> dict:
        return {f["key"]: f["value"] for f in self.report["facts"] if f["source"] in {f"probe:{p}" for p in probes}}


def run_check(case: Case, *, timeout: float = TIMEOUT, fmt: str = "json", extra_env: dict | None = None,
              bundle=None) -> Run:
    from hfdiag.sim import Simulator

    overrides = {k: v for k, v in case.overrides}
    if case.faults:
        overrides["faults"] = {k: dict(v) if isinstance(v, tuple) else v for k, v in case.faults}
    env = {k: v for k, v in cli_env(**(extra_env or {})).items() if k not in PROXY_VARS}
    with Simulator(case.scenario, overrides=overrides or None) as sim, tempfile.TemporaryDirectory() as tmp:
        phases_file = Path(tmp) / "phases.json"
        args = [sys.executable, TIMED_CLI, str(phases_file), "check", sim.space_ids[0], "--endpoint", sim.endpoint,
                "--token", sim.tokens["owner"], "--dns-server", sim.dns_server, "--status-url", sim.status_url,
                "--timeout", f"{timeout:g}", "--format", fmt, "--quiet", *case.args]
        if bundle is not None:
            args += ["--bundle", str(bundle)]
        start = time.monotonic()
        proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout + 60)
        elapsed = time.monotonic() - start
        phases = json.loads(phases_file.read_text()) if phases_file.exists() else {}
        requests = list(sim.requests)
        tokens = dict(sim.tokens)
        endpoint = sim.endpoint
    report = None
    if fmt == "json" and proc.stdout.strip():
        report = json.loads(proc.stdout)
    return Run(case, elapsed, proc.returncode, proc.stdout, proc.stderr, report, requests, tokens, endpoint, timeout,
               phases)


def load_timeout(baselines: list[Run]) -> float:
    """The --timeout of fault runs, relative to how long the fault-free runs took on this machine just now (they
    run side by side, as the fault runs do): 3 s when it is quiet, more when CPU burners slow every process down,
    so that the probes a fault does not touch still have the time they need. Each run is then held to its own
    timeout (check phase <= timeout + 1 s)."""
    slowest = max((b.phases.get("check_many_s", b.elapsed) for b in baselines), default=0.0)
    return round(min(20.0, max(TIMEOUT, 2.0 * slowest)), 1)


class RunPool:
    """Runs cases in the background, a few at a time; `get` waits for one. Results are cached per case.
    Fault-free runs (`baseline=True`) are queued first, with a timeout that only stops a hang (they end by
    themselves); fault runs wait for them, and get a timeout relative to theirs (`load_timeout`)."""

    def __init__(self, workers: int = WORKERS):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fault-run")
        self._futures: dict[Case, Future] = {}
        self._baselines: list[Future] = []

    def fault_timeout(self) -> float:
        return load_timeout([f.result() for f in self._baselines])

    def submit(self, case: Case, baseline: bool = False) -> None:
        if case in self._futures:
            return
        if baseline:
            self._futures[case] = self._pool.submit(run_check, case, timeout=BASE_TIMEOUT)
            self._baselines.append(self._futures[case])
        else:
            self._futures[case] = self._pool.submit(lambda: run_check(case, timeout=self.fault_timeout()))

    def get(self, case: Case) -> Run:
        self.submit(case)
        return self._futures[case].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def run_pool():
    from hfdiag.sim.faults import gzip_bomb

    gzip_bomb(1024 ** 3, layers=2)  # built once (both layers), before any timed run (else on first use)
    pool = RunPool()
    yield pool
    pool.close()
