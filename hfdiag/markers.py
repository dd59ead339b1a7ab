"""Markers for Space owners: one-line structured log lines that let `hfdiag check` observe, in the run log,
that a request reached the app and that a `@spaces.GPU` function was (or was never) entered.

Standard library only, so the file can also be copied into a Space as is. Two lines of integration:

    import spaces
    from hfdiag import markers

    @spaces.GPU
    @markers.gpu                 # under @spaces.GPU: it runs inside the GPU worker
    def predict(prompt): ...

    demo.launch(app_kwargs=markers.gradio_app_kwargs())   # logs the hfdiag_nonce of each request

Each marker is the literal prefix `hfdiag-marker ` and compact JSON on one line (docs/architecture.md, "Markers"):
`gpu.enter` / `gpu.exit` (`fn`, `id`, `ok`, `error`), `request` (`nonce`, `path`), and `markers.enabled` (written
once at start-up, so a missing `gpu.enter` is evidence, not a guess). Markers go to stderr (unbuffered), which
the Spaces run log captures; they never carry argument values, only names, ids and timings.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import re
import secrets
import sys
import threading
import time
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs

PREFIX = "hfdiag-marker "
NONCE_PARAM = "hfdiag_nonce"
_NONCE_RX = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_lock = threading.Lock()
_announced: set[tuple[str, str]] = set()
_writer: Callable[[str], None] | None = None


def set_writer(writer: Callable[[str], None] | None) -> None:
    """Send marker lines to `writer(line)` instead of stderr (None restores stderr)."""
    global _writer
    _writer = writer


def format_marker(event: str, **fields: Any) -> str:
    """The exact marker line (without the trailing newline). None-valued fields are left out."""
    body = {"event": event, **{k: v for k, v in fields.items() if v is not None}}
    return PREFIX + json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)


def emit(event: str, **fields: Any) -> str:
    """Write one marker line and return it. Never raises: a marker must not break the app."""
    line = format_marker(event, **fields)
    try:
        with _lock:
            if _writer is not None:
                _writer(line)
            else:
                stream = sys.stderr
                stream.write(line + "\n")
                stream.flush()
    except Exception:  # pragma: no cover - a closed stream must not take the app down
        pass
    return line


def announce(scope: str, name: str = "") -> None:
    """`markers.enabled` once per (scope, name): tells hfdiag that markers are installed for this Space."""
    key = (scope, name)
    with _lock:
        if key in _announced:
            return
        _announced.add(key)
    emit("markers.enabled", scope=scope, fn=name or None, ts=round(time.time(), 3))


def _event_id() -> str | None:
    """Gradio's event id for the current request, when gradio is loaded and exposes it (best effort)."""
    ctx = sys.modules.get("gradio.context")
    local = getattr(ctx, "LocalContext", None) if ctx is not None else None
    var = getattr(local, "event_id", None)
    try:
        value = var.get(None) if var is not None else None
    except Exception:
        return None
    return value if isinstance(value, str) and value else None


@contextlib.contextmanager
def gpu_call(fn: str = "gpu", id: str | None = None) -> Iterator[str]:
    """Context manager: `gpu.enter` now, `gpu.exit` (ok, or the exception's class name) when the block ends."""
    cid = id or _event_id() or secrets.token_hex(6)
    t0 = time.time()
    emit("gpu.enter", fn=fn, id=cid, ts=round(t0, 3))
    try:
        yield cid
    except BaseException as e:
        emit("gpu.exit", fn=fn, id=cid, ok=False, error=type(e).__name__, s=round(time.time() - t0, 3))
        raise
    emit("gpu.exit", fn=fn, id=cid, ok=True, s=round(time.time() - t0, 3))


def gpu(fn: Callable | None = None, *, name: str | None = None):
    """Decorator for a `@spaces.GPU` function (put it under `@spaces.GPU`). Keeps the signature, so Gradio
    and dynamic durations see the same parameters. Works for plain functions, generators and coroutines."""
    if fn is None:
        return lambda f: gpu(f, name=name)
    label = name or getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "gpu")
    announce("gpu", label)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            with gpu_call(label):
                return (yield from fn(*args, **kwargs))
        return gen_wrapper

    if inspect.isasyncgenfunction(fn):
        @functools.wraps(fn)
        async def agen_wrapper(*args, **kwargs):
            with gpu_call(label):
                async for item in fn(*args, **kwargs):
                    yield item
        return agen_wrapper

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*args, **kwargs):
            with gpu_call(label):
                return await fn(*args, **kwargs)
        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with gpu_call(label):
            return fn(*args, **kwargs)
    return wrapper


def nonce_of(query_string: bytes | str) -> str | None:
    """The `hfdiag_nonce` of a query string, if it is a well-formed nonce."""
    qs = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    if NONCE_PARAM not in qs:
        return None
    values = parse_qs(qs).get(NONCE_PARAM) or []
    value = values[0] if values else ""
    return value if _NONCE_RX.match(value) else None


class RequestMarkerMiddleware:
    """ASGI middleware (Gradio / Starlette / FastAPI): logs `request` with the nonce of every HTTP request that
    carries `?hfdiag_nonce=...`, before the app handles it. Other requests pass through untouched."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        announce("request")

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope.get("type") == "http":
            nonce = nonce_of(scope.get("query_string") or b"")
            if nonce:
                emit("request", nonce=nonce, path=scope.get("path"))
        await self.app(scope, receive, send)


def gradio_app_kwargs(**extra: Any) -> dict:
    """`demo.launch(app_kwargs=markers.gradio_app_kwargs())`: installs RequestMarkerMiddleware in Gradio's app.
    Starlette ships with Gradio; it is imported only here."""
    from starlette.middleware import Middleware

    middleware = list(extra.pop("middleware", []))
    return {**extra, "middleware": [Middleware(RequestMarkerMiddleware), *middleware]}


def install(app: Any) -> Any:
    """`markers.install(app)` for a FastAPI/Starlette app you build yourself (e.g. with gr.mount_gradio_app)."""
    app.add_middleware(RequestMarkerMiddleware)
    return app
