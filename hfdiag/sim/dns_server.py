"""DNS responder (dnspython) on a loopback port, UDP and TCP, with per-name failure knobs (xet-transfer-dns.md §6)."""

from __future__ import annotations

import asyncio
import fnmatch
import struct
from typing import TYPE_CHECKING

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from .faults import dns_fault

if TYPE_CHECKING:  # pragma: no cover
    from .state import SimState

HF_NAMES = ["huggingface.co", "hf.co", "*.hf.space", "hf.space", "cas-server.xethub.hf.co",
            "cas-bridge.xethub.hf.co", "transfer.xethub.hf.co", "transfer.xethub-eu.hf.co", "cas.xethub.hf.co",
            "cdn-lfs*.hf.co", "cdn.hf.co", "*.cdn.hf.co", "cdn-lfs*.huggingface.co", "status.huggingface.co",
            "router.huggingface.co", "datasets-server.huggingface.co", "api-inference.huggingface.co",
            "hub-ci.huggingface.co"]
MODES = ("ok", "nxdomain", "nodata", "servfail", "refused", "drop")


class DnsResponder:
    def __init__(self, sim: SimState) -> None:
        self.sim = sim
        self.tasks: set[asyncio.Task] = set()
        self.queries: list[tuple[str, str, str]] = []  # (transport, qname, qtype)

    def _config(self, qname: str) -> dict:
        name = qname.rstrip(".").lower()
        for glob, cfg in self.sim.knob("dns.names").items():
            if fnmatch.fnmatchcase(name, glob.lower()):
                cfg = {"mode": cfg} if isinstance(cfg, str) else dict(cfg)
                cfg.setdefault("mode", "ok")
                return cfg
        known = HF_NAMES + list(self.sim.knob("dns.extra_names"))
        if any(fnmatch.fnmatchcase(name, g) for g in known):
            return {"mode": "ok"}
        return {"mode": self.sim.knob("dns.default")}

    def _soa(self, qname: dns.name.Name) -> dns.rrset.RRset:
        labels = qname.labels
        zone = dns.name.Name(labels[-3:]) if len(labels) >= 3 else qname
        return dns.rrset.from_text(zone, 60, "IN", "SOA",
                                   "ns-1.sim.invalid. hostmaster.sim.invalid. 2026010101 7200 900 1209600 60")

    async def respond(self, wire: bytes, transport: str) -> bytes | None:
        try:
            q = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not q.question:
            return None
        qname = q.question[0].name
        qtype = q.question[0].rdtype
        self.queries.append((transport, qname.to_text(), dns.rdatatype.to_text(qtype)))
        cfg = self._config(qname.to_text())
        fault = dns_fault(self.sim, qname.to_text())
        if fault:
            if fault["fault"] in ("drop", "silence"):
                cfg["mode"] = "drop"
            elif fault["fault"] == "delay":
                cfg["delay_ms"] = fault.get("ms", 1000)
        delay = float(cfg.get("delay_ms", 0))
        if delay and await self.sim.nap(delay / 1000):
            return None
        mode = cfg["mode"]
        if mode not in MODES:
            mode = "servfail"
        if mode == "drop":
            return None
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        if mode == "servfail":
            r.set_rcode(dns.rcode.SERVFAIL)
        elif mode == "refused":
            r.set_rcode(dns.rcode.REFUSED)
        elif mode == "nxdomain":
            r.flags |= dns.flags.AA
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.authority.append(self._soa(qname))
        else:
            r.flags |= dns.flags.AA
            owner = qname
            for target in cfg.get("cname", []) or []:
                tname = dns.name.from_text(target)
                r.answer.append(dns.rrset.from_text(owner, int(cfg.get("cname_ttl", 300)), "IN", "CNAME",
                                                    tname.to_text()))
                owner = tname
            ttl = int(cfg.get("ttl", self.sim.knob("dns.ttl")))
            if mode == "ok" and qtype == dns.rdatatype.A:
                r.answer.append(dns.rrset.from_text(owner, ttl, "IN", "A", "127.0.0.1"))
            elif mode == "ok" and qtype == dns.rdatatype.AAAA and self.sim.knob("dns.aaaa") == "loopback":
                r.answer.append(dns.rrset.from_text(owner, ttl, "IN", "AAAA", "::1"))
            else:  # NODATA: NOERROR, no answer of that type, SOA in authority
                r.authority.append(self._soa(qname))
        try:
            return r.to_wire(max_size=65535 if transport == "tcp" else max(512, q.payload if q.edns >= 0 else 512))
        except dns.exception.TooBig:
            r.flags |= dns.flags.TC
            r.answer.clear()
            r.authority.clear()
            return r.to_wire()

    def _spawn(self, coro) -> None:
        t = asyncio.ensure_future(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, responder: DnsResponder) -> None:
        self.r = responder
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        async def work():
            out = await self.r.respond(data, "udp")
            if out is not None and self.transport is not None and not self.transport.is_closing():
                self.transport.sendto(out, addr)
        self.r._spawn(work())


async def _tcp_client(responder: DnsResponder, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readexactly(2)
            data = await reader.readexactly(struct.unpack("!H", head)[0])
            out = await responder.respond(data, "tcp")
            if out is None:
                continue
            writer.write(struct.pack("!H", len(out)) + out)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def start_dns(responder: DnsResponder, udp_sock, tcp_sock):
    loop = asyncio.get_running_loop()
    udp_transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(responder), sock=udp_sock)

    def on_client(reader, writer):
        responder._spawn(_tcp_client(responder, reader, writer))

    tcp_server = await asyncio.start_server(on_client, sock=tcp_sock)
    return udp_transport, tcp_server
