"""Fault injection per route (issue 8 item 1). Selector syntax: see README.md.

    ROLE:[METHOD ]GLOB    ROLE = hub | space | space=OWNER/NAME | cdn | cas | transfer | foreign | forum | github | any | dns
    GLOB is an fnmatch pattern over the path (query excluded); for dns it is a name glob.
"""

from __future__ import annotations

import asyncio
import fnmatch
import io
import json
import socket
import struct
import zlib
from typing import TYPE_CHECKING

from .scenario import SELECTOR_RE

if TYPE_CHECKING:  # pragma: no cover
    from .state import SimState, SpaceState


def _find_conn(sim: SimState, scope):
    server = sim.server
    if server is None:
        return None
    for conn in list(server.server_state.connections):
        if getattr(conn, "client", None) == tuple(scope.get("client") or ()) and \
                getattr(conn, "server", None) == tuple(scope.get("server") or ()):
            return conn
    return None


def abort_connection(sim: SimState, scope, rst: bool = False) -> None:
    """Close the client's TCP connection now (RST with rst=True), whatever was sent so far."""
    conn = _find_conn(sim, scope)
    if conn is None or conn.transport is None:
        return
    if rst:
        sock = conn.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
    conn.transport.abort()


async def wait_disconnect_or_close(sim: SimState, receive) -> None:
    """Send nothing; return when the client disconnects or the simulator stops."""

    async def until_disconnect():
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return

    a = asyncio.ensure_future(until_disconnect())
    b = asyncio.ensure_future(sim.closing.wait())
    try:
        await asyncio.wait({a, b}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        a.cancel()
        b.cancel()


def normalize(spec) -> dict:
    if isinstance(spec, str):
        name, _, arg = spec.partition(":")
        d = {"fault": name}
        if arg:
            d[{"status": "status", "delay": "ms", "drip": "rate", "huge_json": "size", "gzip_bomb": "size"}
              .get(name, "arg")] = float(arg) if "." in arg else int(arg)
        return d
    return dict(spec)


def match(sim: SimState, role: str, space: SpaceState | None, method: str, path: str) -> tuple[str, dict] | None:
    for selector, spec in sim.scenario.faults.items():
        m = SELECTOR_RE.match(selector)
        srole, smethod, glob = m.group(1), m.group(2), m.group(3)
        if srole == "dns":
            continue
        if srole.startswith("space="):
            if role != "space" or space is None or space.id != srole[6:]:
                continue
        elif srole != "any" and srole != role:
            continue
        if smethod and smethod != method:
            continue
        if not fnmatch.fnmatchcase(path, glob):
            continue
        d = normalize(spec)
        hits = sim.fault_hits.get(selector, 0)
        if "times" in d and hits >= int(d["times"]):
            continue
        if "probability" in d and sim.rng.random() >= float(d["probability"]):
            continue
        sim.fault_hits[selector] = hits + 1
        return selector, d
    return None


def dns_fault(sim: SimState, qname: str) -> dict | None:
    for selector, spec in sim.scenario.faults.items():
        m = SELECTOR_RE.match(selector)
        if m.group(1) == "dns" and fnmatch.fnmatchcase(qname.rstrip(".").lower(), m.group(3).lower()):
            return normalize(spec)
    return None


_BOMB_CACHE: dict[int, bytes] = {}


def gzip_bomb(size: int, layers: int = 1) -> bytes:
    """gzip bytes inflating to `size` zero bytes (cached); `layers` > 1 gzips that again (`gzip, gzip`)."""
    if layers > 1:
        key = -(size * 8 + layers)
        if key not in _BOMB_CACHE:
            _BOMB_CACHE[key] = zlib.compress(gzip_bomb(size, layers - 1), 9, wbits=31)
        return _BOMB_CACHE[key]
    if size not in _BOMB_CACHE:
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = b"\0" * (1 << 20)
        parts = []
        left = size
        while left > 0:
            n = min(left, len(block))
            parts.append(comp.compress(block[:n]))
            left -= n
        parts.append(comp.flush())
        _BOMB_CACHE[size] = b"".join(parts)
    return _BOMB_CACHE[size]


async def apply(sim: SimState, fault: dict, scope, receive, send, handler) -> None:
    """Run `handler(scope, receive, send)` through the fault."""
    kind = fault["fault"]
    if kind == "reset":
        abort_connection(sim, scope, rst=True)
        return
    if kind == "silence":
        await wait_disconnect_or_close(sim, receive)
        return
    if kind == "delay":
        if await sim.nap(float(fault.get("ms", 1000)) / 1000):
            return
        await handler(scope, receive, send)
        return
    if kind == "status":
        st = int(fault.get("status", 500))
        await _simple(send, st, fault.get("body", json.dumps({"error": f"simulated {st}"})).encode(),
                      str(fault.get("ctype", "application/json")))
        return
    if kind == "sse_keepalive":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        interval = float(fault.get("interval_s", 0.05))
        gone = asyncio.ensure_future(wait_disconnect_or_close(sim, receive))
        try:
            while not gone.done():
                await send({"type": "http.response.body", "body": b"data:\n\n", "more_body": True})
                await asyncio.wait({gone}, timeout=interval)
        finally:
            gone.cancel()
        return
    if kind in ("sse_endless_line", "sse_comments"):
        await _sse_forever(sim, receive, send, kind, float(fault.get("interval_s", 0.05)))
        return
    if kind == "huge_json":
        await _huge_json(sim, send, int(fault.get("size", 50 * 1024 * 1024)))
        return
    if kind == "malformed_json":
        await _simple(send, 200, b'{"stage": "RUNNING", "hardware": {"current": "cpu-basic", ', "application/json")
        return
    if kind == "invalid_utf8":
        await _transform(handler, scope, receive, send, lambda b: b[:len(b) // 2] + b"\xff\xfe\xc3\x28" +
                         b[len(b) // 2:])
        return
    if kind == "gzip_bomb":
        layers = int(fault.get("layers", 1))
        body = gzip_bomb(int(fault.get("size", 1024 ** 3)), layers)
        ctype = str(fault.get("ctype", "application/json")).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", ctype), (b"content-encoding", ", ".join(["gzip"] * layers).encode()),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return
    if kind == "redirect_loop":
        qs = scope.get("query_string", b"")
        loc = scope["path"] + ("?" + qs.decode("latin-1") if qs else "")
        await send({"type": "http.response.start", "status": 302, "headers": [
            (b"location", loc.encode()), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if kind == "redirect_foreign":
        qs = scope.get("query_string", b"")
        loc = sim.url("foreign") + scope["path"] + ("?" + qs.decode("latin-1") if qs else "")
        await send({"type": "http.response.start", "status": int(fault.get("status", 302)), "headers": [
            (b"location", loc.encode()), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if kind == "close_mid_body":
        await _close_mid_body(sim, handler, scope, receive, send)
        return
    if kind == "drip":
        await _drip(sim, handler, scope, receive, send, float(fault.get("rate", 1)))
        return
    await handler(scope, receive, send)  # "drop" only applies to DNS


async def _sse_forever(sim, receive, send, kind: str, interval: float) -> None:
    """An event stream that never completes an event: one `data:` line without end, as fast as the client reads
    (`sse_endless_line`), or comment keep-alives (`: ping`) every `interval` (`sse_comments`)."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
    gone = asyncio.ensure_future(wait_disconnect_or_close(sim, receive))
    block = b"a" * (64 * 1024)
    try:
        if kind == "sse_endless_line":
            await send({"type": "http.response.body", "body": b"data: ", "more_body": True})
        while not gone.done():
            if kind == "sse_endless_line":
                await send({"type": "http.response.body", "body": block, "more_body": True})
                await asyncio.sleep(0)
            else:
                await send({"type": "http.response.body", "body": b": ping\n\n", "more_body": True})
                await asyncio.wait({gone}, timeout=interval)
    finally:
        gone.cancel()


async def _simple(send, status: int, body: bytes, ctype: str) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _huge_json(sim, send, size: int) -> None:
    head, tail = b'{"stage":"RUNNING","padding":"', b'"}'
    n = max(0, size - len(head) - len(tail))
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(head) + n + len(tail)).encode())]})
    await send({"type": "http.response.body", "body": head, "more_body": True})
    block = b"a" * (1 << 20)
    while n > 0:
        take = min(n, len(block))
        await send({"type": "http.response.body", "body": block[:take], "more_body": True})
        n -= take
    await send({"type": "http.response.body", "body": tail, "more_body": False})


async def _capture(handler, scope, receive):
    """Run the handler to completion and return (start message, body bytes)."""
    start = {}
    buf = io.BytesIO()

    async def cap(message):
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            buf.write(message.get("body", b""))

    await handler(scope, receive, cap)
    return start, buf.getvalue()


def _strip_len(headers):
    return [(k, v) for k, v in headers if k.lower() != b"content-length"]


async def _transform(handler, scope, receive, send, fn) -> None:
    start, body = await _capture(handler, scope, receive)
    body = fn(body)
    headers = _strip_len(start.get("headers", [])) + [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": start.get("status", 200), "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _close_mid_body(sim, handler, scope, receive, send) -> None:
    start, body = await _capture(handler, scope, receive)
    await send({"type": "http.response.start", "status": start.get("status", 200),
                "headers": _strip_len(start.get("headers", [])) + [(b"content-length", str(len(body) + 1000).encode())]})
    await send({"type": "http.response.body", "body": body[: max(1, len(body) // 2)], "more_body": True})
    await asyncio.sleep(0)
    abort_connection(sim, scope)


async def _drip(sim, handler, scope, receive, send, rate: float) -> None:
    """Headers at once, then the handler's body at `rate` bytes per second."""

    async def drip_send(message):
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            for i in range(len(body)):
                await send({"type": "http.response.body", "body": body[i:i + 1], "more_body": True})
                if await sim.nap(1.0 / rate):
                    raise asyncio.CancelledError()
            if not message.get("more_body"):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await send(message)

    try:
        await handler(scope, receive, drip_send)
    except asyncio.CancelledError:
        if sim.closing.is_set():
            return
        raise

