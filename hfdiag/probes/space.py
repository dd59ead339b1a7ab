"""Space probe: info and runtime from the Hub API (stage, hardware, errorMessage, domains, replicas, sdk), and
`--wait` polling while the stage is intermediate (the CI "verify after push" step)."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

from hfdiag.evidence.model import ProbeResult
from hfdiag.probes.base import ProbeContext, ProbeDenied
from hfdiag.probes.http import HttpFailure

KNOWN_STAGES = {
    "NO_APP_FILE", "CONFIG_ERROR", "BUILDING", "BUILD_ERROR", "RUNNING", "RUNNING_BUILDING", "RUNTIME_ERROR",
    "DELETING", "STOPPED", "PAUSED", "APP_STARTING", "RUNNING_APP_STARTING", "SLEEPING",
}
INTERMEDIATE = {"BUILDING", "RUNNING_BUILDING", "APP_STARTING", "RUNNING_APP_STARTING"}
ZEROGPU_FLAVORS = {"zero-a10g"}


def api_path(space_id: str) -> str:
    return "/api/spaces/" + quote(space_id, safe="/")


class SpaceProbe:
    name = "space"
    after: tuple[str, ...] = ()
    timeout = 3600.0  # bounded by the global deadline (and --wait)

    def enabled(self, ctx: ProbeContext) -> str | None:
        return None

    async def run(self, ctx: ProbeContext, result: ProbeResult) -> None:
        http = ctx.http
        listed = await self._listed(ctx)
        if listed is not None:  # `scan`: the owner's listing already carried this Space's info (hfdiag/scan_listing.py)
            result.fact("space.id", ctx.space_id)
            result.fact("space.api_status", 200)
            result.fact("space.exists", True)
            result.detail["source"] = "listing"
            self._record_info(ctx, result, listed)
            await self._record_runtime(ctx, result, listed["runtime"])
            return
        ctx.shared["space.step"] = "asking the Hub API for the Space"
        res = await http.request("GET", http.hub(api_path(ctx.space_id)))
        result.fact("space.id", ctx.space_id)
        result.fact("space.api_status", res.status)
        result.detail["request_id"] = res.headers.get("x-request-id")
        if res.status == 401 and not http.token:
            result.error = "the Hub answers 401 to anonymous callers for missing and private Spaces alike"
            raise ProbeDenied(f"{ctx.space_id}: not visible anonymously (401): missing or private; "
                              "a token decides which")
        if res.status == 401:
            raise ProbeDenied(f"{ctx.space_id}: the Hub rejected the token (401 {_error_text(res)})")
        if res.status == 404:
            result.fact("space.exists", False)
            code = res.headers.get("x-error-code", "")
            raise HttpFailure(f"{ctx.space_id}: not found (404 {code or _error_text(res)})".strip(), "not_found")
        if res.status == 429:
            raise HttpFailure(f"rate limited by the Hub (429; RateLimit: {res.headers.get('ratelimit', '?')})",
                              "rate_limited")
        if res.status >= 400:
            raise HttpFailure(f"Hub API answered {res.status} for {ctx.space_id}: {_error_text(res)}", "http")
        info = res.json()
        if not isinstance(info, dict):
            raise HttpFailure("Hub API answered with JSON that is not an object", "decode")
        result.fact("space.exists", True)
        self._record_info(ctx, result, info)
        runtime = info.get("runtime") if isinstance(info.get("runtime"), dict) else None
        if ctx.options.restart:
            runtime = await self._restart(ctx, result) or runtime
        if runtime is None:
            runtime = await self._runtime(ctx)
        await self._record_runtime(ctx, result, runtime)
        if ctx.options.wait > 0:
            await self._wait(ctx, result, runtime)

    @staticmethod
    async def _listed(ctx: ProbeContext) -> dict | None:
        """The Space's info from the scan's listing, unless this check must ask the Hub itself (--restart, --wait)."""
        listing = ctx.options.extra.get("space_listing")
        if listing is None or ctx.options.restart or ctx.options.wait > 0:
            return None
        ctx.shared["space.step"] = "reading the owner's listing of Spaces"
        return await listing.info(ctx.space_id)

    async def _restart(self, ctx: ProbeContext, result: ProbeResult) -> dict | None:
        """Opt-in (--restart): the lifecycle call itself is evidence of the control plane's state."""
        ctx.shared["space.step"] = "asking the Hub to restart the Space"
        res = await ctx.http.request("POST", ctx.http.hub(api_path(ctx.space_id) + "/restart"))
        result.fact("space.restart_status", res.status)
        result.fact("space.restart_failed", res.status >= 400)
        result.detail["restart"] = {"status": res.status, "request_id": res.headers.get("x-request-id"),
                                    "error": _error_text(res) if res.status >= 400 else None}
        if res.status >= 400:
            return None
        data = res.json()
        return data if isinstance(data, dict) and "stage" in data else None

    async def _runtime(self, ctx: ProbeContext) -> dict:
        ctx.shared["space.step"] = "reading the Space runtime"
        res = await ctx.http.request("GET", ctx.http.hub(api_path(ctx.space_id) + "/runtime"))
        if res.status >= 400:
            raise HttpFailure(f"runtime endpoint answered {res.status}: {_error_text(res)}", "http")
        data = res.json()
        return data if isinstance(data, dict) else {}

    async def _wait(self, ctx: ProbeContext, result: ProbeResult, runtime: dict) -> None:
        start = time.monotonic()
        history = [short_text(runtime.get("stage"), 64)]
        while isinstance(runtime.get("stage"), str) and runtime.get("stage") in INTERMEDIATE and time.monotonic() - start < ctx.options.wait:
            ctx.shared["space.step"] = f"waiting for the stage to leave {short_text(runtime.get('stage'), 64)}"
            ctx.say(self.name, f"stage {runtime.get('stage')}, waited {time.monotonic() - start:.0f}s")
            await asyncio.sleep(min(ctx.options.wait_interval, max(0.0, ctx.options.wait - (time.monotonic() - start))))
            runtime = await self._runtime(ctx)
            if short_text(runtime.get("stage"), 64) != history[-1]:
                history.append(short_text(runtime.get("stage"), 64))
            await self._record_runtime(ctx, result, runtime)
        waited = time.monotonic() - start
        result.fact("space.stage_waited_s", round(waited, 1))
        result.fact("space.still_intermediate", isinstance(runtime.get("stage"), str) and runtime["stage"] in INTERMEDIATE)
        result.detail["stage_history"] = history

    def _record_info(self, ctx: ProbeContext, result: ProbeResult, info: dict) -> None:
        card = info.get("cardData") if isinstance(info.get("cardData"), dict) else {}
        for key, value in (("space.sdk", info.get("sdk") or card.get("sdk")), ("space.sha", info.get("sha")),
                           ("space.sdk_version", card.get("sdk_version")), ("space.private", info.get("private")),
                           ("space.host", info.get("host"))):
            if value is not None:  # a field of an unexpected type is kept as short text, never fails the probe
                result.fact(key, value if isinstance(value, (bool, int, float)) else short_text(value))
        host = _usable_origin(info.get("host"))
        if host:
            ctx.shared["space.host"] = host
            if info.get("private") is True and not ctx.http.allow_token_for(host):
                result.detail["token_withheld_from"] = host
                result.excerpts.append(f"the token was not sent to {host}: not a Hub host over https")
        elif info.get("host") is not None:
            result.excerpts.append(f"the Hub API named an unusable Space origin: {short_text(info.get('host'), 120)}")
        models = [m for m in info.get("models") or [] if isinstance(m, str)] if isinstance(info.get("models"), list) else []
        if models:
            result.fact("space.models", models[:5])
        siblings = info.get("siblings") if isinstance(info.get("siblings"), list) else []
        ctx.shared["space.siblings"] = [s for s in siblings if isinstance(s, dict)]
        ctx.shared["space.info"] = {"sdk": info.get("sdk"), "subdomain": info.get("subdomain")}

    async def _record_runtime(self, ctx: ProbeContext, result: ProbeResult, rt: dict) -> None:
        facts = {}
        stage = rt.get("stage")
        if isinstance(stage, str):
            facts["space.stage"] = short_text(stage, 64)  # stages are short words; a megabyte is not copied
            facts["space.stage_known"] = stage in KNOWN_STAGES
        hw = rt.get("hardware") if isinstance(rt.get("hardware"), dict) else {}
        current, requested = hw.get("current"), hw.get("requested")
        if current or requested:
            facts["space.hardware"] = short_text(current or requested, 64)
        if requested:
            facts["space.hardware_requested"] = short_text(requested, 64)
        reps = rt.get("replicas") if isinstance(rt.get("replicas"), dict) else {}
        if isinstance(reps.get("current"), int):
            facts["space.replicas_current"] = reps["current"]
        if isinstance(reps.get("requested"), int):
            facts["space.replicas_requested"] = reps["requested"]
        domains = rt.get("domains") if isinstance(rt.get("domains"), list) else []
        if domains:
            facts["space.domains_ready"] = all(isinstance(d, dict) and d.get("stage") == "READY" for d in domains)
        msg = rt.get("errorMessage")
        if isinstance(msg, str) and msg.strip():
            facts["space.error_message"] = ctx.redactor.text(msg.strip())[:500]
            result.excerpts.append(msg.strip()[:500])
            # The same signatures that read logs classify errorMessage (scheduling failure, exit codes, ...).
            scan = (await ctx.rules()).signatures.scan_text(msg, source="probe:space")
            for f in scan.fact_list():
                facts.setdefault(f.key, f.value)
        if facts.get("space.hardware") in ZEROGPU_FLAVORS:
            facts["space.zerogpu"] = True
        for k, v in facts.items():
            result.replace_fact(k, v)
        ctx.shared["space.runtime"] = rt
        ctx.say(self.name, f"stage {short_text(stage, 64)}")


def short_text(value, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)[: limit + 1]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _usable_origin(host) -> str | None:
    """An http(s) origin with a host name and a valid port, else None (the API's `host` is data, not trusted)."""
    from urllib.parse import urlsplit

    if not isinstance(host, str) or len(host) > 2048 or not host.startswith(("http://", "https://")):
        return None
    try:
        p = urlsplit(host)
        _ = p.port  # raises ValueError for a port out of range
    except ValueError:
        return None
    if not p.hostname or any(c.isspace() for c in host) or p.username or p.password:
        return None
    return host.rstrip("/")


def _error_text(res) -> str:
    msg = res.headers.get("x-error-message")
    if msg:
        return msg[:200]
    try:
        data = res.json()
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            return data["error"][:200]
    except HttpFailure:
        pass
    return res.body[:120].decode("utf-8", errors="replace")
