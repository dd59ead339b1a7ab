"""Fault knobs (issue 8 item 1) behave as named."""

from __future__ import annotations

import gzip
import json
import time

import dns.resolver
import httpx
import pytest

from .conftest import auth


def _rt(sim):
    return f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}/runtime"


def test_connection_reset(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"faults": {"hub:/api/spaces/*/runtime": "reset"}})
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)) as ei:
        client.get(_rt(sim))
    assert "reset" in str(ei.value).lower() or "disconnected" in str(ei.value).lower() or ei.value
    assert client.get(f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}").status_code == 200  # other routes intact


def test_accept_then_silence(sim_factory):
    sim = sim_factory("healthy-gradio", {"faults": {"space:/config": "silence"}})
    with httpx.Client(timeout=httpx.Timeout(2.0, read=0.3)) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.get(sim.space_url() + "/config")


def test_slow_drip(sim_factory):
    sim = sim_factory("healthy-gradio", {"faults": {"hub:/api/whoami-v2": {"fault": "drip", "rate": 20}}})
    with httpx.Client(timeout=5) as c:
        with c.stream("GET", f"{sim.endpoint}/api/whoami-v2", headers=auth(sim)) as r:
            assert r.status_code == 200
            t = time.monotonic()
            got = b""
            for chunk in r.iter_raw():
                got += chunk
                if len(got) >= 6:
                    break
            assert time.monotonic() - t >= 0.2  # 6 bytes at 20 B/s
    default = sim_factory("healthy-gradio", {"faults": {"hub:/api/whoami-v2": "drip"}})
    with httpx.Client(timeout=httpx.Timeout(5, read=0.5)) as c:
        with pytest.raises(httpx.ReadTimeout):  # 1 byte/s: the second byte takes a second
            with c.stream("GET", f"{default.endpoint}/api/whoami-v2", headers=auth(default)) as r:
                for _ in r.iter_raw():
                    pass


def test_endless_sse_keepalives(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"faults": {"hub:/api/spaces/*/logs/*": "sse_keepalive"}})
    with client.stream("GET", f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}/logs/run", headers=auth(sim)) as r:
        lines = []
        for line in r.iter_lines():
            lines.append(line)
            if len(lines) >= 20:
                break
    assert set(lines) <= {"data:", ""} and lines.count("data:") >= 10


def test_huge_malformed_invalid_utf8(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"faults": {
        "hub:/api/spaces/*/runtime": "huge_json", "hub:/api/whoami-v2": "malformed_json",
        "hub:/api/spaces/zero-gpu/quota": "invalid_utf8"}})
    r = client.get(_rt(sim))
    assert int(r.headers["content-length"]) == len(r.content) == 50 * 1024 * 1024
    assert json.loads(r.content)["stage"] == "RUNNING"
    with pytest.raises(ValueError):
        client.get(f"{sim.endpoint}/api/whoami-v2").json()
    q = client.get(f"{sim.endpoint}/api/spaces/zero-gpu/quota", headers=auth(sim))
    with pytest.raises(UnicodeDecodeError):
        q.content.decode("utf-8")


def test_gzip_bomb(sim_factory):
    sim = sim_factory("healthy-gradio", {"faults": {"hub:/api/whoami-v2": {"fault": "gzip_bomb",
                                                                            "size": 64 * 1024 * 1024}}})
    with httpx.Client(timeout=5) as c:
        with c.stream("GET", f"{sim.endpoint}/api/whoami-v2") as r:
            assert r.headers["content-encoding"] == "gzip"
            compressed = int(r.headers["content-length"])
            raw = b"".join(r.iter_raw())
    assert len(raw) == compressed < 1024 * 1024
    assert len(gzip.decompress(raw)) == 64 * 1024 * 1024


def test_redirect_loop(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"faults": {"hub:/api/spaces/*/runtime": "redirect_loop"}})
    with pytest.raises(httpx.TooManyRedirects):
        client.get(_rt(sim), follow_redirects=True)
    assert len(sim.requests.find(role="hub", path_contains="/runtime")) == 21


def test_redirect_foreign_records_authorization(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"faults": {"hub:/api/spaces/*/runtime": "redirect_foreign"}})
    r = client.get(_rt(sim), headers=auth(sim))
    assert r.status_code == 302 and httpx.URL(r.headers["location"]).host == "localhost"
    followed = client.get(_rt(sim), headers=auth(sim), follow_redirects=True)
    assert followed.json() == {"foreign": True, "authorization_received": False}  # httpx strips it
    leak = client.get(r.headers["location"], headers=auth(sim))  # a client that forwards the token by hand
    assert leak.json()["authorization_received"] is True
    rec = sim.requests.find(role="foreign")
    assert [x.has_authorization for x in rec] == [False, True]


def test_times_status_delay_and_space_selector(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"faults": {
        "space=simuser/hello-gradio:GET /config": {"fault": "status", "status": 502, "times": 1},
        "hub:/api/spaces/*/runtime": "delay:300"}})
    assert client.get(sim.space_url() + "/config").status_code == 502
    assert client.get(sim.space_url() + "/config").status_code == 200
    t = time.monotonic()
    assert client.get(_rt(sim)).status_code == 200
    assert time.monotonic() - t >= 0.29


def test_dns_drop_fault(sim_factory):
    sim = sim_factory("healthy-gradio", {"faults": {"dns:*.hf.space": "drop"}})
    r = dns.resolver.Resolver(configure=False)
    r.nameservers, r.port, r.lifetime, r.timeout = ["127.0.0.1"], sim.dns_port, 0.3, 0.3
    with pytest.raises(dns.resolver.LifetimeTimeout):
        r.resolve("simuser-hello-gradio.hf.space", "A")
    assert r.resolve("huggingface.co", "A")[0].address == "127.0.0.1"


def test_hub_latency(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"hub.latency_ms": 250})
    t = time.monotonic()
    client.get(_rt(sim))
    assert time.monotonic() - t >= 0.24
