"""Gradio HTTP API against gradio-zerogpu.md §1: prefixes, config, queue join/data, /call framing."""

from __future__ import annotations

import json

from .conftest import queue_messages, read_sse, run_gradio


def test_config_prefix_by_version(sim_factory, client):
    for version, prefix in (("5.49.1", "/gradio_api"), ("6.25.0", "/gradio_api"), ("4.44.1", None)):
        sim = sim_factory("healthy-gradio", {"gradio.version": version})
        cfg = client.get(sim.space_url() + "/config").json()
        assert cfg["version"] == version and cfg["protocol"] == "sse_v3" and cfg["space_id"] == sim.space_ids[0]
        assert cfg.get("api_prefix") == prefix
        assert cfg["dependencies"][0]["api_name"] == "predict"
        p = prefix or ""
        info = client.get(sim.space_url() + f"{p}/info").json()
        assert set(info) == {"named_endpoints", "unnamed_endpoints"} and "/predict" in info["named_endpoints"]
        key = "api_visibility" if version.startswith("6") else "show_api"
        assert key in info["named_endpoints"]["/predict"]
        if prefix:  # no alias at the old root paths
            assert client.post(sim.space_url() + "/queue/join", json={"data": []}).status_code == 404
            assert client.get(sim.space_url() + "/info").status_code == 404


def test_join_errors(sim_factory, client):
    sim = sim_factory("healthy-gradio")
    url = sim.space_url() + "/gradio_api/queue/join"
    r = client.post(url, json={"data": ["x"], "fn_index": 0})
    assert r.status_code == 400 and r.json() == {"detail": "Session hash not found."}
    r = client.post(url, json={"data": ["x"], "session_hash": "s"})
    assert r.status_code == 400 and r.json() == {"detail": "No function index provided."}
    full = sim_factory("healthy-gradio", {"gradio.queue_full": True})
    r = client.post(full.space_url() + "/gradio_api/queue/join", json={"data": ["x"], "fn_index": 0,
                                                                        "session_hash": "s"})
    assert r.status_code == 503 and r.json() == {"detail": "Queue is full. Max size is 1 and size is 1."}


def test_queue_success_sequence(sim_factory, client):
    sim = sim_factory("healthy-gradio")
    host = sim.space_url()
    r = client.post(host + "/gradio_api/queue/join", json={"data": ["hi"], "fn_index": 0, "session_hash": "abc"})
    eid = r.json()["event_id"]
    assert len(eid) == 32 and int(eid, 16) >= 0
    resp, frames = read_sse(client, host + "/gradio_api/queue/data?session_hash=abc")
    assert resp.headers["content-type"].startswith("text/event-stream")
    msgs = queue_messages(frames)
    assert [m["msg"] for m in msgs] == ["estimation", "process_starts", "process_completed", "close_stream"]
    est = msgs[0]
    assert est["event_id"] == eid and est["rank"] == 0 and est["queue_size"] == 1 and "rank_eta" in est
    done = msgs[2]
    assert done["success"] is True and done["output"]["data"] == ["ok"]
    assert {"data", "is_generating", "duration", "average_duration"} <= set(done["output"])
    assert msgs[3] == {"msg": "close_stream", "event_id": None}


def test_heartbeats_during_processing(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"gradio.heartbeat_s": 0.05, "gradio.process_s": 0.2})
    msgs = run_gradio(client, sim)
    kinds = [m["msg"] for m in msgs]
    assert kinds.count("heartbeat") >= 2
    assert {"msg": "heartbeat", "event_id": None} in msgs
    assert kinds[-2:] == ["process_completed", "close_stream"]


def test_unknown_session(sim_factory, client):
    for version, has_flag in (("5.49.1", True), ("5.30.0", False)):
        sim = sim_factory("healthy-gradio", {"gradio.version": version})
        _, frames = read_sse(client, sim.space_url() + "/gradio_api/queue/data?session_hash=nope")
        (m,) = queue_messages(frames)
        assert m["msg"] == "unexpected_error" and m["success"] is False and m["message"] == "404: Not Found"
        assert ("session_not_found" in m) is has_flag


def test_raw_exception_error_null_unless_show_error(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"gradio.fn_error": "ValueError: bad input"})
    done = run_gradio(client, sim)[-2]
    assert done["msg"] == "process_completed" and done["success"] is False
    assert done["output"] == {"error": None} and done["title"] == "Error"
    assert sim.run_log()[-1] == "ValueError: bad input"
    shown = sim_factory("healthy-gradio", {"gradio.fn_error": "ValueError: bad input", "gradio.show_error": True,
                                           "gradio.version": "6.25.0"})
    assert run_gradio(client, shown)[-2]["output"] == {"error": "ValueError: bad input", "visible": True}


def _call(client, sim, prefix="/gradio_api", headers=None):
    host = sim.space_url()
    r = client.post(host + f"{prefix}/call/predict", json={"data": ["hi"]}, headers=headers or {})
    assert r.status_code == 200
    eid = r.json()["event_id"]
    resp, frames = read_sse(client, host + f"{prefix}/call/predict/{eid}", headers=headers or {})
    return frames


def test_call_complete_and_heartbeat(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"gradio.heartbeat_s": 0.05, "gradio.process_s": 0.12})
    frames = _call(client, sim)
    assert "event: heartbeat\ndata: null" in frames
    assert frames[-1] == 'event: complete\ndata: ["ok"]'
    old = sim_factory("healthy-gradio", {"gradio.version": "4.44.1"})
    assert _call(client, old, prefix="")[-1] == 'event: complete\ndata: ["ok"]'


def test_call_error_framing_by_version(sim_factory, client):
    knobs = {"zerogpu.outcome": "worker_aborted"}
    for version, expect in (("6.12.0", None), ("5.49.1", None), ("6.13.0", "dict")):
        sim = sim_factory("healthy-zerogpu", {**knobs, "gradio.version": version})
        last = _call(client, sim)[-1]
        head, data = last.split("\n")
        assert head == "event: error"
        if expect is None:
            assert data == "data: null"
        else:
            assert json.loads(data[6:]) == {"error": "GPU task aborted", "duration": 10, "visible": True,
                                            "title": "ZeroGPU worker error"}
    raw = sim_factory("healthy-gradio", {"gradio.fn_error": "ValueError: x", "gradio.version": "6.25.0"})
    assert _call(client, raw)[-1] == 'event: error\ndata: {"error":null}'
