"""hfdiag.markers: the exact one-line format, the decorator / context manager, the ASGI middleware, and that the
log probe's parser reads what the markers write."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from hfdiag import markers
from hfdiag.probes.logs import parse_markers


@pytest.fixture
def lines():
    out: list[str] = []
    markers.set_writer(out.append)
    markers._announced.clear()
    yield out
    markers.set_writer(None)


def body(line: str) -> dict:
    assert line.startswith("hfdiag-marker ") and "\n" not in line
    return json.loads(line[len("hfdiag-marker "):])


def test_format_is_prefix_plus_compact_json():
    line = markers.format_marker("gpu.enter", fn="predict", id="abc", ok=None)
    assert line == 'hfdiag-marker {"event":"gpu.enter","fn":"predict","id":"abc"}'
    assert parse_markers([line]) == [{"event": "gpu.enter", "fn": "predict", "id": "abc"}]


def test_decorator_logs_enabled_once_then_enter_and_exit(lines):
    @markers.gpu
    def predict(x, scale=2):
        return x * scale

    assert [body(x)["event"] for x in lines] == ["markers.enabled"]
    assert predict(3) == 6 and predict(1, scale=5) == 5
    events = [body(x) for x in lines]
    assert [e["event"] for e in events] == ["markers.enabled", "gpu.enter", "gpu.exit", "gpu.enter", "gpu.exit"]
    assert events[0]["scope"] == "gpu" and events[0]["fn"].endswith("predict")
    enter, exit_ = events[1], events[2]
    assert enter["id"] == exit_["id"] and exit_["ok"] is True and "error" not in exit_
    assert enter["id"] != events[3]["id"]
    import inspect
    assert list(inspect.signature(predict).parameters) == ["x", "scale"]  # Gradio / dynamic durations see the same
    assert predict.__name__ == "predict"
    assert parse_markers(lines) == events


def test_exception_is_logged_by_class_name_and_reraised(lines):
    @markers.gpu(name="infer")
    def infer():
        raise RuntimeError("CUDA error: no kernel image is available")

    with pytest.raises(RuntimeError):
        infer()
    exit_ = body(lines[-1])
    assert exit_ == {"event": "gpu.exit", "fn": "infer", "id": exit_["id"], "ok": False, "error": "RuntimeError",
                     "s": exit_["s"]}
    assert "kernel" not in lines[-1]  # class name only, never the message or arguments


def test_generators_and_coroutines(lines):
    @markers.gpu
    def stream(n):
        yield from range(n)

    @markers.gpu
    async def coro():
        return 7

    assert list(stream(3)) == [0, 1, 2]
    assert asyncio.run(coro()) == 7
    events = [body(x)["event"] for x in lines if body(x)["event"].startswith("gpu.")]
    assert events == ["gpu.enter", "gpu.exit", "gpu.enter", "gpu.exit"]


def test_context_manager_with_explicit_id(lines):
    with markers.gpu_call("manual", id="evt1") as cid:
        assert cid == "evt1"
    assert [body(x) for x in lines][0]["id"] == "evt1"
    assert body(lines[1])["ok"] is True


def test_default_writer_is_one_stderr_line():
    code = ("from hfdiag import markers\n"
            "with markers.gpu_call('f', id='x'):\n    pass\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.stdout == ""
    got = proc.stderr.splitlines()
    assert [body(x)["event"] for x in got] == ["gpu.enter", "gpu.exit"]


def test_middleware_logs_request_nonces_only(lines):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope.get("path", scope["type"]))

    mw = markers.RequestMarkerMiddleware(app)
    assert body(lines[0]) == {"event": "markers.enabled", "scope": "request", "ts": body(lines[0])["ts"]}

    async def call(path, qs):
        await mw({"type": "http", "path": path, "query_string": qs}, None, None)

    asyncio.run(call("/gradio_api/queue/join", b"hfdiag_nonce=a1b2c3d4e5f6&x=1"))
    asyncio.run(call("/", b"x=1"))
    asyncio.run(call("/", b"hfdiag_nonce=bad%20nonce%0A"))
    asyncio.run(mw({"type": "lifespan"}, None, None))
    assert seen == ["/gradio_api/queue/join", "/", "/", "lifespan"]
    reqs = [body(x) for x in lines if body(x)["event"] == "request"]
    assert reqs == [{"event": "request", "nonce": "a1b2c3d4e5f6", "path": "/gradio_api/queue/join"}]


def test_gradio_app_kwargs_installs_the_middleware(lines):
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def index(request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", index)], **markers.gradio_app_kwargs())

    async def get():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://space") as client:
            return (await client.get("/?hfdiag_nonce=0123456789ab")).text

    assert asyncio.run(get()) == "ok"
    assert {"event": "request", "nonce": "0123456789ab", "path": "/"} in [body(x) for x in lines]
