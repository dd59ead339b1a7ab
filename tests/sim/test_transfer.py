"""Transfer against xet-transfer-dns.md §1/§4: resolve headers, xet token, CAS, ranges, transfer knobs."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from hfdiag.sim.transfer import CHUNK, HDR

MODEL = "simuser/sim-model"


def _head(client, sim, path, **kw):
    return client.head(f"{sim.endpoint}/{path}", follow_redirects=False, **kw)


def test_resolve_xet_headers(sim_factory, client):
    sim = sim_factory("healthy-gradio")
    r = _head(client, sim, f"{MODEL}/resolve/main/model.safetensors")
    assert r.status_code == 302
    assert re.fullmatch(r"[0-9a-f]{40}", r.headers["x-repo-commit"])
    assert re.fullmatch(r'"[0-9a-f]{64}"', r.headers["x-linked-etag"])
    assert r.headers["x-linked-size"] == str(64 * 1024 * 1024) and r.headers["accept-ranges"] == "bytes"
    assert re.fullmatch(r"[0-9a-f]{64}", r.headers["x-xet-hash"])
    commit = r.headers["x-repo-commit"]
    assert r.links["xet-auth"]["url"] == f"{sim.endpoint}/api/models/{MODEL}/xet-read-token/{commit}"
    loc = httpx.URL(r.headers["location"])
    assert loc.host == "localhost" and loc.port == int(sim.urls["cdn"].rsplit(":", 1)[1])  # another host name
    assert "Signature=" in str(loc) and "/xet-bridge-us/" in loc.path


def test_resolve_lfs_git_prefixes_and_errors(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"transfer.backend": "lfs"})
    r = _head(client, sim, f"{MODEL}/resolve/main/model.safetensors")
    assert r.status_code == 302 and "x-xet-hash" not in r.headers and "link" not in r.headers
    assert httpx.URL(r.headers["location"]).host == "localhost"
    g = client.get(f"{sim.endpoint}/{MODEL}/resolve/main/config.json")
    assert g.status_code == 200 and g.json()["_sim"] is True and len(g.content) == 612
    assert re.fullmatch(r'"[0-9a-f]{40}"', g.headers["etag"]) and "x-repo-commit" in g.headers
    d = _head(client, sim, "datasets/simuser/sim-dataset/resolve/main/data/train.parquet")
    assert d.status_code == 302 and d.headers["x-linked-size"] == str(5 * 1024 * 1024)
    s = client.get(f"{sim.endpoint}/spaces/{sim.space_ids[0]}/resolve/main/app.py")
    assert s.status_code == 200 and s.headers["x-repo-commit"] == sim.space().sha
    missing = client.get(f"{sim.endpoint}/{MODEL}/resolve/main/nope.bin")
    assert missing.status_code == 404 and missing.headers["x-error-code"] == "EntryNotFound"
    assert re.fullmatch(r"[0-9a-f]{40}", missing.headers["x-repo-commit"])
    rev = client.get(f"{sim.endpoint}/{MODEL}/resolve/v9/config.json")
    assert rev.status_code == 404 and rev.headers["x-error-code"] == "RevisionNotFound"
    assert "x-repo-commit" in rev.headers
    assert client.get(f"{sim.endpoint}/simuser/nothing/resolve/main/a").status_code == 401


def test_follow_to_cdn_with_ranges(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"transfer.backend": "lfs"})
    url = f"{sim.endpoint}/{MODEL}/resolve/main/model.safetensors"
    r = client.get(url, headers={"range": "bytes=0-99", "authorization": f"Bearer {sim.tokens['owner']}"},
                   follow_redirects=True)
    assert r.status_code == 206 and r.headers["content-range"] == f"bytes 0-99/{64 * 1024 * 1024}"
    assert len(r.content) == 100
    cdn = sim.requests.find(role="cdn")[-1]
    assert cdn.has_authorization is False  # httpx drops Authorization across hosts
    again = client.get(url, headers={"range": "bytes=50-149"}, follow_redirects=True)
    assert again.content[:50] == r.content[50:]  # deterministic content
    loc = _head(client, sim, f"{MODEL}/resolve/main/model.safetensors").headers["location"]
    bad = client.get(loc, headers={"range": f"bytes={64 * 1024 * 1024}-"})
    assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{64 * 1024 * 1024}"
    unsigned = client.get(loc.split("?")[0], headers={"range": "bytes=0-1"})
    assert unsigned.status_code == 403


def test_10gb_file_served_by_ranges(sim_factory, client):
    sim = sim_factory("healthy-gradio", {"transfer.backend": "lfs"})
    loc = _head(client, sim, f"{MODEL}/resolve/main/big-10g.bin").headers["location"]
    size = 10 * 1024 ** 3
    r = client.get(loc, headers={"range": f"bytes={size - 10}-"})
    assert r.status_code == 206 and r.headers["content-range"] == f"bytes {size - 10}-{size - 1}/{size}"
    assert len(r.content) == 10


def _xet_flow(client, sim, path="model.safetensors", rng=None):
    head = _head(client, sim, f"{MODEL}/resolve/main/{path}")
    tok = client.get(head.links["xet-auth"]["url"])
    assert tok.status_code == 200
    body = tok.json()
    assert set(body) == {"accessToken", "exp", "casUrl"}
    assert tok.headers["x-xet-cas-url"] == body["casUrl"] and tok.headers["x-xet-access-token"] == body["accessToken"]
    assert tok.headers["x-xet-token-expiration"] == str(body["exp"])
    h = {"authorization": f"Bearer {body['accessToken']}"}
    if rng:
        h["range"] = rng
    rec = client.get(f"{body['casUrl']}/v1/reconstructions/{head.headers['x-xet-hash']}", headers=h)
    return head, body, rec


def test_xet_token_cas_and_xorb_fetch(sim_factory, client):
    sim = sim_factory("healthy-gradio")
    head, body, rec = _xet_flow(client, sim, rng="bytes=0-99999")
    assert rec.status_code == 200
    j = rec.json()
    assert j["offset_into_first_range"] == 0
    (term,) = j["terms"]
    assert term["range"] == {"start": 0, "end": 2} and term["unpacked_length"] == 2 * CHUNK
    (fi,) = j["fetch_info"][term["hash"]]
    assert fi["url_range"] == {"start": 0, "end": 2 * (CHUNK + HDR) - 1}  # end inclusive
    assert httpx.URL(fi["url"]).host == "localhost"
    xr = client.get(fi["url"], headers={"range": f"bytes={fi['url_range']['start']}-{fi['url_range']['end']}"})
    assert xr.status_code == 206 and len(xr.content) == 2 * (CHUNK + HDR)
    assert xr.content[:8] == bytes([0]) + CHUNK.to_bytes(3, "little") + bytes([0]) + CHUNK.to_bytes(3, "little")
    lfs = client.get(head.headers["location"], headers={"range": f"bytes=0-{CHUNK - 1}"})
    assert xr.content[8:8 + CHUNK] == lfs.content  # xorb chunk data == file bytes
    shrunk = client.get(fi["url"], headers={"range": "bytes=0-9"})
    assert shrunk.status_code == 403  # the signed range cannot be shrunk
    assert client.get(f"{body['casUrl']}/v1/reconstructions/{head.headers['x-xet-hash']}").status_code == 401
    big = client.get(f"{body['casUrl']}/v1/reconstructions/{head.headers['x-xet-hash']}",
                     headers={"authorization": f"Bearer {body['accessToken']}", "range": "bytes=999999999-"})
    assert big.status_code == 416
    mid = client.get(f"{body['casUrl']}/v1/reconstructions/{head.headers['x-xet-hash']}",
                     headers={"authorization": f"Bearer {body['accessToken']}", "range": "bytes=70000-70010"}).json()
    assert mid["offset_into_first_range"] == 70000 - CHUNK


def test_xet_stall(sim_factory, client):
    sim = sim_factory("transfer-xet-stall")
    head, body, rec = _xet_flow(client, sim, rng="bytes=0-4194303")
    fi = next(iter(rec.json()["fetch_info"].values()))[0]
    got = 0
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.5)) as c:
        with pytest.raises(httpx.ReadTimeout):
            with c.stream("GET", fi["url"], headers={"range": f"bytes={fi['url_range']['start']}-"
                                                              f"{fi['url_range']['end']}"}) as r:
                assert r.status_code == 206
                for chunk in r.iter_raw():
                    got += len(chunk)
    assert got == 1048576


def test_cdn_throttled(sim_factory, client):
    sim = sim_factory("transfer-cdn-throttled")
    loc = _head(client, sim, f"{MODEL}/resolve/main/model.safetensors").headers["location"]
    t = time.monotonic()
    r = client.get(loc, headers={"range": "bytes=0-32767"})
    dt = time.monotonic() - t
    assert r.status_code == 206 and len(r.content) == 32768
    assert 0.4 < dt < 3.0  # 32 KiB at 64 KiB/s


def test_signed_range_403(sim_factory, client):
    sim = sim_factory("transfer-signed-range-403")
    _, _, rec = _xet_flow(client, sim, rng="bytes=0-99")
    assert rec.status_code == 200
    fi = next(iter(rec.json()["fetch_info"].values()))[0]
    r = client.get(fi["url"], headers={"range": f"bytes={fi['url_range']['start']}-{fi['url_range']['end']}"})
    assert r.status_code == 403 and "AccessDenied" in r.text


def test_mid_body_close(sim_factory, client):
    sim = sim_factory("transfer-mid-body-close")
    loc = _head(client, sim, f"{MODEL}/resolve/main/model.safetensors").headers["location"]
    with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection without sending complete message body"):
        client.get(loc, headers={"range": "bytes=0-999999"})


def test_cdn_ignores_range(sim_factory, client):
    sim = sim_factory("transfer-cdn-ignores-range", {"transfer.file_size": 300000})
    loc = _head(client, sim, f"{MODEL}/resolve/main/model.safetensors").headers["location"]
    r = client.get(loc, headers={"range": "bytes=0-99"})
    assert r.status_code == 200 and "content-range" not in r.headers and len(r.content) == 300000
