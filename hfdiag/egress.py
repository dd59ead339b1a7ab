"""`hfdiag egress` as a library: from inside a Space, check DNS -> TCP connect -> TLS -> HTTP answer for each
target, know the Spaces port policy, recognise challenge and block pages, and write one-line markers
(`hfdiag-marker {"event":"egress",...}`) that the run-log probe of a later `hfdiag check` turns into facts.

The HTTP request goes over the very connection that was just opened (plain HTTP/1.1 written by hand), so the
answer comes from the address that DNS step resolved, through the resolver that was asked (`--dns-server`).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit

from hfdiag.probes.dnsutil import is_literal_address

ALLOWED_PORTS = (80, 443, 8080)  # the only ports that leave a Space
DEFAULT_TARGETS = ("huggingface.co:443", "cas-bridge.xethub.hf.co:443")
MARKER_PREFIX = "hfdiag-marker "
MAX_BODY = 64 * 1024

CHALLENGE_PATTERNS = [
    re.compile(r"<title>\s*Just a moment\.\.\.\s*</title>", re.I),
    re.compile(r"cf-chl|challenge-platform|cf_chl_opt|__cf_chl", re.I),
    re.compile(r"Attention Required! \| Cloudflare", re.I),
    re.compile(r"Checking (if the site connection is secure|your browser before accessing)", re.I),
    re.compile(r"DDoS protection by", re.I),
    re.compile(r"Enable JavaScript and cookies to continue", re.I),
    re.compile(r"<title>\s*(hCaptcha|reCAPTCHA)", re.I),
    re.compile(r"px-captcha|_Incapsula_Resource|datadome", re.I),
]
BLOCK_PATTERNS = [
    re.compile(r"Sorry, you have been blocked", re.I),
    re.compile(r"(data ?cent(er|re)|hosting provider|cloud provider|VPN|proxy)[^.<]{0,80}(not (allowed|supported|permitted)|blocked)", re.I),
    re.compile(r"(blocked|not available|unsupported)[^.<]{0,80}(data ?cent(er|re)|hosting provider|cloud provider|VPN|proxy)", re.I),
    re.compile(r"unsupported_country_region_territory|Country, region, or territory not supported", re.I),
    re.compile(r"Access denied \| [^<]{1,80} used Cloudflare to restrict access", re.I),
    re.compile(r"Error 1006|Error 1020|Error 1015", re.I),
]


def in_space(environ: Mapping[str, str]) -> bool:
    """Spaces set SPACE_ID (and SPACE_HOST / SYSTEM=spaces) in the container environment."""
    return bool(environ.get("SPACE_ID") or environ.get("SPACE_HOST") or environ.get("SYSTEM") == "spaces")


@dataclass
class Target:
    host: str
    port: int
    scheme: str  # http | https
    path: str = "/"

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


def parse_target(spec: str) -> Target:
    """HOST, HOST:PORT, [V6]:PORT or an http(s):// URL. Port 80/8080 mean plain HTTP, anything else TLS."""
    s = spec.strip()
    if not s:
        raise ValueError("empty target")
    if "://" in s:
        p = urlsplit(s)
        if p.scheme not in ("http", "https") or not p.hostname:
            raise ValueError(f"target {spec!r}: expected HOST[:PORT] or an http(s) URL")
        try:
            port = p.port or (443 if p.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"target {spec!r}: bad port") from None
        return Target(p.hostname, port, p.scheme, (p.path or "/") + (f"?{p.query}" if p.query else ""))
    host, port = s, 443
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        if rest.startswith(":"):
            port = _port(rest[1:], spec)
    elif s.count(":") == 1:
        host, raw = s.split(":")
        port = _port(raw, spec)
    if not host or not re.fullmatch(r"[A-Za-z0-9.\-_:]+", host):
        raise ValueError(f"target {spec!r}: not a host name")
    return Target(host.lower(), port, "http" if port in (80, 8080) else "https")


def _port(raw: str, spec: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"target {spec!r}: bad port {raw!r}")
    return int(raw)


@dataclass
class EgressResult:
    target: Target
    dns: bool | None = None
    dns_outcome: str | None = None
    addresses: list[str] = field(default_factory=list)
    tcp: bool | None = None
    tls: bool | None = None
    http: int | None = None
    challenge: bool = False
    provider_block: bool = False
    error: str | None = None
    error_step: str | None = None
    dns_error: str | None = None
    connect_error: str | None = None
    timings: dict = field(default_factory=dict)
    server: str | None = None
    title: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.dns is not False and self.tcp and self.tls is not False and self.http is not None
                    and self.http < 500 and not self.challenge and not self.provider_block)

    def marker(self) -> dict:
        return {"event": "egress", "target": self.target.host, "port": self.target.port, "dns": self.dns,
                "tcp": self.tcp, "tls": self.tls, "http": self.http, "challenge": self.challenge,
                "error": self.error}

    def to_dict(self) -> dict:
        return {"target": self.target.label, "scheme": self.target.scheme, "dns": self.dns,
                "dns_outcome": self.dns_outcome, "addresses": self.addresses[:4], "tcp": self.tcp, "tls": self.tls,
                "http": self.http, "challenge": self.challenge, "provider_block": self.provider_block,
                "server": self.server, "title": self.title, "error": self.error, "error_step": self.error_step,
                "timings": self.timings}


def marker_line(result: EgressResult) -> str:
    return MARKER_PREFIX + json.dumps(result.marker(), separators=(",", ":"))


def _dns_error_class(text: str) -> str:
    low = text.lower()
    if "-2]" in low or "name or service not known" in low or "nxdomain" in low or "nodename nor servname" in low:
        return "nxdomain"
    if "-5]" in low or "no address associated" in low or "nodata" in low:
        return "nodata"
    if "-3]" in low or "temporary failure" in low or "servfail" in low or "refused" in low or "timeout" in low \
            or "timed out" in low:
        return "temporary"
    if "unknownhost" in low:
        return "unknown_host"
    if "failed to lookup address" in low:
        return "lookup_failed"
    return "temporary"


def _connect_error_class(exc: BaseException) -> str:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, OSError) and exc.errno in (101, 113, 65, 51):  # ENETUNREACH/EHOSTUNREACH (linux, mac)
        return "unreachable"
    return "refused" if "refused" in str(exc).lower() else "unreachable"


async def _resolve(target: Target, dns_server: str | None, timeout: float) -> tuple[bool, str, list[str], str | None]:
    """(ok, outcome, addresses, error)"""
    if is_literal_address(target.host):
        return True, "literal", [target.host.strip("[]")], None
    if dns_server:
        from hfdiag.probes.dnsutil import resolve_with

        o = await resolve_with(dns_server, target.host, timeout=timeout)
        err = None if o.outcome == "ok" else f"{o.outcome} from {dns_server}" + (f": {o.error}" if o.error else "")
        return o.outcome == "ok" and bool(o.addresses), o.outcome, o.addresses, err
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM), timeout)
    except asyncio.TimeoutError:
        return False, "timeout", [], f"no answer from the system resolver within {timeout:g}s"
    except socket.gaierror as e:
        return False, _dns_error_class(f"[Errno {e.errno}]"), [], f"[Errno {e.errno}] {e.strerror}"
    addrs = list(dict.fromkeys(i[4][0] for i in infos))
    return True, "ok", addrs, None


def classify_page(status: int | None, headers: dict, body: str) -> tuple[bool, bool, str | None]:
    """(challenge page, provider block, title)."""
    m = re.search(r"<title>(.*?)</title>", body, re.I | re.S)
    title = re.sub(r"\s+", " ", m.group(1)).strip()[:120] if m else None
    challenge = headers.get("cf-mitigated", "").lower() == "challenge" or any(p.search(body) for p in CHALLENGE_PATTERNS)
    block = not challenge and (status in (401, 403, 451) or status is None or status >= 400) and \
        any(p.search(body) for p in BLOCK_PATTERNS)
    return challenge, block, title


async def _http(reader, writer, target: Target, timeout: float, user_agent: str) -> tuple[int | None, dict, str]:
    host = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    req = (f"GET {target.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {user_agent}\r\n"
           "Accept: text/html,application/json,*/*\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n")
    writer.write(req.encode("ascii", errors="replace"))
    await asyncio.wait_for(writer.drain(), timeout)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("iso-8859-1").split("\r\n")
    m = re.match(r"HTTP/\d(?:\.\d)?\s+(\d{3})", lines[0])
    status = int(m.group(1)) if m else None
    headers = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if sep:
            headers[k.strip().lower()] = v.strip()
    body = b""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    want = int(headers["content-length"]) if headers.get("content-length", "").isdigit() else None
    while len(body) < MAX_BODY and (want is None or len(body) < want):
        left = end - loop.time()
        if left <= 0:
            break
        try:
            chunk = await asyncio.wait_for(reader.read(MAX_BODY - len(body)), left)
        except (asyncio.TimeoutError, ConnectionError, ssl.SSLError):
            break
        if not chunk:
            break
        body += chunk
    return status, headers, body.decode("utf-8", errors="replace")


async def check_target(target: Target, *, dns_server: str | None = None, timeout: float = 5.0,
                       user_agent: str = "hfdiag-egress") -> EgressResult:
    r = EgressResult(target)
    t0 = time.monotonic()
    ok, outcome, addrs, err = await _resolve(target, dns_server, timeout)
    r.timings["dns_ms"] = round((time.monotonic() - t0) * 1000, 1)
    r.dns, r.dns_outcome, r.addresses = ok, outcome, addrs
    if not ok:
        r.error, r.error_step = err or outcome, "dns"
        r.dns_error = {"nxdomain": "nxdomain", "nodata": "nodata"}.get(outcome, _dns_error_class(err or outcome))
        return r
    writer = None
    try:
        t1 = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(addrs[0], target.port), timeout)
        except (OSError, asyncio.TimeoutError) as e:
            r.tcp, r.error_step = False, "tcp"
            r.connect_error = _connect_error_class(e)
            r.error = "timed out" if r.connect_error == "timeout" else \
                f"connection {r.connect_error}: {str(e) or type(e).__name__}"[:200]
            r.timings["connect_ms"] = round((time.monotonic() - t1) * 1000, 1)
            return r
        r.tcp = True
        r.timings["connect_ms"] = round((time.monotonic() - t1) * 1000, 1)
        if target.scheme == "https":
            t2 = time.monotonic()
            try:
                ctx = ssl.create_default_context()
                await asyncio.wait_for(writer.start_tls(ctx, server_hostname=target.host), timeout)
                r.tls = True
            except (OSError, ssl.SSLError, asyncio.TimeoutError) as e:
                r.tls, r.error_step = False, "tls"
                r.error = ("TLS handshake timed out" if isinstance(e, asyncio.TimeoutError)
                           else f"{type(e).__name__}: {e}")[:200]
                r.timings["tls_ms"] = round((time.monotonic() - t2) * 1000, 1)
                return r
            r.timings["tls_ms"] = round((time.monotonic() - t2) * 1000, 1)
        t3 = time.monotonic()
        try:
            status, headers, body = await _http(reader, writer, target, timeout, user_agent)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ssl.SSLError) as e:
            r.error_step = "http"
            r.error = ("no HTTP answer within the timeout" if isinstance(e, asyncio.TimeoutError)
                       else f"no HTTP answer: {type(e).__name__}: {e}")[:200]
            return r
        r.timings["http_ms"] = round((time.monotonic() - t3) * 1000, 1)
        r.http, r.server = status, headers.get("server")
        r.challenge, r.provider_block, r.title = classify_page(status, headers, body)
        if r.challenge:
            r.error_step, r.error = "http", f"challenge page ({r.title or status})"
        elif r.provider_block:
            r.error_step, r.error = "http", f"block page ({r.title or status})"
        elif status is None or status >= 500:
            r.error_step, r.error = "http", f"HTTP {status}"
        return r
    finally:
        r.timings["total_ms"] = round((time.monotonic() - t0) * 1000, 1)
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                pass


async def check_all(targets: list[Target], **kw) -> list[EgressResult]:
    return list(await asyncio.gather(*(check_target(t, **kw) for t in targets)))


def facts_from_markers(markers: list[dict], inside: bool = True) -> dict:
    """egress.* facts from egress markers (a run log's, or this run's own): the first failing target is the
    evidence; with none failing, the first target."""
    items = [m for m in markers if isinstance(m, dict) and m.get("event") == "egress"]
    if not items:
        return {}

    def failed(m: dict) -> bool:
        http = m.get("http")
        return (m.get("dns") is False or m.get("tcp") is False or m.get("tls") is False or bool(m.get("challenge"))
                or bool(m.get("provider_block")) or (isinstance(http, int) and http >= 500)
                or (m.get("error") not in (None, "") and not isinstance(http, int)))

    def hop(m: dict) -> int:  # the failure earliest in the chain is the evidence; input order breaks ties
        return 0 if m.get("dns") is False else 1 if m.get("tcp") is False else 2 if m.get("tls") is False else 3

    bad = [m for m in items if failed(m)]
    m = min(bad, key=hop) if bad else items[0]
    out: dict = {"egress.in_space": inside}
    if isinstance(m.get("target"), str):
        out["egress.host"] = m["target"]
    port = m.get("port")
    if isinstance(port, int) and not isinstance(port, bool):
        out["egress.port"] = port
    for key, fact in (("dns", "egress.dns_ok"), ("tcp", "egress.tcp_ok"), ("tls", "egress.tls_ok")):
        if isinstance(m.get(key), bool):
            out[fact] = m[key]
    http = m.get("http")
    if isinstance(http, int) and not isinstance(http, bool):
        out["egress.http_status"] = http
    challenge = bool(m.get("challenge"))
    block = bool(m.get("provider_block"))
    out["egress.challenge_page"] = challenge
    if block:
        out["egress.provider_block"] = True
    if isinstance(http, int) and not isinstance(http, bool):
        out["egress.http_ok"] = http < 500 and not challenge and not block
    error = m.get("error") if isinstance(m.get("error"), str) else None
    if error:
        out["egress.error"] = error[:300]
    if m.get("dns") is False:
        out["egress.dns_error"] = m.get("dns_error") if isinstance(m.get("dns_error"), str) else \
            _dns_error_class(error or "")
    if m.get("tcp") is True or (isinstance(port, int) and port in ALLOWED_PORTS):
        out["egress.port_blocked"] = False
    if m.get("tcp") is False:
        ce = m.get("connect_error") if isinstance(m.get("connect_error"), str) else None
        if not ce:
            low = (error or "").lower()
            ce = "timeout" if "timed out" in low or "timeout" in low else "refused" if "refused" in low else \
                "reset" if "reset" in low else "unreachable"
        out["egress.connect_error"] = ce
        if isinstance(port, int) and port not in ALLOWED_PORTS:
            out["egress.port_blocked"] = inside  # the Spaces port policy applies only inside a Space
    out["egress.targets_failing"] = [f"{x.get('target')}:{x.get('port')}" for x in bad]
    return out


def facts_from_results(results: list[EgressResult], inside: bool) -> dict:
    markers = []
    for r in results:
        m = r.marker()
        m["provider_block"] = r.provider_block
        m["dns_error"] = r.dns_error
        m["connect_error"] = r.connect_error
        markers.append(m)
    return facts_from_markers(markers, inside)
