"""DNS lookups with dnspython against a chosen server, classified the way the reference does:
ok / nxdomain / nodata / servfail / refused / timeout, with latency, CNAME chain and TTL."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field


@dataclass
class DnsOutcome:
    host: str
    outcome: str  # ok | nxdomain | nodata | servfail | refused | timeout | error
    addresses: list[str] = field(default_factory=list)
    cnames: list[str] = field(default_factory=list)
    ttl: int | None = None
    latency_ms: float = 0.0
    error: str | None = None

    def describe(self) -> str:
        if self.outcome == "ok":
            chain = f" via {' -> '.join(self.cnames)}" if self.cnames else ""
            return f"{', '.join(self.addresses[:4])}{chain} (ttl {self.ttl})"
        return f"{self.outcome}" + (f": {self.error}" if self.error else "")

    def to_dict(self) -> dict:
        return {"host": self.host, "outcome": self.outcome, "addresses": self.addresses, "cnames": self.cnames,
                "ttl": self.ttl, "latency_ms": round(self.latency_ms, 1), "error": self.error}


def is_literal_address(host: str) -> bool:
    """An IP literal (v4, v6, or bracketed v6) needs no lookup."""
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def parse_server(server: str) -> tuple[str, int]:
    """HOST[:PORT] or [v6]:PORT -> (address, port)."""
    s = server.strip()
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif s.count(":") == 1:
        host, text = s.split(":")
        port = int(text)
    else:
        host, port = s, 53
    if not host or not 0 < port < 65536:  # else every lookup fails with an OverflowError deep in asyncio
        raise ValueError(f"not a DNS server address: {server!r}")
    return host, port


async def dnspython_ready() -> None:
    """Import dnspython in a worker thread when the warm-up has not done it yet: imported on the event loop
    (~30 ms, far more beside the warm-up thread on a busy machine) it held the route probe's requests, which
    are sent while the name resolves."""
    if "dns.asyncresolver" not in sys.modules:
        from importlib import import_module

        await asyncio.get_running_loop().run_in_executor(None, import_module, "dns.asyncresolver")


async def resolve_with(server: str, host: str, rdtype: str = "A", timeout: float = 3.0) -> DnsOutcome:
    await dnspython_ready()
    import dns.asyncresolver

    addr, port = parse_server(server)
    r = dns.asyncresolver.Resolver(configure=False)
    r.nameservers = [addr]
    r.port = port
    return await resolve_using(r, host, rdtype, timeout, f"{addr}:{port}")


async def resolve_using(r, host: str, rdtype: str = "A", timeout: float = 3.0, where: str = "the resolver") -> DnsOutcome:
    """Resolve with a prepared dns.asyncresolver.Resolver and classify the outcome."""
    import dns.exception
    import dns.resolver

    r.timeout = min(timeout, 2.0)
    r.lifetime = timeout
    start = time.monotonic()
    out = DnsOutcome(host, "error")
    try:
        ans = await r.resolve(host, rdtype)
        out.outcome = "ok"
        out.addresses = sorted(rr.to_text() for rr in ans.rrset) if ans.rrset else []
        out.ttl = ans.rrset.ttl if ans.rrset else None
        chain = getattr(ans, "chaining_result", None)
        if chain is not None:
            out.cnames = [rrset.name.to_text().rstrip(".") for rrset in chain.cnames]
            if out.cnames:
                out.cnames.append(ans.canonical_name.to_text().rstrip("."))
    except dns.resolver.NXDOMAIN:
        out.outcome = "nxdomain"
    except dns.resolver.NoAnswer:
        out.outcome = "nodata"
    except dns.resolver.NoNameservers as e:
        text = str(e)
        errors = e.kwargs.get("errors") or []
        if errors and all(isinstance(err[3], OSError) for err in errors):
            # no server answered at all: the socket failed here (e.g. EMFILE when `ulimit -n` is exhausted),
            # which is not a SERVFAIL from the network
            out.outcome = "error"
        else:
            out.outcome = "refused" if "REFUSED" in text else "servfail"
        out.error = text[:200]
    except dns.exception.Timeout:
        out.outcome = "timeout"
        out.error = f"no answer from {where} within {timeout:g}s"
    except (dns.exception.DNSException, OSError, ValueError) as e:
        out.outcome = "error"
        out.error = f"{type(e).__name__}: {e}"[:200]
    out.latency_ms = (time.monotonic() - start) * 1000
    return out
