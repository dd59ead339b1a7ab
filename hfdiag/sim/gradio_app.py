"""The Gradio app behind the edge (gradio-zerogpu.md §1): config, info, queue join/data, /call."""

from __future__ import annotations

import fnmatch
import json
import re
import time
import uuid
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from . import zerogpu
from .logs import GENERIC_TRACEBACK

if TYPE_CHECKING:  # pragma: no cover
    from .state import SimState, SpaceState


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3]) or (5, 0, 0)


class GradioApp:
    def __init__(self, sim: SimState, space: SpaceState) -> None:
        self.sim = sim
        self.space = space

    @property
    def version(self) -> tuple[int, ...]:
        return version_tuple(self.space.knob("gradio.version"))

    @property
    def prefix(self) -> str:
        return "/gradio_api" if self.version >= (5,) else ""

    def config(self) -> dict:
        sp = self.space
        api = sp.knob("gradio.api_name")
        dep = {"id": 0, "targets": [[1, "click"]], "api_name": api, "queue": True, "inputs": [0], "outputs": [2],
               "backend_fn": True, "js": None, "types": {"generator": False, "cancel": False},
               "zerogpu": sp.spec.is_zerogpu}
        if self.version >= (6,):
            dep["api_visibility"] = "public"
        else:
            dep["show_api"] = True
        cfg = {"version": sp.knob("gradio.version"), "mode": "blocks", "app_id": 1234567890, "dev_mode": False,
               "analytics_enabled": True, "components": [
                   {"id": 0, "type": "textbox", "props": {"label": "Input"}},
                   {"id": 1, "type": "button", "props": {"value": "Run"}},
                   {"id": 2, "type": "textbox", "props": {"label": "Output"}}],
               "css": None, "title": "Gradio", "space_id": sp.id, "enable_queue": True, "show_error":
               sp.knob("gradio.show_error"), "is_space": True, "protocol": "sse_v3", "root": sp.host_url,
               "dependencies": [dep], "layout": {"id": 3, "children": [{"id": 0}, {"id": 1}, {"id": 2}]}}
        if self.prefix:
            cfg["api_prefix"] = self.prefix
        return cfg

    def info(self) -> dict:
        api = self.space.knob("gradio.api_name")
        entry = {"parameters": [{"label": "Input", "parameter_name": "text", "parameter_has_default": False,
                                 "type": {"type": "string"}, "python_type": {"type": "str", "description": ""},
                                 "component": "Textbox", "example_input": "Hello!!"}],
                 "returns": [{"label": "Output", "type": {"type": "string"},
                              "python_type": {"type": "str", "description": ""}, "component": "Textbox"}]}
        if self.version >= (6,):
            entry["api_visibility"] = "public"
        else:
            entry["show_api"] = True
        return {"named_endpoints": {f"/{api}": entry}, "unnamed_endpoints": {}}

    # --- request handling -------------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        sp = self.space
        path = request.url.path
        for glob in sp.knob("app.error_paths"):
            if fnmatch.fnmatchcase(path, glob):
                return AppError500()
        if sp.spec.sdk != "gradio":
            return HTMLResponse(f"<!doctype html><html><body><h1>{sp.id}</h1></body></html>",
                                headers={"server": "uvicorn"})
        p = self.prefix
        m = request.method
        if path == "/" and m in ("GET", "HEAD"):
            html = (f"<!doctype html><html><head><script>window.gradio_config = {dumps(self.config())};</script>"
                    f"</head><body><gradio-app></gradio-app></body></html>")
            return HTMLResponse(html)
        if path == "/config" and m == "GET":
            return self._json(self.config())
        if path == f"{p}/info" and m == "GET":
            return self._json(self.info())
        if path == f"{p}/queue/join" and m == "POST":
            return await self.join(request)
        if path == f"{p}/queue/data" and m == "GET":
            return self.queue_data(request.query_params.get("session_hash", ""))
        mc = re.fullmatch(re.escape(p) + r"/call/(?:v2/)?([^/]+)", path)
        if mc and m == "POST":
            return await self.call_post(request, mc.group(1))
        mc = re.fullmatch(re.escape(p) + r"/call/(?:v2/)?([^/]+)/([^/]+)", path)
        if mc and m == "GET":
            return self.call_get(mc.group(1), mc.group(2))
        if re.fullmatch(re.escape(p) + r"/heartbeat/[^/]+", path):
            return StreamingResponse(self._heartbeat_only(), media_type="text/event-stream")
        return self._json({"detail": "Not Found"}, 404)

    def _json(self, data, status=200) -> Response:
        return Response(dumps(data), status_code=status, media_type="application/json",
                        headers={"server": "uvicorn"})

    def _new_event(self, request: Request, data: list, session_hash: str, api: str | None) -> dict:
        ev = {"event_id": uuid.uuid4().hex, "session_hash": session_hash, "data": data, "api": api,
              "headers": {k.lower(): v for k, v in request.headers.items()}, "created": time.time(), "done": False}
        self.space.events[ev["event_id"]] = ev
        self.space.sessions.setdefault(session_hash, []).append(ev)
        return ev

    def _queue_full(self) -> Response | None:
        if self.space.knob("gradio.queue_full"):
            n = self.space.knob("gradio.max_size")
            return self._json({"detail": f"Queue is full. Max size is {n} and size is {n}."}, 503)
        return None

    async def _body(self, request: Request) -> dict | None:
        try:
            body = json.loads(await request.body() or b"{}")
            return body if isinstance(body, dict) else None
        except ValueError:
            return None

    async def join(self, request: Request) -> Response:
        body = await self._body(request)
        if body is None or not isinstance(body.get("data"), list):
            return self._json({"detail": [{"type": "missing", "loc": ["body", "data"], "msg": "Field required"}]}, 422)
        if not body.get("session_hash"):
            return self._json({"detail": "Session hash not found."}, 400)
        if body.get("fn_index") is None and body.get("trigger_id") is None:
            return self._json({"detail": "No function index provided."}, 400)
        full = self._queue_full()
        if full:
            return full
        ev = self._new_event(request, body["data"], body["session_hash"], None)
        return self._json({"event_id": ev["event_id"]})

    async def call_post(self, request: Request, api: str) -> Response:
        if api != self.space.knob("gradio.api_name"):
            return self._json({"detail": "Not Found"}, 404)
        body = await self._body(request)
        if body is None or not isinstance(body.get("data"), (list, dict)):
            return self._json({"detail": [{"type": "missing", "loc": ["body", "data"], "msg": "Field required"}]}, 422)
        full = self._queue_full()
        if full:
            return full
        data = body.get("data", [])
        ev = self._new_event(request, data if isinstance(data, list) else [data], body.get("session_hash") or
                             uuid.uuid4().hex, api)
        return self._json({"event_id": ev["event_id"]})

    # --- processing ---------------------------------------------------------------------------------------------
    async def _process(self, ev: dict):
        """Yield neutral items: ('log', level, text, title) | ('heartbeat',) | ('done', success, payload)."""
        sp = self.space
        ev["done"] = True
        hb = float(sp.knob("gradio.heartbeat_s"))

        async def wait(seconds: float):
            end = time.monotonic() + seconds
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return
                step = min(left, hb)
                if await self.sim.nap(step):
                    return
                if step >= hb:
                    yield ("heartbeat",)

        if sp.spec.is_zerogpu:
            async for item in zerogpu.run_task(self.sim, sp, ev):
                if item[0] == "wait":
                    async for h in wait(item[1]):
                        yield h
                else:
                    yield item
            return
        async for h in wait(float(sp.knob("gradio.process_s"))):
            yield h
        err = sp.knob("gradio.fn_error")
        if err:
            sp.run_log.extend(GENERIC_TRACEBACK[:-1] + [err])
            yield ("done", False, {"error": err, "title": None, "gr_error": False})
        else:
            yield ("done", True, list(sp.knob("gradio.output")))

    def _error_output(self, payload: dict) -> dict:
        v = self.version
        if payload["gr_error"]:
            out = {"error": payload["error"], "duration": 10, "visible": True}
            if v >= (5, 2) and payload["title"]:
                out["title"] = payload["title"]
            return out
        if not self.space.knob("gradio.show_error"):
            return {"error": None}
        out = {"error": payload["error"]}
        if v >= (6,):
            out["visible"] = True
        return out

    def _messages(self, ev: dict):
        """Queue wire messages (dicts) for one event."""
        v = self.version
        eid = ev["event_id"]

        async def gen():
            yield {"msg": "estimation", "event_id": eid, "rank": 0, "queue_size": 1, "rank_eta": None}
            yield {"msg": "process_starts", "event_id": eid, "eta": None}
            t0 = time.monotonic()
            async for item in self._process(ev):
                if item[0] == "heartbeat":
                    yield {"msg": "heartbeat", "event_id": None}
                elif item[0] == "log":
                    _, level, text, title = item
                    if level == "success" and v < (5, 10):
                        level = "info"
                    m = {"msg": "log", "event_id": eid, "log": text, "level": level, "duration": 10,
                         "visible": True}
                    if v >= (5, 2):
                        m["title"] = title
                    yield m
                elif item[0] == "done":
                    _, ok, payload = item
                    dur = round(time.monotonic() - t0, 3)
                    if ok:
                        output = {"data": payload, "is_generating": False, "duration": dur, "average_duration": dur,
                                  "render_config": None, "changed_state_ids": []}
                    else:
                        output = self._error_output(payload)
                    m = {"msg": "process_completed", "event_id": eid, "output": output, "success": ok}
                    if v >= (5, 43):
                        m["title"] = None if ok else output.get("title", "Error")
                    if v >= (6,):
                        m.update({"used_cache": False, "cache_duration": None, "avg_time": dur})
                    yield m
        return gen()

    def queue_data(self, session_hash: str) -> Response:
        events = [e for e in self.space.sessions.get(session_hash, []) if not e["done"]]

        async def stream():
            if not events:
                m = {"msg": "unexpected_error", "event_id": None, "message": "404: Not Found", "success": False}
                if self.version >= (5, 38):
                    m["session_not_found"] = True
                yield f"data: {dumps(m)}\n\n"
                return
            for ev in events:
                async for m in self._messages(ev):
                    yield f"data: {dumps(m)}\n\n"
            yield f"data: {dumps({'msg': 'close_stream', 'event_id': None})}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"server": "uvicorn"})

    def call_get(self, api: str, event_id: str) -> Response:
        ev = self.space.events.get(event_id)
        if ev is None or ev["done"]:
            return self._json({"detail": "Event ID not found"}, 404) if ev is None else self._json(
                {"detail": "Event already consumed"}, 404)

        async def stream():
            async for m in self._messages(ev):
                kind = m["msg"]
                if kind == "heartbeat":
                    yield "event: heartbeat\ndata: null\n\n"
                elif kind == "process_completed":
                    if m["success"]:
                        yield f"event: complete\ndata: {dumps(m['output']['data'])}\n\n"
                    elif self.version >= (6, 13):
                        yield f"event: error\ndata: {dumps(m['output'])}\n\n"
                    else:
                        yield "event: error\ndata: null\n\n"
                    return

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"server": "uvicorn"})

    async def _heartbeat_only(self):
        hb = float(self.space.knob("gradio.heartbeat_s"))
        while not await self.sim.nap(hb):
            yield f"data: {dumps({'msg': 'heartbeat', 'event_id': None})}\n\n"


class AppError500(Response):
    """Starlette's ServerErrorMiddleware answer; the edge writes the traceback after the access line."""

    traceback = True

    def __init__(self) -> None:
        super().__init__("Internal Server Error", status_code=500, media_type="text/plain",
                         headers={"server": "uvicorn"})


def exception_lines(exc_line: str) -> list[str]:
    return ["ERROR:    Exception in ASGI application", "Traceback (most recent call last):",
            '  File "/usr/local/lib/python3.10/site-packages/uvicorn/protocols/http/h11_impl.py", line 403, in run_asgi',
            "    result = await app(  # type: ignore[func-returns-value]",
            '  File "/home/user/app/app.py", line 21, in index',
            "    return compute()",
            '  File "/home/user/app/app.py", line 12, in compute',
            "    return 1 / 0",
            exc_line]

