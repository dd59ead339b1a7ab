"""DNS probe: the hosts Hugging Face traffic depends on, plus the hosts this run actually used (Space origin,
redirect/CAS/xorb hosts), through the system resolver (getaddrinfo: what Python clients really use) and a second
resolver (`--dns-server`, else dnspython reading resolv.conf). Per host: outcome class, latency, CNAME chain, TTL.

Against the simulator (trust_env off) the system resolver is not asked at all: only the simulator's loopback DNS
responder is, so a test never sends a packet to a non-loopback address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from urllib.parse import urlsplit

from hfdiag.evidence.model import ProbeResult
from hfdiag.probes.base import ProbeContext
from hfdiag.probes.dnsutil import DnsOutcome, dnspython_ready, parse_server, resolve_using, resolve_with

HUB_HOSTS = ("huggingface.co", "hf.co")
CDN_HOSTS = ("cas-server.xethub.hf.co", "cas-bridge.xethub.hf.co", "transfer.xethub.hf.co", "cdn-lfs.hf.co")
OTHER_HOSTS = ("status.huggingface.co",)
DEFAULT_HOSTS = HUB_HOSTS + CDN_HOSTS + OTHER_HOSTS
CDN_SUFFIXES = (".xethub.hf.co", ".cdn.hf.co", ".cloudfront.net")
FAILED = ("nxdomain", "nodata", "servfail", "refused", "timeout", "temporary", "error")


def is_cdn_host(host: str) -> bool:
    h = host.lower()
    return h in CDN_HOSTS or h.endswith(CDN_SUFFIXES) or h.startswith("cdn-lfs") or h == "cdn.hf.co"


def needs_dns(host: str | None) -> bool:
    if not host or host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
        return False
    except ValueError:
        return True


def _is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_loopback_server(server: str) -> bool:
    try:
        return ipaddress.ip_address(parse_server(server)[0]).is_loopback
    except ValueError:
        return parse_server(server)[0] == "localhost"


async def system_lookup(host: str, timeout: float = 3.0) -> DnsOutcome:
    """getaddrinfo, classified: EAI_NONAME -> nxdomain, EAI_NODATA -> nodata, EAI_AGAIN -> temporary
    (SERVFAIL, REFUSED, no reply and no resolver all read "Temporary failure in name resolution")."""
    loop = asyncio.get_running_loop()
    out = DnsOutcome(host, "error")
    start = time.monotonic()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, 443, type=socket.SOCK_STREAM), timeout)
        out.outcome = "ok"
        out.addresses = sorted({i[4][0] for i in infos})
    except asyncio.TimeoutError:
        out.outcome, out.error = "timeout", f"getaddrinfo gave no answer within {timeout:g}s"
    except socket.gaierror as e:
        codes = {getattr(socket, "EAI_NONAME", -2): "nxdomain", getattr(socket, "EAI_AGAIN", -3): "temporary",
                 getattr(socket, "EAI_NODATA", -5): "nodata"}
        out.outcome = codes.get(e.errno, "error")
        out.error = f"[Errno {e.errno}] {e.strerror}"
    except (OSError, UnicodeError) as e:
        out.outcome, out.error = "error", f"{type(e).__name__}: {e}"[:200]
    out.latency_ms = (time.monotonic() - start) * 1000
    return out


async def conf_lookup(host: str, timeout: float = 3.0) -> DnsOutcome:
    """dnspython with the system's resolv.conf: the same servers as getaddrinfo, but with rcodes, CNAMEs, TTLs."""
    await dnspython_ready()
    import dns.asyncresolver
    import dns.resolver

    try:
        r = dns.asyncresolver.Resolver()
    except dns.resolver.NoResolverConfiguration as e:
        return DnsOutcome(host, "error", error=f"no resolver configuration: {e}"[:200])
    return await resolve_using(r, host, "A", timeout, "the resolv.conf servers")


class DnsProbe:
    name = "dns"
    after: tuple[str, ...] = ("space",)
    timeout = 45.0

    @staticmethod
    def prepare(ctx: ProbeContext) -> None:
        # dnspython takes ~30 ms to import: do it while the first requests are in flight, not when the route
        # probe (which starts with this one) is about to send its requests.
        ctx.warmups.append(lambda: __import__("dns.asyncresolver"))

    def enabled(self, ctx: ProbeContext) -> str | None:
        return None

    def plan(self, ctx: ProbeContext) -> tuple[bool, str | None, float]:
        """(ask the system resolver, second resolver server or "conf" or None, per-lookup timeout)."""
        extra = ctx.options.extra
        # Against the simulator (or any loopback endpoint) the public names are not this run's hosts: only a
        # loopback --dns-server is asked, so nothing leaves the machine.
        sim_mode = not ctx.options.trust_env or not needs_dns(_endpoint_host(ctx)) and _is_loopback_host(
            _endpoint_host(ctx))
        system = extra.get("dns_system", not sim_mode)
        second = ctx.options.dns_server or (None if sim_mode else "conf")
        if sim_mode and second and second != "conf" and not _is_loopback_server(second):
            second = None  # against the simulator, never a packet to a non-loopback address
        timeout = float(extra.get("dns_timeout", 1.5 if sim_mode else 3.0))
        return bool(system), second, timeout

    def run_hosts(self, ctx: ProbeContext) -> list[str]:
        hosts = []
        for url in (ctx.options.endpoint, ctx.shared.get("space.host")):
            if url:
                hosts.append(urlsplit(url).hostname or "")
        hosts += list(ctx.shared.get("transfer.hosts") or [])
        return [h.lower() for h in hosts if needs_dns(h)]

    async def run(self, ctx: ProbeContext, result: ProbeResult) -> None:
        system, second, timeout = self.plan(ctx)
        result.detail["resolvers"] = {"system": system, "second": second, "timeout_s": timeout}
        if not system and not second:
            result.status = "skipped"
            result.error = "no resolver to ask (simulator mode without a loopback --dns-server)"
            return
        rows: dict[str, dict] = {}
        hosts = list(dict.fromkeys([*DEFAULT_HOSTS, *self.run_hosts(ctx)]))
        ctx.shared["dns.step"] = f"resolving {len(hosts)} hosts"
        await self._resolve(ctx, hosts, rows, system, second, timeout)
        self._record(result, rows, system, second)
        done = ctx.shared.get("transfer.done")
        if done is not None and not done.is_set():
            ctx.shared["dns.step"] = "waiting for the transfer probe's hosts"
            await done.wait()
            more = [h for h in self.run_hosts(ctx) if h not in rows]
            if more:
                await self._resolve(ctx, more, rows, system, second, timeout)
                self._record(result, rows, system, second)

    async def _resolve(self, ctx, hosts, rows, system, second, timeout) -> None:
        shared = ctx.options.extra.get("shared_calls")  # a scan: the fixed hosts' lookups are asked once

        async def one(host: str) -> None:
            if shared is not None and host in DEFAULT_HOSTS:
                key = ("dns", host, system, second, timeout, _endpoint_host(ctx))
                rows[host] = dict(await shared.once(key, lambda: lookup(host), lambda row: not _local_failure(row)))
            else:
                rows[host] = await lookup(host)

        async def lookup(host: str) -> dict:
            jobs = []
            if system:
                jobs.append(system_lookup(host, timeout))
            if second == "conf":
                jobs.append(conf_lookup(host, timeout))
            elif second:
                jobs.append(resolve_with(second, host, timeout=timeout))
            outs = await asyncio.gather(*jobs)
            row = {"host": host, "role": "hub" if host in HUB_HOSTS or host == _endpoint_host(ctx) else
                   "cdn" if is_cdn_host(host) or host in (ctx.shared.get("transfer.hosts") or []) else "other"}
            if system:
                row["system"] = outs.pop(0)
            if second:
                row["second"] = outs.pop(0)
            return row

        await asyncio.gather(*(one(h) for h in hosts))
        # A lookup that got no answer at all (timeout, local socket error) is asked once more, after the first
        # round: under load a local resolver drops queries, and one lost packet must not become a DNS verdict.
        again = [h for h in hosts if _local_failure(rows[h])]
        if again:
            await asyncio.gather(*(one(h) for h in again))
        ctx.say(self.name, f"{len(rows)} hosts resolved")

    def _record(self, result: ProbeResult, rows: dict, system: bool, second: str | None) -> None:
        result.facts = [f for f in result.facts if not f.key.startswith("dns.")]
        failing, disagree, details = [], [], []
        primary_name = "system" if system else (second if second != "conf" else "resolv.conf")
        table = []
        for host in sorted(rows, key=lambda h: (DEFAULT_HOSTS.index(h) if h in DEFAULT_HOSTS else 99, h)):
            row = rows[host]
            prim: DnsOutcome = row.get("system") or row.get("second")
            result.fact(f"dns.outcome.{host}", prim.outcome)
            if prim.outcome != "ok":
                failing.append(host)
                details.append(f"{host}: {prim.outcome} ({primary_name})")
            sys_o, sec_o = row.get("system"), row.get("second")
            if sys_o is not None and sec_o is not None and (sys_o.outcome == "ok") != (sec_o.outcome == "ok"):
                disagree.append(f"{host}: system {sys_o.outcome}, {second if second != 'conf' else 'resolv.conf'} "
                                f"{sec_o.outcome}")
            table.append({"host": host, "role": row["role"],
                          **({"system": sys_o.to_dict()} if sys_o else {}),
                          **({"second": sec_o.to_dict()} if sec_o else {})})
        result.fact("dns.failing_hosts", failing)
        result.fact("dns.resolver", primary_name)
        result.fact("dns.hub_failing", any(rows[h]["role"] == "hub" for h in failing))
        result.fact("dns.cdn_failing", any(rows[h]["role"] == "cdn" for h in failing))
        if failing:
            result.fact("dns.failing_local", all(_local_failure(rows[h]) for h in failing))
        if details:
            result.fact("dns.failing_detail", "; ".join(details)[:400])
        if system and second:
            result.fact("dns.resolvers_disagree", bool(disagree))
        result.detail["hosts"] = table
        if disagree:
            result.detail["disagreements"] = disagree
        result.excerpts = [f"{d}" for d in details[:8]] + [f"resolvers disagree: {d}" for d in disagree[:4]]


LOCAL_OUTCOMES = ("timeout", "error")  # no DNS server said anything: the failure may be this machine's


def _local_failure(row: dict) -> bool:
    prim = row.get("system") or row.get("second")
    return prim is not None and prim.outcome in LOCAL_OUTCOMES


def _endpoint_host(ctx: ProbeContext) -> str:
    return (urlsplit(ctx.options.endpoint).hostname or "").lower()
