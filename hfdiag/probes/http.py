"""One careful HTTP client for every probe.

- The token goes only to the Hub endpoint's host (and, for a private Space, to the origin the API named when it
  is a Hub host over https, or the endpoint's own host);
  redirects are followed by hand, and Authorization never follows a redirect to another host.
- Every request has a total deadline (a slow drip of 1 byte/s cannot hold a probe forever) and a body cap
  (applied to the decoded bytes of every encoding layer, so a gzip bomb stops at the cap: hfdiag/probes/bounded.py).
- Errors become `HttpFailure` with a precise, redacted one-line message.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from hfdiag import tls
from hfdiag.probes.bounded import ACCEPT_ENCODING, BodyError, read_body, short_url

DEFAULT_MAX_BODY = 4 * 1024 * 1024
MAX_REDIRECTS = 5
USER_AGENT_PREFIX = "hfdiag"
KEEPALIVE_S = 2.0  # seconds an idle connection is kept for the next request


class HttpFailure(Exception):
    """A transport-level failure (DNS, connect, reset, timeout, oversize, redirect loop)."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind  # dns | connect | reset | timeout | too_large | redirect_loop | protocol | decode


@dataclass
class HttpResult:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes
    elapsed_ms: float
    redirects: list[str]

    def json(self) -> Any:
        if 300 <= self.status < 400:  # read with follow=False: a redirect is not the JSON answer asked for
            to = self.headers.get("location", "")
            raise HttpFailure(f"{_short(self.url)} answered {self.status} instead of JSON (redirect to "
                              f"{_short(urljoin(self.url, to)) if to else 'nowhere'}, not followed)", "redirect")
        try:
            return json.loads(self.body.decode("utf-8"))
        except UnicodeDecodeError:
            raise HttpFailure(f"invalid UTF-8 in the JSON answer of {_short(self.url)}", "decode") from None
        except ValueError as e:
            raise HttpFailure(f"malformed JSON from {_short(self.url)} ({str(e)[:60]})", "decode") from None


_short = short_url  # scheme, host, port and path: never the userinfo or the query


def settle(fut: asyncio.Future) -> None:
    """Done with a background read: cancel it, or take its exception (else asyncio prints "Task exception was
    never retrieved" with a traceback when it is collected)."""
    if not fut.done():
        fut.cancel()
    elif not fut.cancelled():
        fut.exception()


HUB_DOMAINS = ("huggingface.co", "hf.co", "hf.space")  # the hosts a Hub token is meant for


def is_hub_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in HUB_DOMAINS)


def origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    try:
        port = p.port or (443 if p.scheme == "https" else 80 if p.scheme == "http" else None)
    except ValueError:  # a port out of range, named by an answer: an origin nothing else has
        port = -1
    return p.scheme, (p.hostname or "").lower(), port


def classify_error(exc: BaseException, url: str) -> HttpFailure:
    """A precise one-line message for a transport failure."""
    where = _short(url)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return HttpFailure(f"connect timeout to {where}", "timeout")
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
        return HttpFailure(f"no data from {where} within the read timeout ({type(exc).__name__})", "timeout")
    if isinstance(exc, httpx.ConnectError):
        low = text.lower()
        if "name or service not known" in low or "temporary failure in name resolution" in low or "nodename" in low \
                or "no address associated" in low or "getaddrinfo" in low:
            return HttpFailure(f"DNS failure for {where}: {text}", "dns")
        if "refused" in low:
            return HttpFailure(f"connection refused by {where}", "connect")
        return HttpFailure(f"cannot connect to {where}: {text}", "connect")
    if isinstance(exc, httpx.RemoteProtocolError):
        low = text.lower()
        if "peer closed" in low or "without sending" in low or "incomplete" in low:
            return HttpFailure(f"{where} closed the connection early: {text}", "reset")
        return HttpFailure(f"protocol error from {where}: {text}", "protocol")
    if isinstance(exc, httpx.ReadError):
        return HttpFailure(f"connection reset while reading {where}: {text}", "reset")
    if isinstance(exc, httpx.DecodingError):
        return HttpFailure(f"undecodable body from {where}: {text}", "decode")
    if isinstance(exc, asyncio.TimeoutError):
        return HttpFailure(f"{where} did not finish within its deadline", "timeout")
    return HttpFailure(f"{type(exc).__name__} talking to {where}: {text}", "protocol")


class Http:
    def __init__(self, endpoint: str, token: str | None, *, trust_env: bool = True, request_timeout: float = 10.0,
                 connect_timeout: float = 5.0, user_agent: str | None = None, limiter=None):
        from hfdiag import __version__

        self.endpoint = endpoint.rstrip("/")
        # optional shared hfdiag.ratelimit.RateLimiter: consulted for requests to the Hub endpoint's origin only
        self.limiter = limiter
        self.token = token
        self._token_origins = {origin(self.endpoint)}
        self.request_timeout = request_timeout
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
            follow_redirects=False,
            trust_env=trust_env,
            verify=tls.context(trust_env),  # one per process, prepared ahead (hfdiag/tls.py)
            headers={"user-agent": user_agent or f"{USER_AGENT_PREFIX}/{__version__}",
                     "accept-encoding": ACCEPT_ENCODING},
            # an idle connection is dropped well before a server's own keep-alive timeout (uvicorn's is 5 s, the same
            # as httpx's default): reusing one the server is closing at that moment fails the request
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=KEEPALIVE_S),
            # with a limiter, every request to the Hub (streams included) is counted and its RateLimit read
            event_hooks={"request": [self._watch_write, *([self._limit_request] if limiter else [])],
                         "response": [self._limit_response] if limiter else []},
        )
        self.requests_sent = 0
        self._unwritten = 0  # requests started whose bytes have not left yet
        self._when_written: list = []

    def when_all_written(self, callback) -> None:
        """Call `callback` (once) as soon as every request started so far has been written to its connection
        (or failed): the moment a wave of requests is in flight and the client has nothing to do but wait."""
        self._when_written.append(callback)

    async def _watch_write(self, request: httpx.Request) -> None:
        # httpcore reports the steps of each request to the "trace" extension (chained to one already set).
        self._unwritten += 1
        outer = request.extensions.get("trace")
        pending = True

        async def trace(event: str, info: dict) -> None:
            nonlocal pending
            if pending and (event.endswith(".send_request_body.complete") or event.endswith(".failed")):
                pending = False
                self._unwritten -= 1
                if self._unwritten == 0:
                    callbacks, self._when_written[:] = self._when_written[:], []
                    for callback in callbacks:
                        callback()
            if outer is not None:
                await outer(event, info)

        request.extensions["trace"] = trace

    async def _limit_request(self, request: httpx.Request) -> None:
        if origin(str(request.url)) == origin(self.endpoint):
            await self.limiter.acquire(str(request.url))

    async def _limit_response(self, response: httpx.Response) -> None:
        if origin(str(response.request.url)) == origin(self.endpoint):
            self.limiter.observe(str(response.request.url), response.status_code, response.headers)

    def allow_token_for(self, url: str) -> bool:
        """Also send the token to this origin (a private Space's origin, as named by the Hub API), if it is a Hub
        host over https or the --endpoint's own host and scheme; never to another host or over plain http
        because an answer named it. Returns whether it is allowed."""
        scheme, host, port = origin(url)
        ep_scheme, ep_host, _ = origin(self.endpoint)
        if port == -1:
            return False
        if (scheme == "https" and is_hub_host(host)) or (scheme == ep_scheme and host == ep_host and host):
            self._token_origins.add((scheme, host, port))
            return True
        return False

    def hub(self, path: str) -> str:
        return f"{self.endpoint}{path}"

    def _auth_headers(self, url: str, auth: bool) -> dict:
        if auth and self.token and origin(url) in self._token_origins:
            return {"authorization": f"Bearer {self.token}"}
        return {}

    async def request(self, method: str, url: str, *, auth: bool = True, headers: dict | None = None,
                      params: dict | None = None, json_body: Any = None, follow: bool = True,
                      max_body: int = DEFAULT_MAX_BODY, deadline: float | None = None,
                      read_body: bool = True) -> HttpResult:
        """One request (following same-policy redirects), bounded in time and size."""
        total = deadline if deadline is not None else self.request_timeout

        async def once() -> HttpResult:
            try:
                return await asyncio.wait_for(
                    self._request(method, url, auth, headers, params, json_body, follow, max_body, read_body), total)
            except asyncio.TimeoutError:
                raise HttpFailure(f"{_short(url)} did not answer completely within {total:g}s", "timeout") from None

        if self.limiter is not None and origin(url) == origin(self.endpoint):
            # the rate-limit wait is outside the per-request deadline; a 429 is sent again after the back-off
            return await self.limiter.call(url, once)
        return await once()

    async def _request(self, method, url, auth, headers, params, json_body, follow, max_body, read_body):
        start = time.monotonic()
        seen: list[str] = []
        current = url
        first_origin = origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            # Authorization only to allowed origins, and never once a redirect left the first origin.
            send_auth = auth and origin(current) == first_origin
            hdrs = {**(headers or {}), **self._auth_headers(current, send_auth)}
            self.requests_sent += 1
            try:
                req = self.client.build_request(method, current, headers=hdrs, params=params, json=json_body)
                resp = await self.client.send(req, stream=True)
            except httpx.HTTPError as e:
                raise classify_error(e, current) from None
            try:
                if follow and resp.status_code in (301, 302, 303, 307, 308) and "location" in resp.headers:
                    nxt = urljoin(current, resp.headers["location"])
                    if nxt in seen or nxt == current:
                        raise HttpFailure(f"redirect loop at {_short(nxt)}", "redirect_loop")
                    if first_origin == origin(self.endpoint) and origin(nxt) != first_origin:
                        # The Hub API never sends its answers from another host (the /resolve redirects to CDNs
                        # are read with follow=False): an answer from there would be taken for the Hub's.
                        raise HttpFailure(f"{_short(current)} redirected to another host ({_short(nxt)}); "
                                          "not followed", "redirect_foreign")
                    seen.append(current)
                    current = nxt
                    params = None
                    if resp.status_code == 303:
                        method, json_body = "GET", None
                    continue
                body = await self._read(resp, current, max_body) if read_body else b""
            finally:
                await resp.aclose()
            return HttpResult(current, resp.status_code, resp.headers, body, (time.monotonic() - start) * 1000, seen)
        raise HttpFailure(f"more than {MAX_REDIRECTS} redirects from {_short(url)}", "redirect_loop")

    async def _read(self, resp: httpx.Response, url: str, max_body: int) -> bytes:
        try:
            return await read_body(resp, url, max_body)
        except BodyError as e:
            raise HttpFailure(str(e), e.kind) from None
        except httpx.HTTPError as e:
            raise classify_error(e, url) from None

    async def get_json(self, url: str, **kw) -> tuple[HttpResult, Any]:
        res = await self.request("GET", url, **kw)
        if res.status >= 400:
            return res, None
        return res, res.json()

    async def aclose(self) -> None:
        await self.client.aclose()
