"""Spaces edge against hub-spaces-api.md §9: x-proxied-* only on app responses, edge-made 5xx, nonce in run log."""

from __future__ import annotations

import re

from .conftest import auth

PROXIED = ("x-proxied-host", "x-proxied-replica", "x-proxied-path")


def _edge_made(r):
    return all(h not in r.headers for h in PROXIED) and "x-request-id" not in r.headers


def test_app_response_headers_and_nonce(sim_factory, client):
    sim = sim_factory("healthy-gradio")
    r = client.get(sim.space_url() + "/?hfdiag_nonce=0123456789ab")
    assert r.status_code == 200 and r.headers["server"] == "uvicorn"
    assert re.fullmatch(r"http://10\.\d+\.\d+\.\d+", r.headers["x-proxied-host"])
    assert re.fullmatch(r"[a-z0-9]{8}-[a-z0-9]{5}", r.headers["x-proxied-replica"])
    assert r.headers["x-proxied-path"] == "/"
    assert re.fullmatch(r"[A-Za-z0-9]{6}", r.headers["x-request-id"])
    assert r.headers["link"] == '<https://huggingface.co/spaces/simuser/hello-gradio>;rel="canonical"'
    assert r.headers["access-control-expose-headers"] == "*"
    access = [line for line in sim.run_log() if "hfdiag_nonce=0123456789ab" in line]
    assert len(access) == 1
    assert re.fullmatch(r'INFO:     10\.16\.\d+\.\d+:\d+ - "GET /\?hfdiag_nonce=0123456789ab HTTP/1\.1" 200 OK',
                        access[0])


def test_cors_preflight_answered_by_edge(sim_factory, client):
    sim = sim_factory("healthy-gradio")
    r = client.request("OPTIONS", sim.space_url() + "/gradio_api/queue/join",
                       headers={"origin": "https://example.org", "access-control-request-method": "POST"})
    assert r.status_code == 200 and r.headers["content-length"] == "0"
    assert r.headers["access-control-allow-origin"] == "https://example.org"
    assert r.headers["access-control-max-age"] == "600"
    assert _edge_made(r)
    assert not any("OPTIONS" in line for line in sim.run_log())


def test_sleeping_space_edge_503(sim_factory, client):
    sim = sim_factory("sleeping-space")
    r = client.get(sim.space_url() + "/?hfdiag_nonce=aaaaaaaaaaaa")
    assert r.status_code == 503 and _edge_made(r)
    assert sim.run_log() == []


def test_unreachable_paused_and_runtime_error(sim_factory, client):
    for name, status in (("app-module-not-found", 502), ("builder-paused-restart-503", 503),
                         ("runtime-sm120-no-kernel-image", 502)):
        sim = sim_factory(name)
        before = len(sim.run_log())
        r = client.get(sim.space_url() + "/?hfdiag_nonce=bbbbbbbbbbbb")
        assert r.status_code == status and _edge_made(r), name
        assert len(sim.run_log()) == before
    s = sim_factory("app-module-not-found", {"edge.unreachable_status": 504})
    assert client.get(s.space_url() + "/").status_code == 504


def test_proxy_edge_503_app_alive(sim_factory, client):
    sim = sim_factory("proxy-edge-503-app-alive", {"logs.stream_open": False})
    rt = client.get(f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}/runtime").json()
    assert rt["stage"] == "RUNNING"
    assert any("Application Startup" in line for line in sim.run_log())
    for i in range(5):
        r = client.get(sim.space_url() + f"/?hfdiag_nonce=cccccccccc{i:02d}")
        assert r.status_code == 503 and _edge_made(r)
    assert not any("cccccccccc" in line for line in sim.run_log())


def test_intermittent_drop_and_replicas(sim_factory, client):
    sim = sim_factory("proxy-intermittent-drop")
    seen, replicas, statuses = {"app": 0, "edge": 0}, set(), set()
    for i in range(40):
        nonce = f"d{i:011d}"
        r = client.get(sim.space_url() + f"/?hfdiag_nonce={nonce}")
        in_log = any(nonce in line for line in sim.run_log())
        if "x-proxied-host" in r.headers:
            seen["app"] += 1
            replicas.add(r.headers["x-proxied-replica"])
            assert r.status_code == 200 and in_log
        else:
            seen["edge"] += 1
            statuses.add(r.status_code)
            assert _edge_made(r) and not in_log
    assert seen["app"] > 10 and seen["edge"] > 5
    assert statuses <= {502, 504} and len(replicas) == 2


def test_app_exception_500(sim_factory, client):
    sim = sim_factory("app-exception-500")
    r = client.get(sim.space_url() + "/?hfdiag_nonce=eeeeeeeeeeee")
    assert r.status_code == 500 and r.text == "Internal Server Error"
    assert "x-proxied-host" in r.headers and "x-proxied-replica" in r.headers
    log = sim.run_log()
    i = next(k for k, line in enumerate(log) if "hfdiag_nonce=eeeeeeeeeeee" in line)
    assert log[i].endswith('" 500 Internal Server Error')
    assert log[i + 1] == "ERROR:    Exception in ASGI application"
    assert log[i + 2] == "Traceback (most recent call last):"
    assert log[-1] == "ZeroDivisionError: division by zero"
    assert client.get(sim.space_url() + "/config").status_code == 200


def test_latency_knob_and_request_markers(sim_factory, client):
    import time
    sim = sim_factory("healthy-gradio", {"edge.latency_ms": 300, "app.request_markers": True})
    t = time.monotonic()
    client.get(sim.space_url() + "/?hfdiag_nonce=ffffffffffff")
    assert time.monotonic() - t >= 0.29
    assert 'hfdiag-marker {"event":"request","nonce":"ffffffffffff","path":"/"}' in sim.run_log()


def test_request_recording(sim_factory, client):
    sim = sim_factory("healthy-gradio")
    client.get(sim.space_url() + "/config", headers={**auth(sim), "x-ip-token": "abc"})
    rec = sim.requests.find(role="space", path_contains="/config")[-1]
    assert rec.has_authorization and rec.has_x_ip_token and rec.auth == "owner"
    assert rec.space_id == sim.space_ids[0] and rec.method == "GET"
    assert "authorization" not in rec.headers and "x-ip-token" not in rec.headers
