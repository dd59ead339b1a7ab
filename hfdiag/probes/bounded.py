"""The one bounded reader for every HTTP response body: Content-Encoding decoding (stacked layers included) that
never produces more than a cap, in small slices that yield to the event loop (a deadline can always cancel it),
and a Server-Sent Events reader with a cap on the stream, on a line and on an event.

httpx decodes each network chunk whole (a 64 KiB chunk of a gzip bomb is 64 MB, and `gzip, gzip` multiplies
that again), so bodies are read raw (`aiter_raw`) and decoded here instead.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

SLICE = 64 * 1024  # decoded bytes produced per step, between two chances for the deadline to act
MAX_LAYERS = 3  # stacked encodings accepted (`gzip, gzip` is legal; ten layers is an attack)
ACCEPT_ENCODING = "gzip, deflate"  # what is asked for is exactly what is decoded


class BodyError(Exception):
    """The body cannot be read within its bounds (too large, undecodable, unsupported encoding)."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind  # too_large | decode


def short_url(url: str) -> str:
    p = urlsplit(url)
    host = p.hostname or ""
    port = f":{p.port}" if p.port else ""
    return f"{p.scheme}://{host}{port}{p.path}"  # never the userinfo or the query


def kib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 and n % (1024 * 1024) == 0 else f"{n // 1024} KiB"


class _Zlib:
    def __init__(self, wbits: int):
        self._d = zlib.decompressobj(wbits)
        self._tail = b""

    def decode(self, data: bytes, limit: int) -> bytes:
        """At most `limit` bytes; input not consumed yet is kept for the next call (`pending`)."""
        out = self._d.decompress(self._tail + data, limit)
        self._tail = self._d.unconsumed_tail
        return out

    @property
    def pending(self) -> bool:
        return bool(self._tail)


def _layer(name: str):
    if name in ("gzip", "x-gzip"):
        return _Zlib(zlib.MAX_WBITS | 16)
    if name == "deflate":
        return _Zlib(zlib.MAX_WBITS | 32)  # zlib or gzip header, as sent in practice
    return None


class BoundedDecoder:
    """Content-Encoding layers (last applied, first removed), every layer's output capped at `cap`."""

    def __init__(self, content_encoding: str, cap: int, url: str, what: str = "answer"):
        names = [e.strip().lower() for e in content_encoding.split(",")]
        names = [n for n in names if n and n != "identity"]
        where = short_url(url)
        if len(names) > MAX_LAYERS:
            raise BodyError(f"{what} of {where} has {len(names)} stacked content encodings; not decoded", "decode")
        self._layers = []
        for n in reversed(names):
            layer = _layer(n)
            if layer is None:
                raise BodyError(f"{what} of {where} uses content encoding {n[:20]!r}, which was not asked for",
                                "decode")
            self._layers.append(layer)
        self._made = [0] * len(self._layers)
        self.cap, self.size, self.url, self.what = cap, 0, url, what

    def too_large(self) -> BodyError:
        return BodyError(f"{self.what} of {short_url(self.url)} is larger than {kib(self.cap)} (decoded)",
                         "too_large")

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decoded slices of `data`; raises BodyError once more than `cap` bytes came out (of any layer)."""
        yield from self._push(0, data)

    def _push(self, level: int, data: bytes) -> Iterator[bytes]:
        if level == len(self._layers):
            if data:
                self.size += len(data)
                if self.size > self.cap:
                    raise self.too_large()
                yield data
            return
        layer = self._layers[level]
        while True:
            try:
                out = layer.decode(data, SLICE)
            except zlib.error as e:
                raise BodyError(f"undecodable {self.what} from {short_url(self.url)}: {e}", "decode") from None
            data = b""
            self._made[level] += len(out)
            if self._made[level] > self.cap:  # a layer inflating past the cap is a bomb, whatever follows
                raise self.too_large()
            if out:
                yield from self._push(level + 1, out)
            if not layer.pending:
                return


async def decoded_chunks(resp, url: str, cap: int, what: str = "answer") -> AsyncIterator[bytes]:
    """The decoded body of a streamed httpx response, at most `cap` bytes, yielding to the loop between slices."""
    decoder = BoundedDecoder(resp.headers.get("content-encoding", ""), cap, url, what)
    async for raw in resp.aiter_raw():
        for piece in decoder.feed(raw):
            yield piece
            await asyncio.sleep(0)  # a deadline (wait_for, task cancel) acts between slices


async def read_body(resp, url: str, cap: int, what: str = "answer") -> bytes:
    chunks = [c async for c in decoded_chunks(resp, url, cap, what)]
    return b"".join(chunks)


async def read_head(resp, url: str, cap: int = 4096) -> bytes:
    """The first `cap` decoded bytes of a body (an error page), never more, whatever it holds."""
    buf = bytearray()
    try:
        async for chunk in decoded_chunks(resp, url, cap * 4, "error body"):
            buf += chunk
            if len(buf) >= cap:
                break
    except BodyError:
        pass  # the part read so far is what an error message needs
    return bytes(buf[:cap])


@dataclass
class Event:
    event: str = "message"
    data: str = ""
    id: str = ""
    comment: bool = False  # a comment line (`: ping`): a keep-alive, activity without data


# bounds of one SSE stream: decoded bytes, one line, one event's data
SSE_MAX_BYTES = 16 * 1024 * 1024
SSE_MAX_LINE = 64 * 1024
SSE_MAX_EVENT = 256 * 1024


class SSEReader:
    """Server-Sent Events from a streamed response (the WHATWG parsing rules), bounded: the stream's decoded
    bytes (`BodyError` past `max_bytes`), a line (cut at `max_line`, the rest up to its newline dropped) and
    an event's data (cut at `max_event`). `received - event_bytes` are the decoded bytes of an event still
    unfinished, so a caller can tell a slow stream from a quiet one."""

    def __init__(self, resp, url: str, *, max_bytes: int = SSE_MAX_BYTES, max_line: int = SSE_MAX_LINE,
                 max_event: int = SSE_MAX_EVENT):
        self.resp, self.url = resp, url
        self.max_bytes, self.max_line, self.max_event = max_bytes, max_line, max_event
        self.complete_bytes = 0  # decoded bytes up to the last line end
        self.event_bytes = 0  # ... up to the end of the last event or comment handed out
        self.received = 0

    async def events(self) -> AsyncIterator[Event]:
        line = bytearray()
        overflow = False  # the current line passed max_line: drop bytes up to its end
        after_cr = False
        ev = _EventBuilder(self.max_event)
        async for chunk in decoded_chunks(self.resp, self.url, self.max_bytes, "event stream"):
            base = self.received
            self.received += len(chunk)
            start, n = 0, len(chunk)
            while start < n:
                if after_cr and chunk[start] == 0x0A:  # CRLF: the LF of a line already ended by its CR
                    start += 1
                    self.complete_bytes = base + start
                after_cr = False
                if start >= n:
                    break
                cut = _next_eol(chunk, start)
                if cut < 0:
                    if not overflow:
                        line += chunk[start:start + self.max_line + 1 - len(line)]
                        if len(line) > self.max_line:
                            del line[self.max_line:]
                            overflow = True
                    break
                if not overflow:
                    line += chunk[start:cut][: self.max_line - len(line)]
                after_cr = chunk[cut] == 0x0D
                start = cut + 1
                self.complete_bytes = base + start
                out = ev.line(line.decode("utf-8", errors="replace"))
                line.clear()
                overflow = False
                if out is not None:
                    self.event_bytes = self.complete_bytes
                    yield out


def _next_eol(chunk: bytes, start: int) -> int:
    lf, cr = chunk.find(b"\n", start), chunk.find(b"\r", start)
    if lf < 0:
        return cr
    if cr < 0:
        return lf
    return min(lf, cr)


class _EventBuilder:
    def __init__(self, max_event: int):
        self.max_event = max_event
        self._reset()

    def _reset(self) -> None:
        self.data: list[str] = []
        self.size = 0
        self.event = ""
        self.id = ""

    def line(self, text: str) -> Event | None:
        if not text:  # dispatch
            if not self.data and not self.event:
                self._reset()
                return None
            ev = Event(self.event or "message", "\n".join(self.data), self.id)
            self._reset()
            return ev
        if text.startswith(":"):
            return Event(comment=True)
        name, sep, value = text.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            if self.size < self.max_event:
                value = value[: self.max_event - self.size]
                self.data.append(value)
                self.size += len(value) + 1
        elif name == "event":
            self.event = value[:200]
        elif name == "id" and "\0" not in value:
            self.id = value[:200]
        return None
