"""Shared helpers for the simulator tests: real HTTP/DNS over loopback, no mocks."""

from __future__ import annotations

import json

import httpx
import pytest

from hfdiag.sim import Simulator


@pytest.fixture
def sim_factory():
    sims = []

    def make(name, overrides=None):
        s = Simulator(name, overrides=overrides).start()
        sims.append(s)
        return s

    yield make
    for s in sims:
        s.stop()


@pytest.fixture
def client():
    with httpx.Client(timeout=5.0) as c:
        yield c


def auth(sim, who="owner"):
    return {"authorization": f"Bearer {sim.tokens[who]}"}


def sse_frames(text: str) -> list[str]:
    """Split an SSE body into frames (separated by a blank line), checking every frame ends with \\n\\n."""
    assert text.endswith("\n\n") or text == "", repr(text[-40:])
    return [f for f in text.split("\n\n") if f != ""]


def read_sse(client: httpx.Client, url: str, max_frames: int | None = None, **kw) -> tuple[httpx.Response, list[str]]:
    """Read SSE frames until the stream ends (or max_frames frames)."""
    frames: list[str] = []
    buf = ""
    with client.stream("GET", url, **kw) as r:
        for chunk in r.iter_text():
            buf += chunk
            while "\n\n" in buf:
                frame, buf = buf.split("\n\n", 1)
                frames.append(frame)
                if max_frames is not None and len(frames) >= max_frames:
                    return r, frames
    assert buf == "", f"unterminated SSE frame {buf!r}"
    return r, frames


def queue_messages(frames: list[str]) -> list[dict]:
    out = []
    for f in frames:
        assert f.startswith("data: ") and "\n" not in f, f
        out.append(json.loads(f[6:]))
    return out


def run_gradio(client, sim, space_id=None, headers=None, data=("hi",), gradio_user=None):
    """Join the queue and read queue/data to the end; return the message list."""
    host = sim.space_url(space_id)
    h = dict(headers or {})
    if gradio_user:
        h["x-gradio-user"] = gradio_user
    cfg = client.get(f"{host}/config").json()
    prefix = cfg.get("api_prefix", "")
    r = client.post(f"{host}{prefix}/queue/join", json={"data": list(data), "fn_index": 0,
                                                          "session_hash": "sess0001"}, headers=h)
    assert r.status_code == 200, r.text
    _, frames = read_sse(client, f"{host}{prefix}/queue/data?session_hash=sess0001", headers=h)
    return queue_messages(frames)
