"""Route probe: a few requests to the Space origin, each carrying this run's nonce. It tells edge-made answers
(no `x-proxied-*` headers) from app-made ones, counts failures and replicas, and — with the owner's token —
looks for the nonce in the run log to prove the request reached the container."""

from __future__ import annotations

import asyncio
import secrets
import socket
from urllib.parse import urlsplit

from hfdiag.evidence.model import ProbeResult
from hfdiag.probes.base import ProbeContext
from hfdiag.probes.dnsutil import is_literal_address
from hfdiag.probes.http import HttpFailure

PROXIED = ("x-proxied-host", "x-proxied-replica", "x-proxied-path")


async def resolve_host(host: str, dns_server: str | None, timeout: float = 3.0) -> tuple[bool, str]:
    """(resolved, detail) through --dns-server when given, else the system resolver (getaddrinfo)."""
    if is_literal_address(host):
        return True, "literal address"
    if dns_server:
        from hfdiag.probes.dnsutil import resolve_with

        outcome = await resolve_with(dns_server, host, timeout=timeout)
        return outcome.outcome == "ok", outcome.describe()
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout)
        return True, ", ".join(sorted({i[4][0] for i in infos}))[:200]
    except asyncio.TimeoutError:
        return False, "resolver timeout"
    except socket.gaierror as e:
        return False, f"[Errno {e.errno}] {e.strerror}"


def edge_refused(answers: list[dict]) -> bool:
    """Every request was answered 503 by the edge itself (no x-proxied-*): a gateway's own 503 says it had no
    upstream to pass the request to, where 502 and 504 say it tried one (RFC 9110 §15.6). The edge answers a
    sleeping Space this way (hub-spaces-api.md §9, OBSERVED); that its 503 for a running Space means the same is
    UNVERIFIED, so the simulator plays the other case too (`edge.drop_forwarded`). Then no nonce can be on its way
    to the run log, and the log probe does not wait for one."""
    return bool(answers) and all(a.get("status") == 503 and not a.get("proxied") for a in answers)


class RouteProbe:
    name = "route"
    after: tuple[str, ...] = ("space",)
    timeout = 20.0

    @staticmethod
    def prepare(ctx: ProbeContext) -> None:
        """Before any probe starts: the nonce and the event the log probe listens on."""
        ctx.shared["route.nonce"] = secrets.token_hex(6)
        ctx.shared["route.done"] = asyncio.Event()
        ctx.warmups.append(lambda: __import__("statistics"))  # for _record: imported while the first requests fly

    def enabled(self, ctx: ProbeContext) -> str | None:
        if not ctx.shared.get("space.host"):
            ctx.shared["route.done"].set()
            return "the Hub API named no Space origin (host)"
        return None

    async def run(self, ctx: ProbeContext, result: ProbeResult) -> None:
        host_url = ctx.shared["space.host"]
        hostname = urlsplit(host_url).hostname or ""
        nonce = ctx.shared["route.nonce"]
        n = max(1, ctx.options.route_requests)
        ctx.shared["route.step"] = f"resolving {hostname} and sending {n} requests to the Space origin"
        ctx.shared["route.sent"] = True
        # The lookup and the requests overlap (the client resolves the name itself); a failed lookup discards
        # the answers, as if they had never been asked for.
        requests = asyncio.gather(*(self._one(ctx, host_url, nonce, i) for i in range(n)))
        try:
            ok, detail = await resolve_host(hostname, ctx.options.dns_server)
            result.fact("route.dns_ok", ok)
            result.detail["dns"] = detail
            if not ok:
                ctx.shared["route.sent"] = False
                result.fact("route.edge_answered", False)
                raise HttpFailure(f"the Space host {hostname} does not resolve: {detail}", "dns")
            answers = await requests
            ctx.shared["route.edge_refused"] = edge_refused(answers)
        finally:
            if not requests.done():
                requests.cancel()
                requests.add_done_callback(lambda f: f.cancelled() or f.exception())  # nobody awaits it now
            ctx.shared["route.done"].set()  # the log probe stops listening for the nonce after this
        self._record(result, answers)

    async def _one(self, ctx: ProbeContext, base: str, nonce: str, i: int) -> dict:
        url = f"{base}/?hfdiag_nonce={nonce}&i={i}"
        try:
            # not followed: a redirect (to a login page on another host, say) is the app's answer, and only the
            # first hop's x-proxied-* headers tell who made it
            res = await ctx.http.request("GET", url, max_body=256 * 1024, deadline=min(10.0, self.timeout / 2),
                                         follow=False)
        except HttpFailure as e:
            return {"i": i, "error": str(e), "kind": e.kind}
        proxied = all(h in res.headers for h in PROXIED[:1])
        return {
            "i": i, "status": res.status, "ms": round(res.elapsed_ms, 1), "proxied": proxied,
            "replica": res.headers.get("x-proxied-replica"), "request_id": res.headers.get("x-request-id"),
        }

    def _record(self, result: ProbeResult, answers: list[dict]) -> None:
        import statistics

        statuses = [a["status"] for a in answers if "status" in a]
        failures = [a for a in answers if "error" in a or a.get("status", 0) >= 500]
        app_made = [a for a in answers if a.get("proxied")]
        app_ok = [a for a in app_made if a["status"] < 500]
        result.fact("route.requests", len(answers))
        result.fact("route.statuses", [str(s) for s in statuses])
        if statuses:
            result.fact("route.status", statistics.mode(statuses))
        result.fact("route.edge_answered", bool(statuses))
        result.fact("route.edge_made", sum(1 for a in answers if "status" in a and not a["proxied"]))
        result.fact("route.app_made", len(app_made))
        result.fact("route.app_ok", len(app_ok))
        result.fact("route.app_error", any(a["status"] >= 500 for a in app_made))
        result.fact("route.reached_app", bool(app_made))
        result.fact("route.fail_ratio", round(len(failures) / len(answers), 3))
        result.fact("route.timeouts", sum(1 for a in answers if a.get("kind") == "timeout"))
        replicas = sorted({a["replica"] for a in app_made if a.get("replica")})
        if replicas:
            result.fact("route.replicas", replicas)
        latencies = [a["ms"] for a in answers if "ms" in a]
        if latencies:
            result.fact("route.latency_ms_p50", statistics.median(latencies))
        result.detail["requests"] = answers
        for a in answers:
            if "error" in a:
                result.excerpts.append(f"request {a['i']}: {a['error']}")
        if not statuses:
            errors = {a["error"] for a in answers}
            raise HttpFailure("no answer from the Space origin: " + "; ".join(sorted(errors))[:300],
                              answers[0].get("kind", "connect"))
