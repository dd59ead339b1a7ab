"""A check survives the simulator going away mid-run and a hanging probe: the report still comes, the
failing probe is marked timeout/error, and every other probe's evidence is intact."""

import json
import subprocess
import sys
import time

from conftest import ROOT, cli_env

from hfdiag.sim import Simulator


def _cmd(sim, *extra):
    return [sys.executable, "-m", "hfdiag", "check", sim.space_ids[0], "--endpoint", sim.endpoint,
            "--token", sim.tokens["owner"], "--dns-server", sim.dns_server, "--status-url", sim.status_url,
            "--format", "json", "--quiet", *extra]


def _facts(report, probe):
    p = next(p for p in report["probes"] if p["probe"] == probe)
    return p, {f["key"]: f["value"] for f in p["facts"]}


def test_simulator_stopped_mid_run():
    sim = Simulator("healthy-gradio", overrides={"faults": {"hub:GET /api/spaces/*/logs/*": "silence"}})
    sim.start()
    try:
        proc = subprocess.Popen(_cmd(sim, "--timeout", "8"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=cli_env(), cwd=ROOT)
        # Wait (event-driven) until the route probe has been answered and the log streams are open.
        assert sim.requests.wait_for(
            lambda reqs: any("/logs/" in r.path for r in reqs) and any(r.role == "space" for r in reqs), 15)
        assert sim.requests.wait_for(lambda reqs: sum(1 for r in reqs if r.role == "space") >= 4, 15)
    finally:
        sim.stop()
    out, err = proc.communicate(timeout=30)
    report = json.loads(out)
    logs, _ = _facts(report, "logs")
    assert logs["status"] in ("error", "timeout") and logs["error"], logs
    space, space_facts = _facts(report, "space")
    assert space["status"] == "ok" and space_facts["space.stage"] == "RUNNING"
    route, route_facts = _facts(report, "route")
    assert route["status"] == "ok" and route_facts["route.app_ok"] == 4
    assert report["verdict"]["bucket"] != "proxy"  # a dead log stream is not evidence against the edge
    assert "Traceback" not in err


def test_hanging_probe_is_a_timeout_and_the_rest_is_intact(tmp_path):
    timeout = 6  # room for the other probes on a busy machine; the deadline is held relative to it
    phases = tmp_path / "phases.json"
    with Simulator("healthy-gradio", overrides={"faults": {"hub:GET /status/index.json": "silence"}}) as sim:
        start = time.monotonic()
        cmd = _cmd(sim, "--timeout", str(timeout))
        cmd[1:3] = [str(ROOT / "bench" / "_phases.py"), str(phases)]  # the same CLI, its probing phase timed
        proc = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=60)
        wall = time.monotonic() - start
    report = json.loads(proc.stdout)
    status, _ = _facts(report, "status")
    assert status["status"] == "timeout", status
    for name in ("space", "route", "logs", "auth"):
        p, _ = _facts(report, name)
        assert p["status"] == "ok", p
    took = json.loads(phases.read_text())
    assert took["check_many_s"] <= timeout + 1, took  # the deadline holds (+1 s contract)
    assert wall >= took["check_many_s"]


def test_ctrl_c_prints_the_partial_report():
    import signal

    with Simulator("healthy-gradio", overrides={"faults": {"hub:GET /api/spaces/*/logs/*": "silence"}}) as sim:
        proc = subprocess.Popen(_cmd(sim, "--timeout", "20"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=cli_env(), cwd=ROOT)
        # Event-driven: the route probe has been answered and the (silent) log streams are open.
        assert sim.requests.wait_for(lambda reqs: sum(1 for r in reqs if r.role == "space") >= 4
                                     and any("/logs/" in r.path for r in reqs), 15)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    report = json.loads(out)
    logs, _ = _facts(report, "logs")
    assert logs["status"] == "error" and "interrupted" in logs["error"]
    space, space_facts = _facts(report, "space")  # finished long before the signal: its evidence is kept
    assert space["status"] == "ok" and space_facts["space.stage"] == "RUNNING"
    route, route_facts = _facts(report, "route")  # answered just before the signal: done, or cut short
    assert (route["status"] == "ok" and route_facts["route.app_ok"] == 4) or "interrupted" in route["error"]
    assert "Traceback" not in err and "interrupted" in err
