"""Wrong-typed and hostile fields in what the ZeroGPU probe reads — the Space's own `/config`, `/gradio_api/info` and
queue stream, the Hub's quota answer, the hardware the Space API names — through the real CLI against the
simulator: the probe says in one line what it ignored, keeps what it could read, never ends in an internal error or
sends a request off the Space origin, and every other probe keeps its evidence."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ROOT, cli_env

from hfdiag.sim import Simulator

from .conftest import VOLATILE

ZERO = "healthy-zerogpu"
CALL = ("--zerogpu-call", "predict", "--zerogpu-data", '["hi"]')
CONFIG, INFO, QUOTA = "space:GET /config", "space:GET /gradio_api/info", "hub:GET /api/spaces/zero-gpu/quota"
QUEUE = "space:GET /gradio_api/queue/data"
PARALLEL = 2  # CLI runs in flight at once (each is mostly waiting; more would starve a busy 2-core machine)
OTHERS = ("space", "auth", "logs", "route", "status", "dns")


def _sse(*messages) -> str:
    return "".join(f"data: {json.dumps(m)}\n\n" for m in messages)


def _config(sim: Simulator, **changes) -> str:
    import httpx

    cfg = httpx.get(f"{_space_host(sim)}/config", timeout=30).json()
    cfg.update(changes)
    return json.dumps(cfg)


def _space_host(sim: Simulator) -> str:
    import httpx

    info = httpx.get(f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}", timeout=30,
                     headers={"authorization": f"Bearer {sim.tokens['owner']}"}).json()
    return info["host"]


# name: (answers to rewrite {selector: body or callable(sim) -> body}, extra CLI args, what the error names or None)
CASES = {
    "baseline": ({}, (), None),
    "config-wrong-types": ({CONFIG: lambda sim: _config(sim, version=["5.49.1"], api_prefix={"a": 1},
                                                          dependencies=5, protocol=7)},
                           CALL, "api_prefix"),
    # a prefix that would move the URL to another host (`origin@host`), a 1 MB version, dependencies of bad types
    "config-hostile-values": ({CONFIG: lambda sim: _config(
        sim, version="5" * 1_000_000, api_prefix="@" + sim.urls["foreign"].split("//")[1],
        dependencies=[{"api_name": {"x": 1}, "id": 0}, {"api_name": "predict", "id": [0], "batch": "yes"}])},
        CALL, "api_prefix"),
    "info-wrong-types": ({INFO: json.dumps({"named_endpoints": ["/predict"]})}, (), "named_endpoints"),
    "info-flood": ({INFO: json.dumps({"named_endpoints": {f"/e{i}" + "x" * 300: {} for i in range(3000)}})}, (),
                   None),
    "quota-wrong-types": ({QUOTA: json.dumps({"base": "300", "current": 300, "runs": {"remaining": True}})}, (),
                          "quota"),
    "quota-hostile-values": ({QUOTA: json.dumps({"base": 300, "current": 250, "resetsAt": ["x"] * 50_000,
                                                 "overquotaUsed": {"a": "B" * 100_000},
                                                 "runs": {"remaining": True, "pad": "C" * 100_000}})}, (), None),
    "queue-wrong-types": ({QUEUE: _sse({"msg": ["heartbeat"]}, {"msg": "estimation", "rank": {"a": 1}},
                                       {"msg": "log", "log": {"a": 1}, "title": ["t"] * 10_000, "level": 3},
                                       {"msg": "progress", "progress_data": "D" * 100_000},
                                       {"msg": "process_completed", "success": "yes",
                                        "output": {"error": {"e": 1}, "title": ["t"], "duration": "long"}},
                                       {"msg": "close_stream"})},
                          CALL, None),
    # `gzip, gzip` on the queue stream: 64 MiB of zeros from a few KB, past the stream's 16 MiB cap
    "queue-stacked-gzip": ({QUEUE: {"fault": "gzip_bomb", "layers": 2, "size": 64 * 1024 * 1024,
                                    "ctype": "text/event-stream"}}, CALL, "queue/data"),
}


def _run(name: str) -> dict:
    answers, args, _ = CASES[name]
    with Simulator(ZERO) as sim:
        for selector, body in answers.items():
            if isinstance(body, dict):  # a fault of the simulator's own
                sim.scenario.faults[selector] = body
                continue
            text = body(sim) if callable(body) else body
            ctype = "text/event-stream" if selector == QUEUE else "application/json"
            sim.scenario.faults[selector] = {"fault": "status", "status": 200, "body": text, "ctype": ctype}
        proc = subprocess.run([sys.executable, "-m", "hfdiag", "check", sim.space_ids[0], "--endpoint", sim.endpoint,
                               "--token", sim.tokens["owner"], "--dns-server", sim.dns_server, "--status-url",
                               sim.status_url, "--timeout", "60", "--format", "json", "--quiet", *args],
                              capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=240)
        foreign = [r for r in sim.requests if r.role == "foreign"]
    return {"proc": proc, "foreign": foreign, "report": json.loads(proc.stdout) if proc.stdout.strip() else None}


@pytest.fixture(scope="module")
def runs():
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return dict(zip(CASES, pool.map(_run, CASES), strict=True))


def _probes(run) -> dict:
    return {p["probe"]: p for p in run["report"]["probes"]}


def _facts(run, probe: str) -> dict:
    return {f["key"]: f["value"] for f in run["report"]["facts"] if f["source"] == f"probe:{probe}"}


@pytest.mark.parametrize("name", [n for n in CASES if n != "baseline"])
def test_hostile_zerogpu_fields_stay_in_the_zerogpu_probe(runs, name):
    run, base = runs[name], runs["baseline"]
    proc = run["proc"]
    assert run["report"] is not None, proc.stderr[-500:]
    assert proc.returncode in (0, 1, 3) and "Traceback" not in proc.stderr, proc.stderr[-500:]
    assert len(proc.stdout) < 200_000  # nothing copied whole from the answer
    zero = _probes(run)["zerogpu"]
    error = zero.get("error") or ""
    assert "internal error" not in error and "\n" not in error, error
    assert zero["status"] in ("ok", "error"), zero
    named = CASES[name][2]
    if named:  # what was ignored is said, in the probe's one line
        assert zero["status"] == "error" and named in error, zero
    assert not run["foreign"], "a request left the Space origin"
    # every other probe keeps the evidence of the fault-free run
    for other in OTHERS:
        assert _probes(run)[other]["status"] == _probes(base)[other]["status"], (other, _probes(run)[other])
    for other in ("space", "auth", "status", "dns"):
        want = {k: v for k, v in _facts(base, other).items() if not VOLATILE.search(k)}
        got = {k: v for k, v in _facts(run, other).items() if not VOLATILE.search(k)}
        assert got == want, other
    v = run["report"]["verdict"]
    assert v["bucket"] in ("inconclusive", base["report"]["verdict"]["bucket"]) or v["confidence"] != "high", v


def test_what_could_be_read_is_kept_and_cut(runs):
    f = _facts(runs["config-hostile-values"], "zerogpu")
    assert "zerogpu.gradio_version" not in f and "zerogpu.api_prefix" not in f
    flood = _facts(runs["info-flood"], "zerogpu")
    assert 0 < len(flood["zerogpu.endpoints"]) <= 100 and all(len(x) <= 200 for x in flood["zerogpu.endpoints"])
    bad_quota = _facts(runs["quota-wrong-types"], "zerogpu")
    assert "zerogpu.quota_base_s" not in bad_quota and "zerogpu.runs_remaining" not in bad_quota
    ok_quota = _facts(runs["quota-hostile-values"], "zerogpu")
    assert ok_quota["zerogpu.quota_current_s"] == 250 and "zerogpu.runs_remaining" not in ok_quota
    queue = _facts(runs["queue-wrong-types"], "zerogpu")
    assert queue["zerogpu.completed_ok"] is False  # `"success": "yes"` is not a success


def test_hardware_and_sdk_of_a_wrong_type_skip_the_probe_with_a_reason():
    with Simulator(ZERO) as sim:
        import httpx

        sid = sim.space_ids[0]
        info = httpx.get(f"{sim.endpoint}/api/spaces/{sid}", timeout=30,
                         headers={"authorization": f"Bearer {sim.tokens['owner']}"}).json()
        info["runtime"]["hardware"] = {"current": ["zero-a10g"], "requested": {"x": "E" * 100_000}}
        info["sdk"] = ["gradio"] * 1000
        sim.scenario.faults[f"hub:GET /api/spaces/{sid}"] = {"fault": "status", "status": 200,
                                                              "body": json.dumps(info)}
        proc = subprocess.run([sys.executable, "-m", "hfdiag", "check", sid, "--endpoint", sim.endpoint, "--token",
                               sim.tokens["owner"], "--dns-server", sim.dns_server, "--status-url", sim.status_url,
                               "--timeout", "60", "--format", "json", "--quiet"],
                              capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=240)
    assert "Traceback" not in proc.stderr, proc.stderr[-500:]
    zero = _probes({"report": json.loads(proc.stdout)})["zerogpu"]
    assert zero["status"] == "skipped" and len(zero["error"]) < 200, zero
