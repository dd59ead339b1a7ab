"""Transfer probe (`--transfer-file REPO[:PATH]`): the Hub resolve, the backend decision, then a bounded read
on the byte path (xet-transfer-dns.md §1, §4 "Small-range throughput measurement").

- HEAD /resolve without following cross-host redirects: X-Repo-Commit, etag, size, Xet headers, redirect host.
- Xet path: read token (Hub) -> reconstruction (CAS, Range bytes=0-cap) -> GET the first fetch_info URL with its
  exact url_range, reading at most the byte cap.
- HTTP path: a ranged GET (206 expected) of a bounded prefix on the redirect target (no Authorization there).
- Timings per boundary: DNS, connect, TLS, time to first byte (httpx trace extension), sustained throughput,
  stall detection (no bytes for N s). Never more than the byte cap is consumed; never a whole large file.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from urllib.parse import quote, urljoin, urlsplit

import httpx

from hfdiag.evidence.model import ProbeResult
from hfdiag.probes.base import ProbeContext
from hfdiag.probes.http import HttpFailure, _short, classify_error, origin

DEFAULTS = {
    "max_bytes": 8 * 1024 * 1024,  # byte cap of the bounded read
    "max_s": 6.0,  # time cap of the bounded read
    "stall_s": 3.0,  # no bytes for this long = stall
    "min_bps": 256 * 1024,  # sustained throughput below this = throttled
}
ENV_KNOBS = {"max_bytes": "HFDIAG_TRANSFER_MAX_BYTES", "max_s": "HFDIAG_TRANSFER_MAX_S",
             "stall_s": "HFDIAG_TRANSFER_STALL_S", "min_bps": "HFDIAG_TRANSFER_MIN_BPS"}
REPO_PREFIXES = {"datasets/": "dataset", "spaces/": "space", "models/": "model"}


def parse_transfer_file(spec: str) -> tuple[str, str, str | None]:
    """`[datasets/|spaces/]owner/name[:path]` -> (repo_type, repo_id, path or None)."""
    s = spec.strip()
    repo, sep, path = s.partition(":")
    repo_type = "model"
    for prefix, kind in REPO_PREFIXES.items():
        if repo.startswith(prefix):
            repo_type, repo = kind, repo[len(prefix):]
            break
    repo = repo.strip("/")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ValueError(f"--transfer-file {spec!r}: expected [datasets/|spaces/]OWNER/NAME[:PATH]")
    return repo_type, repo, (path.strip("/") or None) if sep else None


def knobs(ctx: ProbeContext) -> dict:
    environ = ctx.options.extra.get("environ", os.environ)
    out = dict(DEFAULTS)
    for k, var in ENV_KNOBS.items():
        raw = ctx.options.extra.get(f"transfer_{k}", environ.get(var))
        if raw is not None:
            try:
                out[k] = type(DEFAULTS[k])(float(raw))
            except (TypeError, ValueError):
                pass
    return out


def parse_links(value: str | None) -> dict[str, str]:
    """RFC 8288 Link header -> {rel: url} (first url per rel)."""
    out: dict[str, str] = {}
    for part in (value or "").split(","):
        if "<" not in part or ">" not in part:
            continue
        url = part[part.index("<") + 1:part.index(">")]
        for param in part[part.index(">") + 1:].split(";"):
            k, _, v = param.strip().partition("=")
            if k.strip().lower() == "rel":
                for rel in v.strip().strip('"').split():
                    out.setdefault(rel, url)
    return out


def normalize_etag(value: str | None) -> str | None:
    if not value:
        return None
    v = value.strip()
    if v.startswith("W/"):
        v = v[2:]
    return v.strip('"') or None


class Timeline:
    """httpx trace-extension events -> connect / TLS / headers timings (ms, relative to the request start)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.marks: dict[str, float] = {}

    async def __call__(self, name: str, info: dict) -> None:
        self.marks.setdefault(name, (time.monotonic() - self.t0) * 1000)

    def span(self, start: str, end: str) -> float | None:
        a, b = self.marks.get(start), self.marks.get(end)
        return round(b - a, 1) if a is not None and b is not None else None

    def summary(self) -> dict:
        connect = self.span("connection.connect_tcp.started", "connection.connect_tcp.complete")
        tls = self.span("connection.start_tls.started", "connection.start_tls.complete")
        headers = None
        for ev in ("http11.receive_response_headers.complete", "http2.receive_response_headers.complete"):
            if ev in self.marks:
                headers = round(self.marks[ev], 1)
        return {"connect_ms": connect, "tls_ms": tls, "headers_ms": headers,
                "connection_reused": "connection.connect_tcp.started" not in self.marks}


async def dns_time(host: str, port: int) -> tuple[float | None, str | None]:
    """Time the system resolver for a host (what httpx will use); None for literal addresses."""
    from hfdiag.probes.dnsutil import is_literal_address

    if not host or is_literal_address(host):
        return None, None
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    try:
        await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), 5.0)
    except asyncio.TimeoutError:
        return round((time.monotonic() - start) * 1000, 1), "resolver timeout"
    except socket.gaierror as e:
        return round((time.monotonic() - start) * 1000, 1), f"[Errno {e.errno}] {e.strerror}"
    return round((time.monotonic() - start) * 1000, 1), None


async def bounded_read(client: httpx.AsyncClient, url: str, headers: dict, *, max_bytes: int, max_s: float,
                       stall_s: float, connect_timeout: float = 5.0) -> dict:
    """One GET, consuming at most `max_bytes` body bytes within `max_s`, with stall detection.

    Returns status, headers, timings (dns/connect/tls/headers/first byte), bytes, throughput, and how it ended:
    `cap` (byte cap reached), `end` (whole answer read), `time` (time cap), `stall`, `closed` (peer closed
    mid-body), `error`."""
    p = urlsplit(url)
    out: dict = {"url": _short(url), "host": p.hostname, "bytes": 0, "ended": None, "status": None}
    dns_ms, dns_err = await dns_time(p.hostname or "", p.port or (443 if p.scheme == "https" else 80))
    out["dns_ms"] = dns_ms
    if dns_err:
        out.update(ended="error", kind="dns", error=f"DNS failure for {p.hostname}: {dns_err}")
        return out
    tl = Timeline()
    req = client.build_request("GET", url, headers=headers,
                               extensions={"trace": tl, "timeout": {"connect": connect_timeout, "read": stall_s,
                                                                    "write": 5.0, "pool": 5.0}})
    start = time.monotonic()
    try:
        resp = await asyncio.wait_for(client.send(req, stream=True), max(stall_s, connect_timeout) + 1)
    except asyncio.TimeoutError:
        out.update(ended="error", kind="timeout", error=f"no response headers from {_short(url)}")
        out.update(tl.summary())
        return out
    except httpx.HTTPError as e:
        f = classify_error(e, url)
        out.update(ended="error", kind=f.kind, error=str(f))
        out.update(tl.summary())
        return out
    out["status"] = resp.status_code
    out["response_headers"] = {k: v for k, v in resp.headers.items()
                               if k in ("content-range", "content-length", "content-type", "etag", "x-cache",
                                        "x-amz-cf-pop", "x-amz-cf-id", "via", "server", "x-request-id")}
    out.update(tl.summary())
    first_at = last_at = None
    stalled_at = None
    body_head = b""
    try:
        it = resp.aiter_raw().__aiter__()
        while True:
            now = time.monotonic()
            left_total = max_s - (now - start)
            if left_total <= 0:
                out["ended"] = "time"
                break
            try:
                chunk = await asyncio.wait_for(it.__anext__(), min(stall_s + 0.5, left_total))
            except StopAsyncIteration:
                out["ended"] = "end"
                break
            except asyncio.TimeoutError:
                if time.monotonic() - start >= max_s - 0.01:
                    out["ended"] = "time"
                else:
                    out["ended"] = "stall"
                    stalled_at = out["bytes"]
                break
            if not chunk:
                continue
            take = min(len(chunk), max_bytes - out["bytes"])
            if first_at is None:
                first_at = time.monotonic()
            last_at = time.monotonic()
            if resp.status_code >= 400 and len(body_head) < 2048:
                body_head += chunk[: 2048 - len(body_head)]
            out["bytes"] += take
            if out["bytes"] >= max_bytes:
                out["ended"] = "cap"
                break
    except httpx.ReadTimeout:
        out["ended"] = "stall"
        stalled_at = out["bytes"]
    except httpx.HTTPError as e:
        f = classify_error(e, url)
        out["ended"] = "closed" if f.kind == "reset" else "error"
        out["kind"], out["error"] = f.kind, str(f)
    finally:
        await resp.aclose()
    if first_at is not None and resp.status_code < 400:
        out["first_byte_ms"] = round((first_at - start) * 1000, 1)
        span = max((last_at or first_at) - first_at, 0.0)
        if out["ended"] in ("stall", "time"):
            span = max(span, (time.monotonic() - first_at) - (stall_s if out["ended"] == "stall" else 0))
        out["transfer_s"] = round(span, 3)
        out["throughput_bps"] = round(out["bytes"] / max(span, 0.001), 1) if out["bytes"] else None
    if stalled_at is not None:
        out["stalled_at_bytes"] = stalled_at
    if body_head:
        out["body_head"] = body_head.decode("utf-8", errors="replace")[:300]
    out["elapsed_ms"] = round((time.monotonic() - start) * 1000, 1)
    return out


class TransferProbe:
    name = "transfer"
    after: tuple[str, ...] = ("space",)
    timeout = 30.0

    @staticmethod
    def prepare(ctx: ProbeContext) -> None:
        ctx.shared["transfer.done"] = asyncio.Event()
        ctx.shared.setdefault("transfer.hosts", [])

    def enabled(self, ctx: ProbeContext) -> str | None:
        if not ctx.options.transfer_file:
            ctx.shared["transfer.done"].set()
            return "no --transfer-file given (the byte path is probed only on request)"
        return None

    async def run(self, ctx: ProbeContext, result: ProbeResult) -> None:
        try:
            await self._run(ctx, result)
        finally:
            ctx.shared["transfer.done"].set()

    async def _run(self, ctx: ProbeContext, result: ProbeResult) -> None:
        from hfdiag import clientenv

        http = ctx.http
        k = knobs(ctx)
        try:
            repo_type, repo_id, path = parse_transfer_file(ctx.options.transfer_file or "")
        except ValueError as e:
            raise HttpFailure(str(e), "usage") from None
        result.detail["limits"] = dict(k)
        environ = ctx.options.extra.get("environ", os.environ)
        client = clientenv.inspect(environ)
        prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[repo_type]
        if path is None:
            ctx.shared["transfer.step"] = f"listing the files of {prefix}{repo_id}"
            path = await self._largest_file(ctx, result, repo_type, repo_id)
        result.detail["file"] = f"{prefix}{repo_id}:{path}"
        url = http.hub(f"/{prefix}{repo_id}/resolve/main/{quote(path)}")

        # 1. resolve (HEAD, same-host redirects only)
        ctx.shared["transfer.step"] = "HEAD /resolve"
        head, location = await self._head(ctx, url)
        h = head.headers
        result.fact("transfer.resolve_status", head.status)
        result.detail["resolve"] = {"status": head.status, "ms": round(head.elapsed_ms, 1),
                                    "request_id": h.get("x-request-id"), "redirects": head.redirects}
        commit = h.get("x-repo-commit")
        if commit:
            result.fact("transfer.repo_commit", commit)
        if head.status >= 400:
            result.fact("transfer.error_kind", "hub_unreachable" if head.status >= 500 else "resolve_error")
            self._client_facts(result, client, None, None)
            raise HttpFailure(f"/resolve answered {head.status} "
                              f"({h.get('x-error-code') or ''} {h.get('x-error-message') or ''})".strip(), "http")
        etag = normalize_etag(h.get("x-linked-etag") or h.get("etag"))
        size_raw = h.get("x-linked-size") or (h.get("content-length") if location is None else None)
        size = int(size_raw) if size_raw and size_raw.isdigit() else None
        links = parse_links(h.get("link"))
        xet_hash = h.get("x-xet-hash")
        xet_auth = links.get("xet-auth") or h.get("x-xet-refresh-route")
        xet_headers = bool(xet_hash and xet_auth)
        if size is not None:
            result.fact("transfer.size", size)
        result.fact("transfer.xet_headers", xet_headers)
        redirect_host = urlsplit(location).hostname if location else None
        if redirect_host:
            result.fact("transfer.redirect_host", redirect_host)
            self._host(ctx, redirect_host)
        result.detail["resolve"].update({"etag": etag, "size": size, "xet_hash": xet_hash,
                                         "xet_auth": bool(xet_auth), "redirect_host": redirect_host})

        # 2. the backend decision and each of its inputs
        backend = "xet" if xet_headers else "http"
        result.fact("transfer.backend", backend)
        result.fact("transfer.client_backend", client.backend_for(xet_headers))
        result.detail["decision"] = client.decision_inputs(xet_headers)
        client.problems = clientenv.problems(client, size, xet_headers)
        self._client_facts(result, client, size, xet_headers)
        if backend == "xet":
            result.fact("transfer.xet_involved", True)

        # 3. the byte path
        if backend == "xet":
            read = await self._xet(ctx, result, xet_auth, xet_hash, k)
        else:
            target = location or url
            ctx.shared["transfer.step"] = f"ranged GET on {urlsplit(target).hostname}"
            read = await bounded_read(http.client, target, {"range": f"bytes=0-{k['max_bytes'] - 1}",
                                                            "accept-encoding": "identity"},
                                      max_bytes=k["max_bytes"], max_s=k["max_s"], stall_s=k["stall_s"])
            if read.get("status") is not None:
                result.fact("transfer.range_status", read["status"])
                result.fact("transfer.range_ignored", read["status"] == 200)
        if read is not None:
            self._record_read(ctx, result, read, k, size)

    async def _largest_file(self, ctx, result, repo_type: str, repo_id: str) -> str:
        res = await ctx.http.request("GET", ctx.http.hub(f"/api/{repo_type}s/{quote(repo_id, safe='/')}"),
                                     params={"blobs": "true"})
        if res.status >= 400:
            raise HttpFailure(f"cannot list {repo_type} {repo_id} to pick its largest file ({res.status}); "
                              "name the file as REPO:PATH", "http")
        data = res.json()
        sibs = [s for s in (data.get("siblings") or []) if isinstance(s, dict) and s.get("rfilename")] \
            if isinstance(data, dict) else []
        if not sibs:
            raise HttpFailure(f"{repo_type} {repo_id} lists no files; name the file as REPO:PATH", "http")

        def size(s):
            lfs = s.get("lfs") if isinstance(s.get("lfs"), dict) else {}
            return int(lfs.get("size") or s.get("size") or 0)

        best = max(sibs, key=size)
        result.detail["picked"] = {"path": best["rfilename"], "size": size(best), "files": len(sibs)}
        return best["rfilename"]

    async def _head(self, ctx, url: str):
        """HEAD, following only same-origin (relative) redirects; returns (answer, cross-host Location)."""
        current = url
        hops = []
        for _ in range(4):
            res = await ctx.http.request("HEAD", current, follow=False, headers={"accept-encoding": "identity"},
                                         read_body=False)
            loc = res.headers.get("location")
            if res.status in (301, 302, 303, 307, 308) and loc:
                nxt = urljoin(current, loc)
                if origin(nxt) == origin(current) and "x-xet-hash" not in res.headers:
                    hops.append(_short(current))
                    current = nxt
                    continue
                res.redirects = hops
                return res, nxt
            res.redirects = hops
            return res, None
        raise HttpFailure(f"too many same-host redirects from {_short(url)}", "redirect_loop")

    async def _xet(self, ctx, result, token_url: str, xet_hash: str, k: dict) -> dict | None:
        http = ctx.http
        token_url = urljoin(http.endpoint + "/", token_url)
        # 3a. read token from the Hub (the Hub token goes only to the Hub endpoint's origin)
        ctx.shared["transfer.step"] = "asking the Hub for a Xet read token"
        tok = await http.request("GET", token_url, follow=False, max_body=256 * 1024)
        result.fact("transfer.token_status", tok.status)
        result.detail["token"] = {"status": tok.status, "ms": round(tok.elapsed_ms, 1)}
        if tok.status >= 400:
            result.fact("transfer.error_kind", "cas_error")
            return None
        data = {}
        try:
            data = tok.json() if tok.body else {}
        except HttpFailure:
            data = {}
        data = data if isinstance(data, dict) else {}
        cas_url = data.get("casUrl") or tok.headers.get("x-xet-cas-url")
        access = data.get("accessToken") or tok.headers.get("x-xet-access-token")
        if not cas_url or not access:
            result.fact("transfer.error_kind", "cas_error")
            raise HttpFailure("the Xet token answer has no casUrl/accessToken", "decode")
        cas_host = urlsplit(cas_url).hostname
        result.fact("transfer.cas_host", cas_host or "")
        self._host(ctx, cas_host)
        # 3b. reconstruction (CAS API), for the first cap bytes of the file
        ctx.shared["transfer.step"] = f"asking CAS {cas_host} for the reconstruction"
        rec_url = f"{cas_url.rstrip('/')}/v1/reconstructions/{xet_hash}"
        rec = await http.request("GET", rec_url, auth=False, follow=False, max_body=4 * 1024 * 1024,
                                 headers={"authorization": f"Bearer {access}",
                                          "range": f"bytes=0-{k['max_bytes'] - 1}"})
        result.fact("transfer.reconstruction_status", rec.status)
        result.detail["reconstruction"] = {"status": rec.status, "ms": round(rec.elapsed_ms, 1),
                                           "request_id": rec.headers.get("x-request-id")}
        if rec.status >= 400:
            result.fact("transfer.error_kind", "cas_error")
            return None
        info = rec.json()
        terms = info.get("terms") if isinstance(info, dict) else None
        fetch = info.get("fetch_info") if isinstance(info, dict) else None
        if not terms or not isinstance(fetch, dict):
            result.fact("transfer.error_kind", "cas_error")
            raise HttpFailure("the reconstruction has no terms/fetch_info", "decode")
        first = (fetch.get(terms[0].get("hash")) or [None])[0]
        if not isinstance(first, dict) or not first.get("url") or not isinstance(first.get("url_range"), dict):
            result.fact("transfer.error_kind", "cas_error")
            raise HttpFailure("the reconstruction's first term has no fetch_info url/url_range", "decode")
        ur = first["url_range"]
        result.detail["reconstruction"].update({"terms": len(terms), "url_range": [ur.get("start"), ur.get("end")]})
        xorb_host = urlsplit(first["url"]).hostname
        self._host(ctx, xorb_host)
        # 3c. the first xorb range, with its exact signed Range header, read up to the cap
        ctx.shared["transfer.step"] = f"reading the first xorb range from {xorb_host}"
        read = await bounded_read(http.client, first["url"], {"range": f"bytes={ur['start']}-{ur['end']}"},
                                  max_bytes=k["max_bytes"], max_s=k["max_s"], stall_s=k["stall_s"])
        if read.get("status") is not None:
            result.fact("transfer.range_status", read["status"])
            result.fact("transfer.range_ignored", read["status"] == 200)
            if read["status"] == 403:
                result.fact("transfer.signed_range_403", True)
                result.fact("transfer.error_kind", "signed_403")
        return read

    def _host(self, ctx, host: str | None) -> None:
        hosts = ctx.shared.setdefault("transfer.hosts", [])
        if host and host not in hosts:
            hosts.append(host)

    def _client_facts(self, result, client, size, xet_headers) -> None:
        for key, value in client.facts().items():
            result.fact(key, value)
        result.detail["client"] = client.to_dict()

    def _record_read(self, ctx, result, read: dict, k: dict, size: int | None) -> None:
        result.detail["read"] = {key: v for key, v in read.items() if key != "body_head"}
        if read.get("body_head"):
            result.excerpts.append(f"{read.get('host')} answered {read.get('status')}: {read['body_head'][:200]}")
        if read.get("host"):
            result.fact("transfer.bytes_host", read["host"])
        result.fact("transfer.bytes_read", read["bytes"])
        timings = {key: read.get(key) for key in ("dns_ms", "connect_ms", "tls_ms", "headers_ms", "first_byte_ms",
                                                    "elapsed_ms")}
        result.detail["timings"] = timings
        if read.get("dns_ms") is not None:
            result.fact("transfer.dns_ms", read["dns_ms"])
        if read.get("connect_ms") is not None:
            result.fact("transfer.connect_ms", read["connect_ms"])
        if read.get("tls_ms") is not None:
            result.fact("transfer.tls_ms", read["tls_ms"])
        if read.get("first_byte_ms") is not None:
            result.fact("transfer.first_byte_ms", read["first_byte_ms"])
        bps = read.get("throughput_bps")
        if bps is not None:
            result.fact("transfer.throughput_bps", bps)
        ended = read.get("ended")
        status = read.get("status")
        ok_status = status in (200, 206)
        stalled = ended == "stall" and ok_status
        closed = ended == "closed" and ok_status
        result.fact("transfer.stalled", stalled)
        if stalled:
            result.fact("transfer.stalled_at_bytes", read.get("stalled_at_bytes", read["bytes"]))
            result.fact("transfer.error_kind", "stall")
        result.fact("transfer.body_closed_early", closed)
        if closed:
            result.fact("transfer.error_kind", "remote_protocol")
        # throughput is judged only on a long enough sample: the time cap, or at least one second of bytes
        sample_ok = ended == "time" or (read.get("transfer_s") or 0) >= 1.0
        throttled = bool(ok_status and not stalled and bps is not None and sample_ok and bps < k["min_bps"])
        result.fact("transfer.throttled", throttled)
        if throttled:
            result.fact("transfer.error_kind", "throttled")
        complete = bool(ok_status and status == 206 and ended in ("cap", "end", "time") and not throttled)
        result.fact("transfer.complete", complete)
        if ended == "error":
            if read.get("kind") == "dns":
                result.fact("transfer.error_kind", "dns")
            raise HttpFailure(read.get("error") or "the byte request failed", read.get("kind") or "connect")
        if not ok_status:
            result.status = "error"
            result.error = f"{read.get('host')} answered {status} to the ranged byte request"
        elif not complete:
            result.status = "error"
            result.error = {"stall": f"no bytes from {read.get('host')} for {k['stall_s']:g}s after "
                                     f"{read['bytes']} bytes",
                            "closed": f"{read.get('host')} closed the connection after {read['bytes']} bytes",
                            }.get(ended) or (f"throughput {bps:.0f} B/s from {read.get('host')} is below "
                                             f"{k['min_bps']} B/s" if throttled else
                                             f"{read.get('host')} ignored the Range header (200)")
        ctx.say(self.name, f"{read['bytes']} bytes from {read.get('host')} ({ended})")
