"""The Spaces edge (`*.hf.space` proxy), one loopback origin per Space (hub-spaces-api.md §9)."""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from .gradio_app import AppError500, GradioApp, exception_lines
from .logs import marker
from .state import alnum, fake_jwt
from .visitors import visitor_lines

if TYPE_CHECKING:  # pragma: no cover
    from .state import SimState, SpaceState

PRIVATE_404 = ("<!DOCTYPE html><html><head><title>404 – Hugging Face</title></head><body>"
               "<h1>404</h1><p>Sorry, we can't find the page you are looking for.</p></body></html>")


def _edge_response(status: int, body: str = "", ctype: str = "text/html; charset=utf-8") -> Response:
    return Response(body, status_code=status, headers={"content-type": ctype})


async def handle(sim: SimState, space: SpaceState, scope, receive, send) -> None:
    lat = float(space.knob("edge.latency_ms"))
    if lat and await sim.nap(lat / 1000):
        return
    request = Request(scope, receive)
    headers = request.headers
    if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
        h = {"content-length": "0", "access-control-max-age": "600",
             "access-control-allow-origin": headers.get("origin", "*"),
             "access-control-allow-methods": "GET,HEAD,PUT,PATCH,POST,DELETE",
             "access-control-allow-credentials": "true",
             "vary": "origin, access-control-request-method, access-control-request-headers"}
        if "access-control-request-headers" in headers:
            h["access-control-allow-headers"] = headers["access-control-request-headers"]
        await Response(b"", status_code=200, headers=h)(scope, receive, send)
        return
    mode = space.proxy_mode()
    role, _invalid = sim.auth_role(headers)
    if mode == "app" and space.spec.private and role != space.owner_role:
        mode = "private-anon"
    if mode == "private-anon" and role == space.owner_role:
        mode = "app"
    if mode == "app":
        rate = float(space.knob("edge.drop_rate"))
        # Drops are spread evenly over the requests (request k is dropped when floor((k+1)*rate) grows), so a
        # share of `rate` is dropped deterministically, whatever other traffic consumed the random generator.
        k = space.edge_requests
        space.edge_requests += 1
        if rate > 0 and int((k + 1) * rate) > int(k * rate):
            statuses = space.knob("edge.drop_statuses")
            st = int(statuses[space.drop_counter % len(statuses)])
            space.drop_counter += 1
            if space.knob("edge.drop_forwarded"):  # the app saw the request; the edge answers for it anyway
                _app_logs_request(space, scope)
            await _edge_response(st, f"<html><body><h1>{st} {HTTPStatus(st).phrase}</h1></body></html>")(
                scope, receive, send)
            return
    if mode == "sleeping":
        resp = _edge_response(int(space.knob("edge.sleeping_status")), space.knob("edge.sleeping_body"))
    elif mode == "unreachable":
        st = int(space.knob("edge.unreachable_status"))
        resp = _edge_response(st, f"<html><body><h1>{st} {HTTPStatus(st).phrase}</h1></body></html>")
    elif mode == "paused":
        st = int(space.knob("edge.paused_status"))
        resp = _edge_response(st, "<html><body>This Space has been paused by its owner.</body></html>")
    elif mode == "private-anon":
        resp = _edge_response(int(space.knob("edge.private_status")), PRIVATE_404)
    else:
        await _proxy(sim, space, scope, receive, send, role)
        return
    await resp(scope, receive, send)


def _app_logs_request(space: SpaceState, scope) -> None:
    qs = scope.get("query_string", b"").decode("latin-1")
    nonce = parse_qs(qs).get("hfdiag_nonce", [None])[0]
    if nonce and space.knob("app.request_markers"):
        space.run_log.append(marker("request", nonce=nonce, path=scope["path"]))
    if space.knob("app.access_log"):
        target = scope["path"] + (f"?{qs}" if qs else "")
        space.run_log.append(f'INFO:     10.16.0.1:40000 - "{scope["method"]} {target} HTTP/1.1" 200 OK')


async def _proxy(sim: SimState, space: SpaceState, scope, receive, send, role: str | None) -> None:
    rid, pod = space.replicas[space.rr % len(space.replicas)]
    space.rr += 1
    # X-IP-Token handling
    raw = [(k, v) for k, v in scope["headers"]]
    has_tok = any(k.lower() == b"x-ip-token" for k, _ in raw)
    mode = space.knob("edge.ip_token")
    if mode == "strip":
        raw = [(k, v) for k, v in raw if k.lower() != b"x-ip-token"]
    if mode == "inject" and not has_tok:
        from .state import USERS
        payload = {"ip": scope["client"][0] if scope.get("client") else "127.0.0.1",
                   "user": USERS[role]["name"] if role else None, "exp": int(time.time()) + 3600}
        err = space.knob("edge.ip_token_error")
        if err:
            payload["error"] = err
        raw.append((b"x-ip-token", fake_jwt(payload).encode()))
    inner = dict(scope)
    inner["headers"] = raw
    client_port = 30000 + sim.rng.randint(0, 30000)
    client_ip = f"10.16.{sim.rng.randint(0, 40)}.{sim.rng.randint(1, 250)}"
    qs = scope.get("query_string", b"").decode("latin-1")
    target = scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?")[0] + (f"?{qs}" if qs else "")
    extra = [(b"x-proxied-host", pod.encode()), (b"x-proxied-replica", rid.encode()),
             (b"x-proxied-path", scope["path"].encode()), (b"x-request-id", alnum(sim.rng, 6,
                                                                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").encode()),
             (b"link", f'<https://huggingface.co/spaces/{space.id}>;rel="canonical"'.encode()),
             (b"vary", b"origin, access-control-request-method, access-control-request-headers"),
             (b"access-control-expose-headers", b"*")]
    log_access = space.knob("app.access_log")
    traceback_lines: list[str] = []  # written with the access line, before the response leaves

    async def edge_send(message):
        if message["type"] == "http.response.start":
            message = dict(message)
            hs = list(message.get("headers", []))
            if not any(k.lower() == b"server" for k, _ in hs):
                hs.append((b"server", b"uvicorn"))
            message["headers"] = hs + extra
            st = message["status"]
            if log_access:
                try:
                    phrase = HTTPStatus(st).phrase
                except ValueError:
                    phrase = ""
                space.run_log.append(f'INFO:     {client_ip}:{client_port} - "{scope["method"]} {target} '
                                     f'HTTP/{scope.get("http_version", "1.1")}" {st} {phrase}')
            if traceback_lines:
                space.run_log.extend(traceback_lines)
        await send(message)

    request = Request(inner, receive)
    nonce = parse_qs(qs).get("hfdiag_nonce", [None])[0]
    if nonce and space.knob("app.other_visitors"):
        space.run_log.extend(visitor_lines(sim, space))  # inside any time window of this check
    if nonce and space.knob("app.request_markers"):
        space.run_log.append(marker("request", nonce=nonce, path=scope["path"]))
    redirect = space.knob("app.redirect_to")
    if redirect and scope["path"] == "/":
        await Response(b"", status_code=302, headers={"location": redirect})(inner, receive, edge_send)
        return
    app = GradioApp(sim, space)
    resp = await app.handle(request)
    if isinstance(resp, AppError500):
        traceback_lines.extend(exception_lines(space.knob("app.exception")))
    await resp(inner, receive, edge_send)
