"""Hub API against hub-spaces-api.md: info, runtime, logs SSE, whoami, errors, rate limits, lifecycle, status."""

from __future__ import annotations

import json
import re

from hfdiag.sim.state import subdomain_for

from .conftest import auth, read_sse

RID = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}(;.+)?$")


def test_space_info_fields(sim_factory, client):
    sim = sim_factory("healthy-gradio")
    sid = sim.space_ids[0]
    r = client.get(f"{sim.endpoint}/api/spaces/{sid}", headers={"x-amzn-trace-id": "trace-123"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert RID.match(r.headers["x-request-id"]) and r.headers["x-request-id"].endswith(";trace-123")
    assert r.headers["x-powered-by"] == "huggingface-moon"
    assert "X-Xet-Hash" in r.headers["access-control-expose-headers"]
    info = r.json()
    assert info["id"] == sid and info["author"] == "simuser"
    assert re.fullmatch(r"[0-9a-f]{40}", info["sha"]) and re.fullmatch(r"[0-9a-f]{24}", info["_id"])
    assert info["subdomain"] == subdomain_for(sid) == "simuser-hello-gradio"
    assert info["host"] == sim.space_url() and info["host"].startswith("http://127.0.0.1:")
    assert info["sdk"] == "gradio" and info["private"] is False
    assert info["cardData"]["sdk"] == "gradio" and info["cardData"]["app_file"] == "app.py"
    assert {"rfilename": "app.py"} in info["siblings"]
    assert info["runtime"]["stage"] == "RUNNING"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", info["createdAt"])
    blobs = client.get(f"{sim.endpoint}/api/spaces/{sid}?blobs=true").json()["siblings"]
    assert all(isinstance(s["size"], int) and "blobId" in s for s in blobs)
    exp = client.get(f"{sim.endpoint}/api/spaces/{sid}?expand=sdk&expand=private").json()
    assert set(exp) == {"_id", "id", "sdk", "private"}
    assert client.get(f"{sim.endpoint}/api/spaces/{sid}/host").json() == {"subdomain": info["subdomain"],
                                                                          "host": info["host"]}


def test_runtime_running_and_building_shapes(sim_factory, client):
    sim = sim_factory("healthy-gradio")
    rt = client.get(f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}/runtime").json()
    assert rt["stage"] == "RUNNING"
    assert rt["hardware"] == {"current": "cpu-basic", "requested": "cpu-basic"}
    assert rt["gcTimeout"] == 172800 and rt["storage"] is None and rt["devMode"] is False
    assert rt["replicas"] == {"current": 1, "requested": 1}
    assert rt["domains"] == [{"domain": "simuser-hello-gradio.hf.space", "stage": "READY"}]
    assert "errorMessage" not in rt
    b = sim_factory("builder-empty-build-log")
    rt = client.get(f"{b.endpoint}/api/spaces/{b.space_ids[0]}/runtime").json()
    # the recorded BUILDING body: current null, replicas {requested} only
    assert rt == {"stage": "BUILDING", "hardware": {"current": None, "requested": "cpu-basic"}, "storage": None,
                  "gcTimeout": 172800, "replicas": {"requested": 1}, "devMode": False,
                  "domains": [{"domain": "simuser-stuck-build.hf.space", "stage": "READY"}]}


def test_runtime_error_message_and_sleeping(sim_factory, client):
    sim = sim_factory("builder-scheduling-failure")
    rt = client.get(f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}/runtime").json()
    assert rt["stage"] == "RUNTIME_ERROR"
    assert rt["errorMessage"] == "Scheduling failure: not enough hardware capacity"
    assert rt["hardware"]["requested"] == "l4x1"
    s = sim_factory("sleeping-space")
    assert client.get(f"{s.endpoint}/api/spaces/{s.space_ids[0]}/runtime").json()["stage"] == "SLEEPING"
    u = sim_factory("healthy-gradio", {"edge.proxy_mode": None})
    u.space().stage = "SOME_FUTURE_STAGE"  # unknown custom stages pass through
    assert client.get(f"{u.endpoint}/api/spaces/{u.space_ids[0]}/runtime").json()["stage"] == "SOME_FUTURE_STAGE"


def test_error_shapes(sim_factory, client):
    sim = sim_factory("healthy-gradio")
    url = f"{sim.endpoint}/api/spaces/simuser/does-not-exist"
    anon = client.get(url)
    assert anon.status_code == 401 and anon.json() == {"error": "Invalid username or password."}
    assert "x-error-code" not in anon.headers
    assert anon.headers["x-error-message"] == "Invalid username or password."
    authed = client.get(url, headers=auth(sim))
    assert authed.status_code == 404 and authed.headers["x-error-code"] == "RepoNotFound"
    bad = client.get(url, headers={"authorization": "Bearer hf_notARealToken"})
    assert bad.status_code == 401 and bad.json() == {"error": "Invalid credentials in Authorization header"}
    for r in (anon, authed, bad):
        assert RID.match(r.headers["x-request-id"])
        assert r.headers["ratelimit-policy"] == '"fixed window";"api";q=500;w=300'
        assert re.fullmatch(r'"api";r=\d+;t=\d+', r.headers["ratelimit"])


def test_private_space_visible_to_owner_only(sim_factory, client):
    from hfdiag.sim.scenario import parse_scenario
    sc = parse_scenario({"name": "priv", "description": "private", "expect": {"bucket": "healthy"},
                         "spaces": [{"id": "simuser/secret", "private": True}]})
    from hfdiag.sim import Simulator
    with Simulator(sc) as sim:
        url = f"{sim.endpoint}/api/spaces/simuser/secret"
        assert client.get(url).status_code == 401
        other = client.get(url, headers=auth(sim, "other"))
        assert other.status_code == 404 and other.headers["x-error-code"] == "RepoNotFound"
        assert client.get(url, headers=auth(sim)).json()["private"] is True
        # edge: private Space answers 404 without x-proxied-* unless the owner's token is sent
        e = client.get(sim.space_url() + "/")
        assert e.status_code == 404 and "x-proxied-host" not in e.headers
        assert "x-proxied-host" in client.get(sim.space_url() + "/", headers=auth(sim)).headers


def test_rate_limit_429(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"hub.rate_limit": 3, "hub.rate_window_s": 60})
    url = f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}/runtime"
    seen = [client.get(url) for _ in range(4)]
    assert [r.status_code for r in seen] == [200, 200, 200, 429]
    assert seen[2].headers["ratelimit"].startswith('"api";r=0;t=')
    last = seen[3]
    assert re.fullmatch(r'"api";r=0;t=\d+', last.headers["ratelimit"])
    assert last.headers["ratelimit-policy"] == '"fixed window";"api";q=3;w=60'
    assert "error" in last.json()
    # another caller (a token) has its own window
    assert client.get(url, headers=auth(sim)).status_code == 200


def test_logs_sse_framing_keepalive_and_replay(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"logs.keepalive_s": 0.05})
    url = f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}/logs/run"
    n = len(sim.run_log())
    r, frames = read_sse(client, url, max_frames=n + 2, headers=auth(sim))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    data = [f for f in frames if f != "data:"]
    assert len(data) == n
    for f in data:
        assert f.startswith('data: {"data":') and "\n" not in f
        ev = json.loads(f[6:])
        assert set(ev) == {"data", "timestamp"} and ev["data"].endswith("\n")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", ev["timestamp"])
    assert json.loads(data[0][6:])["data"].startswith("===== Application Startup at ")
    assert "data:" in frames[n:]  # empty keep-alive after the replay
    # reconnect: the whole buffer is replayed from the start
    _, again = read_sse(client, url, max_frames=n, headers=auth(sim))
    assert again == data


def test_logs_stream_end_tail_and_live_lines(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"logs.stream_open": False})
    url = f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}/logs/build"
    _, frames = read_sse(client, url, headers=auth(sim))
    lines = [json.loads(f[6:])["data"] for f in frames]
    assert re.fullmatch(r"===== Build Queued at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d / Commit SHA: [0-9a-f]{7} =====\n",
                        lines[0])
    assert any(line.startswith("--> FROM docker.io/library/python") for line in lines)
    _, tail = read_sse(client, url + "?tail=2", headers=auth(sim))
    assert [json.loads(f[6:])["data"] for f in tail] == lines[-2:]
    live = sim_factory("healthy-gradio", {"logs.keepalive_s": 30})
    lurl = f"{live.endpoint}/api/spaces/{live.space_ids[0]}/logs/run"
    n = len(live.run_log())
    with client.stream("GET", lurl, headers=auth(live)) as r:
        it = r.iter_lines()
        got = 0
        while got < n:
            if next(it).startswith("data: {"):
                got += 1
        live.append_log("a fresh line")
        line = next(it)
        while not line.startswith("data: {"):
            line = next(it)
        assert json.loads(line[6:])["data"] == "a fresh line\n"


def test_logs_auth_errors(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"logs.stream_open": False})
    url = f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}/logs/run"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=auth(sim, "other")).status_code == 403
    s404 = sim_factory("healthy-gradio", {"hub.logs_non_owner_status": 404})
    r = client.get(f"{s404.endpoint}/api/spaces/{s404.space_ids[0]}/logs/run", headers=auth(s404, "other"))
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"


def test_empty_build_log_and_scheduling_failure_logs(sim_factory, client):
    sim = sim_factory("builder-empty-build-log", {"logs.stream_open": False})
    _, frames = read_sse(client, f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}/logs/build", headers=auth(sim))
    assert len(frames) == 1 and "Build Queued at" in frames[0]
    _, run = read_sse(client, f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}/logs/run", headers=auth(sim))
    assert run == []
    s = sim_factory("builder-scheduling-failure", {"logs.stream_open": False})
    _, run = read_sse(client, f"{s.endpoint}/api/spaces/{s.space_ids[0]}/logs/run", headers=auth(s))
    assert run == []


def test_whoami_v2(sim_factory, client):
    sim = sim_factory("healthy-gradio")
    me = client.get(f"{sim.endpoint}/api/whoami-v2", headers=auth(sim)).json()
    assert me["type"] == "user" and me["name"] == "simuser" and me["isPro"] is False
    assert me["auth"]["type"] == "access_token" and me["auth"]["accessToken"]["role"] in ("read", "write")
    assert isinstance(me["orgs"], list)
    assert client.get(f"{sim.endpoint}/api/whoami-v2", headers=auth(sim, "pro")).json()["isPro"] is True
    bad = client.get(f"{sim.endpoint}/api/whoami-v2", headers={"authorization": "Bearer hf_bogus"})
    assert bad.status_code == 401 and bad.json()["error"] == "Invalid credentials in Authorization header"


def test_restart_pause_and_paused_restart_503(sim_factory, client):
    sim = sim_factory("healthy-gradio")
    base = f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}"
    assert client.post(f"{base}/restart").status_code == 401
    assert client.post(f"{base}/restart", headers=auth(sim, "other")).status_code == 403
    r = client.post(f"{base}/restart?factory=true", headers=auth(sim))
    assert r.status_code == 200 and r.json()["stage"] == "BUILDING" and r.json()["replicas"] == {"requested": 1}
    assert "Build Queued at" in sim.build_log()[-1]
    p = client.post(f"{base}/pause", headers=auth(sim))
    assert p.json()["stage"] == "PAUSED"
    b = sim_factory("builder-paused-restart-503")
    before = len(b.build_log())
    r = client.post(f"{b.endpoint}/api/spaces/{b.space_ids[0]}/restart", headers=auth(b))
    assert r.status_code == 503 and RID.match(r.headers["x-request-id"])
    assert len(b.build_log()) == before
    assert client.get(f"{b.endpoint}/api/spaces/{b.space_ids[0]}/runtime").json()["stage"] == "PAUSED"


def test_status_page_shape(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"status.state": "degraded",
                                         "status.incident": {"title": "Stalled downloads (Xet)", "resource": "CDN"}})
    body = client.get(sim.status_url).json()
    assert body["data"]["type"] == "status_page"
    assert body["data"]["attributes"]["aggregate_state"] == "degraded"
    kinds = {i["type"] for i in body["included"]}
    assert {"status_page_section", "status_page_resource", "status_report"} <= kinds
    res = {i["attributes"]["public_name"]: i["attributes"] for i in body["included"]
           if i["type"] == "status_page_resource"}
    assert "Website" in res and res["CDN"]["status"] == "degraded"
    for r in res.values():
        assert r["status"] in ("operational", "degraded", "downtime", "maintenance")
    reports = [i["attributes"] for i in body["included"] if i["type"] == "status_report"]
    assert any(r["title"] == "Stalled downloads (Xet)" and r["aggregate_state"] != "resolved" for r in reports)
    assert all(r["report_type"] in ("manual", "maintenance", "calculated") for r in reports)
    ok = sim_factory("healthy-gradio")
    assert client.get(ok.status_url).json()["data"]["attributes"]["aggregate_state"] == "operational"


def test_fleet_listing_and_scan(sim_factory, client):
    sim = sim_factory("fleet")
    assert len(sim.space_ids) == 201
    r = client.get(f"{sim.endpoint}/api/spaces?author=fleetuser&limit=100")
    assert len(r.json()) == 100 and 'rel="next"' in r.headers["link"]
    stages = set()
    for sid in sim.space_ids[1:]:
        stages.add(client.get(f"{sim.endpoint}/api/spaces/{sid}/runtime", headers=auth(sim)).json()["stage"])
    assert {"RUNNING", "SLEEPING", "RUNTIME_ERROR"} <= stages
    big = sim_factory("fleet", {"fleet.count": 20, "hub.rate_limit": 10})
    codes = [client.get(f"{big.endpoint}/api/spaces/{sid}/runtime").status_code for sid in big.space_ids]
    assert codes.count(429) == len(codes) - 10
