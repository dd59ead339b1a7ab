"""Lifecycle, public API, scenario validation, CLI entry points."""

from __future__ import annotations

import io
import os
import re
import threading

import httpx
import pytest
import yaml

from hfdiag.sim import Simulator, list_scenarios, load_scenario
from hfdiag.sim.scenario import HOPS, KNOBS, ScenarioError, parse_scenario

REQUIRED = """healthy-gradio healthy-zerogpu sleeping-space builder-empty-build-log builder-scheduling-failure
builder-paused-restart-503 proxy-edge-503-app-alive proxy-intermittent-drop zerogpu-no-gpu-charged
zerogpu-no-gpu-refunded zerogpu-quota-exceeded zerogpu-quota-exceeded-pro zerogpu-quota-exceeded-free
zerogpu-quota-exceeded-anonymous zerogpu-runs-limit zerogpu-xlarge-2x zerogpu-identity-missing-ip-token
zerogpu-worker-error-sm120 transfer-xet-stall transfer-cdn-throttled transfer-signed-range-403
transfer-mid-body-close transfer-cdn-ignores-range egress-dns-servfail egress-dns-nxdomain egress-dns-timeout
egress-port-blocked egress-challenge-page runtime-sm120-no-kernel-image app-module-not-found app-exception-500
fleet""".split()


def _fds():
    return len(os.listdir("/proc/self/fd"))


def test_fifty_start_stop_cycles_leak_nothing():
    names = [s.name for s in list_scenarios() if s.name != "fleet"]
    with Simulator("healthy-gradio") as warm:  # warm imports/caches
        httpx.get(warm.endpoint + "/api/whoami-v2")
    threads, fds = threading.active_count(), _fds()
    ports = []
    for i in range(50):
        with Simulator(names[i % len(names)]) as sim:
            with httpx.Client() as c:
                assert c.get(sim.endpoint + f"/api/spaces/{sim.space_ids[0]}/runtime").status_code in (200, 401)
                c.get(sim.space_url() + "/config")
            ports.append(int(sim.endpoint.rsplit(":", 1)[1]))
    assert threading.active_count() == threads
    assert _fds() == fds
    for port in ports[-5:]:  # nothing listens any more
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)


def test_stop_with_open_streams_is_quick():
    import time
    sim = Simulator("healthy-gradio", overrides={"faults": {"hub:/api/whoami-v2": "silence"}}).start()
    results = []

    def hang():
        try:
            httpx.get(sim.endpoint + "/api/whoami-v2", timeout=10)
        except httpx.HTTPError as exc:
            results.append(type(exc).__name__)

    t = threading.Thread(target=hang)
    t.start()
    while not sim.requests.find(path_contains="whoami"):
        time.sleep(0.01)
    t0 = time.monotonic()
    sim.stop()
    t.join(5)
    assert time.monotonic() - t0 < 3 and results  # the client saw the connection go away


def test_public_api_shape():
    with Simulator("healthy-gradio", overrides={"edge.latency_ms": 0}) as sim:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim.endpoint)
        assert sim.status_url == sim.endpoint + "/status/index.json"
        assert re.fullmatch(r"127\.0\.0\.1:\d+", sim.dns_server)
        assert sim.space_ids == ["simuser/hello-gradio"]
        assert set(sim.tokens) == {"owner", "other", "pro"}
        assert all(re.fullmatch(r"hf_[A-Za-z]{34}", t) for t in sim.tokens.values())
        assert sim.check_command() == (f"hfdiag check simuser/hello-gradio --endpoint {sim.endpoint} "
                                       f"--dns-server {sim.dns_server} --status-url {sim.status_url}")
        assert sim.check_command(token="owner").startswith(f"HF_TOKEN={sim.tokens['owner']} hfdiag check ")


def test_every_scenario_is_valid_and_complete():
    scs = {s.name: s for s in list_scenarios()}
    assert set(REQUIRED) <= set(scs)
    for s in scs.values():
        assert s.description and "\n" not in s.description
        hop = s.expect["first_missing_hop"]
        assert (hop is None) == (s.expect["bucket"] in ("healthy", "app", "inconclusive")) or hop is not None
        assert s.expect["exit"] in (0, 1, 3), s.name  # every shipped scenario declares its exit status
        if hop:
            chain, h = hop.split(".")
            assert h in HOPS[chain]
    assert load_scenario("healthy-gradio").spaces[0].id == "simuser/hello-gradio"


def test_scenario_validation_errors(tmp_path):
    base = {"name": "x", "description": "d", "expect": {"bucket": "healthy"}, "spaces": [{"id": "a/b"}]}
    with pytest.raises(ScenarioError, match=r"unknown knob 'edge.latncy_ms' \(did you mean 'edge.latency_ms'\?\)"):
        parse_scenario({**base, "knobs": {"edge.latncy_ms": 3}})
    with pytest.raises(ScenarioError, match="must be a number"):
        parse_scenario({**base, "knobs": {"edge.latency_ms": "fast"}})
    with pytest.raises(ScenarioError, match="expect.bucket"):
        parse_scenario({**base, "expect": {"bucket": "nope"}})
    with pytest.raises(ScenarioError, match="first_missing_hop"):
        parse_scenario({**base, "expect": {"bucket": "proxy", "first_missing_hop": "request.nowhere"}})
    with pytest.raises(ScenarioError, match="bad fault selector"):
        parse_scenario({**base, "faults": {"nowhere:/x": "reset"}})
    with pytest.raises(ScenarioError, match="unknown fault"):
        parse_scenario({**base, "faults": {"hub:/x": "explode"}})
    with pytest.raises(ScenarioError, match="unknown key 'stagee'"):
        parse_scenario({**base, "spaces": [{"id": "a/b", "stagee": "RUNNING"}]})
    with pytest.raises(ScenarioError, match="scenario-wide"):
        parse_scenario({**base, "spaces": [{"id": "a/b", "knobs": {"hub.latency_ms": 1}}]})
    with pytest.raises(ScenarioError, match="unknown knob"):
        Simulator("healthy-gradio", overrides={"no.such": 1})
    with pytest.raises(ScenarioError, match="unknown scenario"):
        load_scenario("healthy-gradoi")
    p = tmp_path / "custom.yaml"
    p.write_text(yaml.safe_dump({**base, "name": "custom"}))
    assert load_scenario(str(p)).name == "custom"
    assert "edge.latency_ms" in KNOBS


def test_cli_serve_and_list():
    from hfdiag.sim.cli import print_list, serve
    out = io.StringIO()
    print_list(out)
    # one line per scenario, then the command that reproduces it
    assert "healthy-gradio" in out.getvalue() and len(out.getvalue().splitlines()) == 2 * len(list_scenarios())
    assert "$ hfdiag check --sim builder-paused-restart-503 --restart" in out.getvalue()
    buf = io.StringIO()
    stop = threading.Event()
    th = threading.Thread(target=serve, args=("sleeping-space", None, buf, stop))
    th.start()
    while "Press Ctrl-C" not in buf.getvalue():
        th.join(0.02)
    text = buf.getvalue()
    m = re.search(r"HF_TOKEN=hf_\w+ hfdiag check simuser/sleepy --endpoint (\S+) --dns-server \S+ --status-url \S+",
                  text)
    assert m
    assert httpx.get(m.group(1) + "/api/spaces/simuser/sleepy/runtime").json()["stage"] == "SLEEPING"
    stop.set()
    th.join(5)
    assert not th.is_alive()
