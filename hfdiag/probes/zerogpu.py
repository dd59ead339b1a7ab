"""ZeroGPU probe (gradio-zerogpu.md).

Passive, always on for ZeroGPU Spaces: gradio version and API prefix from `/config`, named endpoints from
`{prefix}/info`, who is calling (anonymous or a token, and the quota pool that implies) and the caller's quota
from `/api/spaces/zero-gpu/quota` when a token is present.

Active only with `--zerogpu-call API --zerogpu-data JSON` (it spends the caller's quota): join the queue, follow
the SSE stream with bounds (deadline, idle time, message count) and record a timeline; read the quota before,
right after, and again after `--settle-wait`; with the owner's token, read the run log for this call's hfdiag
markers (was the @spaces.GPU function entered?) and for the traceback behind "ZeroGPU worker error".
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from datetime import datetime, timezone

import httpx

from hfdiag.evidence.model import ProbeResult
from hfdiag.probes.base import ProbeContext
from hfdiag.probes.bounded import BodyError, SSEReader, read_head
from hfdiag.probes.http import HttpFailure, classify_error
from hfdiag.probes.logs import parse_markers, parse_timestamp, read_log
from hfdiag.probes.space import ZEROGPU_FLAVORS, short_text

DEFAULT_DURATION_S = 60  # spaces DEFAULT_SCHEDULE_DURATION
BLACKWELL_FACTOR = 1.5  # duration_factor on Blackwell `large`; xlarge is x2 with no factor
STREAM_IDLE_S = 45.0  # heartbeats come every 15 s: three missed ones end the stream
MAX_MESSAGES = 5000
SETTLE_SLACK_S = 5.0
# How long after a call hfdiag must watch the quota before "the reservation stayed charged" is an observation:
# when a refund lands is not documented (reference/gradio-zerogpu.md), so shorter waits say "not observed".
# HFDIAG_SETTLE_MIN_S overrides it (the simulator refunds within a second).
SETTLE_MIN_S = 60.0
NO_GPU_KINDS = ("no_gpu_token", "no_gpu_anon", "no_gpu_client")
REFUSED_WITH_TOKEN = ("quota_exceeded", "runs_limit", "no_gpu_token", "illegal_duration", "pending_credits")
NO_TOKEN_KINDS = ("space_limit", "no_gpu_anon")
# facts this probe observes itself; the same keys from the message signatures are not repeated
OWN_KEYS = ("zerogpu.caller_pool", "zerogpu.caller_path", "zerogpu.queue_joined", "zerogpu.waiting_seen",
            "zerogpu.acquired", "zerogpu.completed_ok", "zerogpu.function_entered")
TAG_RX = re.compile(r"<[^>]+>")
VERSION_RX = re.compile(r"\d+")

CALLER_PATHS = {
    "browser": "Browser in the Space page (huggingface.co/spaces/...): the Gradio frontend runs in an iframe and "
               "asks the parent page for `zerogpu-headers`; every queue/join then carries the visitor's X-IP-Token, "
               "so the visitor's own pool is billed (gradio >= 4.27, handshake >= 5.16.1).",
    "direct": "Direct *.hf.space URL (no parent frame): no handshake, so no visitor X-IP-Token; the call counts as "
              "anonymous/IP (the forum's '0s left only on the direct URL or incognito').",
    "api": "API client (gradio_client, curl, hfdiag): the Hub proxy derives the identity from the caller's Hugging "
           "Face token (a Bearer header) and adds the X-IP-Token itself; without a token the shared anonymous pool "
           "is used. hfdiag calls this way.",
    "custom-frontend": "Custom gr.Server frontend: before gradio 6.12 (#13210) the handshake ran only in the stock "
                       "frontend, so custom pages sent no X-IP-Token and the Space's own quota was billed; from 6.12 "
                       "call the API through @gradio/client.",
    "space-to-space": "Space-to-Space: the calling Space must forward the visitor's `x-ip-token` header "
                      "(gradio_client does it inside an event listener when targeting a Space id); otherwise the "
                      "calling Space's identity is billed. Batched events lost it before gradio 6.13 (#13262).",
}


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in VERSION_RX.findall(v)[:3])


def plain(text: str | None) -> str:
    """Message text without HTML tags (ZeroGPU sends links as <a>)."""
    return TAG_RX.sub("", text or "").strip()


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


# an api_prefix is a path on the Space origin; anything else (`@host`, `?`, `#`, `..`) could move the URL elsewhere
API_PREFIX_RX = re.compile(r"(/[A-Za-z0-9_\-]{1,64}){0,4}")
MAX_ENDPOINTS = 100  # named endpoints kept as a fact


def _field(value):
    """A value from the Space or the quota endpoint, safe to keep in the report: scalars as they are, text cut,
    anything else a short repr."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return short_text(value)


def config_fields(cfg: dict) -> tuple[dict, list[str]]:
    """The fields of a Gradio /config the probe uses, each of the type it must have, and the names of those that
    had another (dropped, and reported): a Space's own app answers /config, so any field may be hostile."""
    bad: list[str] = []

    def take(key: str, ok) -> object:
        value = cfg.get(key)
        if value is not None and not ok(value):
            bad.append(key)
            return None
        return value

    version = take("version", lambda v: isinstance(v, str) and len(v) <= 64)
    prefix = take("api_prefix", lambda v: isinstance(v, str) and API_PREFIX_RX.fullmatch(v) is not None)
    protocol = take("protocol", lambda v: isinstance(v, str) and len(v) <= 64)
    raw_deps = take("dependencies", lambda v: isinstance(v, list))
    deps = []
    for i, d in enumerate(raw_deps or []):
        if not isinstance(d, dict):
            continue
        name, fn_id = d.get("api_name"), d.get("id", i)
        if (name is not None and not isinstance(name, str)) or not isinstance(fn_id, int) or isinstance(fn_id, bool):
            bad.append(f"dependencies[{i}]")
            continue
        deps.append({"api_name": name[:200] if name else None, "id": fn_id, "batch": d.get("batch") is True})
    if len(bad) > 5:
        bad[5:] = [f"{len(bad) - 5} more"]
    return {"version": version, "api_prefix": prefix or "", "protocol": protocol, "dependencies": deps}, bad


def _int_or_float(v: float) -> int | float:
    return int(v) if float(v).is_integer() else round(v, 3)


class ZeroGpuProbe:
    name = "zerogpu"
    after: tuple[str, ...] = ("space", "auth")
    timeout = 3600.0  # bounded by the global deadline (which includes --settle-wait)

    def enabled(self, ctx: ProbeContext) -> str | None:
        rt = ctx.shared.get("space.runtime")
        if not isinstance(rt, dict):
            return "the Space's hardware is unknown (the space probe gave no runtime)"
        hw = rt.get("hardware") if isinstance(rt.get("hardware"), dict) else {}
        flavor = hw.get("current") or hw.get("requested")
        if not isinstance(flavor, str) or flavor not in ZEROGPU_FLAVORS:
            return f"not a ZeroGPU Space (hardware {short_text(flavor or 'none', 64)})"
        sdk = (ctx.shared.get("space.info") or {}).get("sdk")
        if sdk and sdk != "gradio":
            return f"ZeroGPU works only with the gradio SDK; this Space uses {short_text(sdk, 64)}"
        if not ctx.shared.get("space.host"):
            return "the Hub API named no Space origin (host)"
        return None

    # ------------------------------------------------------------------------------------------------ passive
    async def run(self, ctx: ProbeContext, result: ProbeResult) -> None:
        started = time.monotonic()
        host = ctx.shared["space.host"]
        result.detail["caller_paths"] = CALLER_PATHS
        self._identity(ctx, result)
        ctx.shared["zerogpu.step"] = "reading the Gradio config, the API info and the caller's quota"
        # The quota read depends on neither the config nor the API info: it runs beside them.
        quota = asyncio.ensure_future(self._quota(ctx, result, "before")) if ctx.http.token else None
        try:
            cfg = await self._config(ctx, result, host)
            prefix = cfg["api_prefix"] if cfg else ""
            if cfg is not None:
                await self._info(ctx, result, host, prefix)
            before = await quota if quota is not None else None
        finally:
            if quota is not None and not quota.done():
                quota.cancel()
        if ctx.http.token:
            if before:
                if before["base"] is not None:
                    result.fact("zerogpu.quota_base_s", before["base"])
                result.fact("zerogpu.quota_current_s", before["current"])
                if "runs_remaining" in before:
                    result.fact("zerogpu.runs_remaining", before["runs_remaining"])
        else:
            result.detail["quota"] = {"note": "the quota endpoint needs a token; anonymous callers use the shared "
                                              "IP pool, which hfdiag cannot read"}
        if not ctx.options.zerogpu_call:
            result.detail["active"] = ("not requested: --zerogpu-call API --zerogpu-data JSON joins the queue once "
                                       "and spends the caller's quota")
            return
        if cfg is None:
            result.status = "error"
            result.error = result.error or "no Gradio config: cannot find the endpoint to call"
            return
        await self._call(ctx, result, host, prefix, cfg, before, started)

    def _identity(self, ctx: ProbeContext, result: ProbeResult) -> None:
        token = bool(ctx.http.token)
        who = ctx.shared.get("auth.whoami")
        if token and isinstance(who, dict):
            pool = "pro" if who.get("is_pro") else "free"
            why = f"token of {who.get('name') or 'a user'} ({'PRO' if who.get('is_pro') else 'free account'})"
        elif token:
            pool = "anonymous"
            why = "a token was given but whoami did not accept it, so the anonymous pool applies"
        else:
            pool = "anonymous"
            why = "no token: API calls use the shared anonymous (IP) pool"
        result.fact("zerogpu.caller_path", "api")
        result.fact("zerogpu.caller_pool", pool, kind="inferred")
        result.detail["identity"] = {"token": token, "expected_pool": pool, "why": why, "caller_path": "api"}

    async def _config(self, ctx: ProbeContext, result: ProbeResult, host: str) -> dict | None:
        try:
            res = await ctx.http.request("GET", f"{host}/config", deadline=10.0)
        except HttpFailure as e:
            result.detail["config_error"] = str(e)
            result.error = f"/config: {e}"
            return None
        if res.status != 200:
            result.detail["config_error"] = f"/config answered {res.status}"
            result.error = f"/config answered {res.status}"
            return None
        try:
            cfg = res.json()
        except HttpFailure as e:
            result.error = str(e)
            return None
        if not isinstance(cfg, dict):
            result.error = "/config is not a JSON object"
            return None
        cfg, bad = config_fields(cfg)
        if bad:
            result.error = f"/config: unexpected type or value of {', '.join(bad)} (ignored)"
        version = cfg["version"]
        if version:
            result.fact("zerogpu.gradio_version", version)
        if cfg["api_prefix"]:
            result.fact("zerogpu.api_prefix", cfg["api_prefix"])
        deps = cfg["dependencies"]
        if any(d["batch"] for d in deps):
            result.fact("zerogpu.batched", True)
        result.detail["gradio"] = {
            "version": version, "api_prefix": cfg["api_prefix"] or None, "protocol": cfg["protocol"],
            "note": None if cfg["api_prefix"] else "gradio 4.x: routes at the root (no api_prefix)",
            "api_names": [d["api_name"] for d in deps if d["api_name"]][:MAX_ENDPOINTS],
        }
        return cfg

    async def _info(self, ctx: ProbeContext, result: ProbeResult, host: str, prefix: str) -> None:
        try:
            res = await ctx.http.request("GET", f"{host}{prefix}/info", deadline=10.0)
            info = res.json() if res.status == 200 else None
        except HttpFailure as e:
            result.detail["info_error"] = str(e)
            return
        if isinstance(info, dict) and isinstance(info.get("named_endpoints"), dict):
            names = sorted(short_text(k, 200) for k in info["named_endpoints"])
            result.fact("zerogpu.endpoints", names[:MAX_ENDPOINTS])
            if len(names) > MAX_ENDPOINTS:
                result.detail["endpoints_total"] = len(names)
        elif res.status == 200:
            result.detail["info_error"] = f"{prefix}/info: no named_endpoints object"
            result.error = result.error or f"{prefix}/info: named_endpoints is not a JSON object (ignored)"
        else:
            result.detail["info_error"] = f"{prefix}/info answered {res.status}"

    async def _quota(self, ctx: ProbeContext, result: ProbeResult, when: str) -> dict | None:
        readings = result.detail.setdefault("quota", {})
        try:
            res = await ctx.http.request("GET", ctx.http.hub("/api/spaces/zero-gpu/quota"), deadline=10.0)
        except HttpFailure as e:
            readings[when] = {"error": str(e)}
            result.error = result.error or f"quota ({when}): {e}"  # a failed read is reported, not dropped
            return None
        if res.status != 200:
            readings[when] = {"status": res.status}
            return None
        try:
            data = res.json()
        except HttpFailure as e:
            readings[when] = {"error": str(e)}
            result.error = result.error or f"quota ({when}): {e}"
            return None
        if not isinstance(data, dict) or _num(data.get("current")) is None or (
                data.get("base") is not None and _num(data.get("base")) is None):
            readings[when] = {"error": "unexpected quota JSON"}
            result.error = result.error or f"quota ({when}): current or base is not a number"
            return None
        out = {"base": data.get("base"), "current": data.get("current"), "resetsAt": _field(data.get("resetsAt")),
               "overquotaUsed": _field(data.get("overquotaUsed")), "at": _now_iso()}
        runs = data.get("runs")
        if isinstance(runs, dict):
            out["runs"] = {str(k)[:64]: _field(v) for k, v in list(runs.items())[:10]}
            if isinstance(runs.get("remaining"), int) and not isinstance(runs["remaining"], bool):
                out["runs_remaining"] = runs["remaining"]
        readings[when] = out
        return out

    # ------------------------------------------------------------------------------------------------- active
    async def _call(self, ctx: ProbeContext, result: ProbeResult, host: str, prefix: str, cfg: dict,
                    before: dict | None, started: float) -> None:
        opts = ctx.options
        api = opts.zerogpu_call.strip().lstrip("/")
        deps = cfg["dependencies"]
        dep = next((d for d in deps if (d["api_name"] or "").lstrip("/") == api), None)
        if dep is None:
            names = ", ".join("/" + d["api_name"].lstrip("/") for d in deps[:20] if d["api_name"]) or "none"
            result.status = "error"
            missing = f"--zerogpu-call {api}: the Space has no endpoint /{api} (named endpoints: {names})"
            result.error = f"{result.error}; {missing}" if result.error else missing
            return
        fn_index = dep["id"]
        if dep["batch"]:
            result.fact("zerogpu.batched", True)
        data = json.loads(opts.zerogpu_data) if opts.zerogpu_data else []
        if ctx.http.token:
            # Like gradio_client with hf_token: the Bearer token goes to the Space origin the Hub API named, so
            # the Hub proxy bills the caller's own pool (it never follows a redirect elsewhere).
            ctx.http.allow_token_for(host)
        timeline: list[dict] = []
        result.detail["timeline"] = timeline
        call = {"api": f"/{api}", "fn_index": fn_index, "session_hash": secrets.token_hex(6),
                "nonce": secrets.token_hex(6)}
        result.detail["call"] = call
        t0 = time.monotonic()
        wall0 = time.time()

        def mark(event: str, **fields) -> dict:
            entry = {"t": round(time.monotonic() - t0, 3), "at": _now_iso(), "event": event,
                     **{k: _field(v) for k, v in fields.items() if v is not None}}
            timeline.append(entry)
            return entry

        ctx.shared["zerogpu.step"] = f"joining the queue of /{api}"
        ctx.say(self.name, f"calling /{api} (spends quota)")
        join_url = f"{host}{prefix}/queue/join"
        body = {"data": data, "event_data": None, "fn_index": fn_index, "trigger_id": None,
                "session_hash": call["session_hash"]}
        res = await ctx.http.request("POST", join_url, params={"hfdiag_nonce": call["nonce"]}, json_body=body,
                                     headers={"x-gradio-user": "api"}, follow=False, deadline=20.0)
        event_id = None
        if res.status == 200:
            try:
                joined = res.json()
                event_id = joined.get("event_id") if isinstance(joined, dict) else None
            except HttpFailure:
                event_id = None
            if not isinstance(event_id, str) or len(event_id) > 200:
                event_id = None
        if not event_id:
            detail = res.body[:300].decode("utf-8", errors="replace")
            mark("join_failed", status=res.status, detail=detail)
            result.fact("zerogpu.queue_joined", False)
            result.error = f"queue/join answered {res.status}: {detail[:160]}"
            if res.status == 503 and "queue is full" in detail.lower():
                result.excerpts.append(f"queue/join: {detail[:200]}")
            return
        call["event_id"] = event_id
        mark("joined", event_id=event_id)
        result.fact("zerogpu.queue_joined", True)

        budget = max(1.0, opts.timeout - (time.monotonic() - started) - opts.settle_wait - 3.0)
        stream = await self._follow(ctx, f"{host}{prefix}/queue/data", call["session_hash"], budget, mark)
        result.detail["stream"] = {k: v for k, v in stream.items() if k not in ("texts",)}
        if stream["ended"].startswith("error: "):  # broken or past its cap: the call's outcome is not known
            result.error = result.error or f"queue/data: {stream['ended'][len('error: '):]}"
        # the quota after the call and the run log are independent reads: side by side
        quota_after = asyncio.ensure_future(self._quota(ctx, result, "after")) if ctx.http.token else None
        try:
            entered, log_info = await self._read_run_log(ctx, result, host, call, wall0, stream)
            after = await quota_after if quota_after is not None else None
        finally:
            if quota_after is not None and not quota_after.done():
                quota_after.cancel()
        settled = None
        if opts.settle_wait > 0 and ctx.http.token:
            done_at = stream.get("completed_mono") or time.monotonic()
            wait = max(0.0, opts.settle_wait - (time.monotonic() - done_at))
            ctx.shared["zerogpu.step"] = f"waiting {opts.settle_wait:g}s for the quota to settle"
            ctx.say(self.name, f"waiting {wait:.0f}s for the quota to settle")
            mark("settle_wait", seconds=opts.settle_wait)
            await asyncio.sleep(wait)
            settled = await self._quota(ctx, result, "settled")
        kb = await ctx.rules()
        self._facts_from_call(ctx, kb, result, stream, before, after, settled, entered, log_info)

    async def _follow(self, ctx: ProbeContext, url: str, session_hash: str, budget: float, mark) -> dict:
        """Read queue/data until close_stream (or the bounds). Returns what was seen."""
        http = ctx.http
        loop = asyncio.get_running_loop()
        t_end = loop.time() + budget
        out: dict = {"messages": 0, "heartbeats": 0, "ended": "", "texts": [], "estimation": False,
                     "waiting": False, "acquired_mono": None, "starts_mono": None, "completed_mono": None,
                     "completed": None}
        headers = {"accept": "text/event-stream", **http._auth_headers(url, True)}
        ctx.shared["zerogpu.step"] = "following the queue stream"
        try:
            async with http.client.stream("GET", url, params={"session_hash": session_hash}, headers=headers,
                                          timeout=httpx.Timeout(STREAM_IDLE_S + 5, connect=5.0)) as resp:
                http.requests_sent += 1
                if resp.status_code >= 400:
                    text = (await read_head(resp, url, 300)).decode("utf-8", errors="replace")
                    mark("stream_failed", status=resp.status_code, detail=text)
                    out["ended"] = f"status {resp.status_code}"
                    return out
                events = SSEReader(resp, url).events().__aiter__()  # bounded: stream, line and event sizes
                while True:
                    remaining = t_end - loop.time()
                    if remaining <= 0:
                        out["ended"] = "deadline"
                        mark("stopped", reason=f"no completion within {budget:.0f}s")
                        return out
                    try:
                        ev = await asyncio.wait_for(events.__anext__(), min(remaining, STREAM_IDLE_S))
                    except asyncio.TimeoutError:
                        if loop.time() < t_end:
                            out["ended"] = "idle"
                            mark("stopped", reason=f"no message (not even a heartbeat) for {STREAM_IDLE_S:g}s")
                            return out
                        continue
                    except BodyError as e:
                        out["ended"] = f"error: {e}"
                        mark("stream_error", detail=str(e))
                        return out
                    except StopAsyncIteration:
                        out["ended"] = out["ended"] or "closed"
                        if out["ended"] == "closed":
                            mark("stream_closed")
                        return out
                    if not ev.data.strip():
                        continue
                    out["messages"] += 1
                    if out["messages"] > MAX_MESSAGES:
                        out["ended"] = "max_messages"
                        mark("stopped", reason=f"more than {MAX_MESSAGES} messages")
                        return out
                    try:
                        msg = json.loads(ev.data)
                    except ValueError:
                        mark("unparsed", data=ev.data[:200])
                        continue
                    if not isinstance(msg, dict):
                        continue
                    if self._on_message(msg, out, mark):
                        out["ended"] = "close_stream"
                        return out
        except httpx.HTTPError as e:
            failure = classify_error(e, url)
            out["ended"] = f"error: {failure}"
            mark("stream_error", detail=str(failure))
            return out

    def _on_message(self, msg: dict, out: dict, mark) -> bool:
        kind = msg.get("msg")
        now = time.monotonic()
        if kind == "heartbeat":
            out["heartbeats"] += 1
            return False
        if kind == "estimation":
            out["estimation"] = True
            mark("estimation", rank=msg.get("rank"), queue_size=msg.get("queue_size"), rank_eta=msg.get("rank_eta"))
        elif kind == "process_starts":
            out["starts_mono"] = now
            mark("process_starts", eta=msg.get("eta"))
        elif kind == "log":
            text = str(msg.get("log") or "")
            title = msg.get("title")
            out["texts"].append(f"{title}: {text}" if title else text)
            event = "log"
            if "Waiting for a GPU" in text:
                out["waiting"] = True
                event = "gpu_waiting"
            elif "Successfully acquired a GPU" in text:
                out["acquired_mono"] = now
                event = "gpu_acquired"
            mark(event, level=msg.get("level"), title=title, text=plain(text)[:300])
        elif kind == "progress":
            mark("progress", progress=msg.get("progress_data"))
        elif kind in ("process_generating", "process_streaming"):
            mark(kind)
        elif kind == "process_completed":
            output = msg.get("output") if isinstance(msg.get("output"), dict) else {}
            success = msg.get("success") is True
            title = msg.get("title") or output.get("title")
            title = short_text(title, 200) if title else None
            error = output.get("error")
            error = error if error is None or isinstance(error, str) else short_text(error)
            out["completed_mono"] = now
            out["completed"] = {"success": success, "title": title, "error": error,
                                "duration": _field(output.get("duration"))}
            if not success:
                out["texts"].append(f"{title or 'Error'}: {error if error is not None else ''}")
            mark("completed", success=success, title=title,
                 message=plain(error)[:500] if isinstance(error, str) else error)
        elif kind == "unexpected_error":
            out["completed_mono"] = now
            out["completed"] = {"success": False, "title": None, "error": _field(msg.get("message")), "unexpected": True}
            mark("unexpected_error", message=msg.get("message"), session_not_found=msg.get("session_not_found"))
            return True
        elif kind == "close_stream":
            mark("close_stream")
            return True
        else:
            mark(short_text(kind, 64))
        return False

    async def _read_run_log(self, ctx: ProbeContext, result: ProbeResult, host: str, call: dict, wall0: float,
                            stream: dict) -> tuple[bool | None, dict]:
        """With the owner's token: this call's markers and the traceback behind a worker error."""
        info: dict = {}
        if not ctx.http.token:
            result.detail["run_log"] = "not read: needs the owner's token"
            return None, info
        # A sentinel request after the call: once its nonce shows in the run log (access line or request marker),
        # the log has caught up past this call, so a missing gpu.enter is an observation, not a lag.
        # The log is opened while the sentinel is sent: it shows up live, after the replay.
        state = {"caught_up": False, "since": None, "sentinel": secrets.token_hex(6)}
        wait_s = ctx.options.log_wait_s

        async def send_sentinel() -> None:
            try:
                await ctx.http.request("GET", f"{host}/config", params={"hfdiag_nonce": state["sentinel"]},
                                       deadline=5.0, max_body=512 * 1024)
            except HttpFailure:
                state["sentinel"] = None

        def done(lines, win):
            sentinel = state["sentinel"]
            if sentinel and any(sentinel in ln for ln, _ in lines[-50:]):
                state["caught_up"] = True
                return "caught_up"
            if not win.replayed():
                return False
            if not sentinel:
                return "replayed"
            state["since"] = state["since"] or win.now  # the sentinel is a live line: wait for it, bounded
            return "waited" if win.now - state["since"] >= wait_s else False

        ctx.shared["zerogpu.step"] = "reading the run log for this call"
        read, _ = await asyncio.gather(
            read_log(ctx, "run", max_lines=ctx.options.log_max_lines, budget=max(1.0, wait_s + 3.0), done=done),
            send_sentinel())
        sentinel = state["sentinel"]
        if read.status is None or read.status >= 400:
            result.detail["run_log"] = f"not readable ({read.error or read.status}): needs the owner's token"
            return None, info
        lines = read.lines
        markers = parse_markers([ln for ln, _ in lines])
        present = any(m.get("event") in ("markers.enabled", "request", "gpu.enter", "gpu.exit") for m in markers)
        ours_req = any(m.get("event") == "request" and m.get("nonce") in (call["nonce"], sentinel) for m in markers)
        t_lo = wall0 - 2.0
        t_hi = time.time() + 2.0
        event_id = call.get("event_id")

        def in_window(marker: dict, ts: str | None) -> bool:
            stamp = _num(marker.get("ts"))
            if stamp is None:
                stamp = parse_timestamp(ts)
            return stamp is not None and t_lo <= stamp <= t_hi

        enters = []
        for ln, ts in lines:
            for m in parse_markers([ln]):
                if m.get("event") != "gpu.enter":
                    continue
                if m.get("id") == event_id or (not _other_call(m, event_id) and in_window(m, ts)):
                    enters.append(m)
        window = [ln for ln, ts in lines if (parse_timestamp(ts) or 0) >= t_lo]
        info = {"lines": len(lines), "ended": read.ended, "caught_up": state["caught_up"], "markers_present": present,
                "request_marker_for_this_call": ours_req, "gpu_enter": enters[:3], "window": window[-400:]}
        result.detail["run_log"] = {k: v for k, v in info.items() if k != "window"}
        if present:
            result.fact("zerogpu.markers_present", True)
        if enters:
            return True, info
        if present and (state["caught_up"] or read.ended in ("drained", "closed")):
            return False, info
        return None, info

    def _facts_from_call(self, ctx: ProbeContext, kb, result: ProbeResult, stream: dict, before: dict | None,
                         after: dict | None, settled: dict | None, entered: bool | None, log_info: dict) -> None:
        scan = kb.signatures.scan_text("\n".join(stream["texts"]) + "\n", source="probe:zerogpu")
        facts = {f.key: f.value for f in scan.fact_list()}
        result.detail["signatures"] = list(scan.matched)
        for key, value in facts.items():
            if key.startswith("zerogpu.") and key not in OWN_KEYS:
                result.fact(key, value)
        identity = result.detail.get("identity", {})
        message_pool = facts.get("zerogpu.caller_pool") or facts.get("zerogpu.quota_variant")
        if message_pool:
            identity["message_pool"] = message_pool
            result.fact("zerogpu.caller_pool", message_pool)
        completed = stream.get("completed")
        kind = facts.get("zerogpu.error_kind")
        result.fact("zerogpu.estimation_seen", bool(stream["estimation"]))
        if completed is not None or stream["waiting"]:
            result.fact("zerogpu.waiting_seen", bool(stream["waiting"]))
        acquired = None
        if stream["acquired_mono"] is not None or (completed or {}).get("success") or kind in (
                "worker_error", "gpu_aborted"):
            acquired = True
        elif kind in NO_GPU_KINDS or kind in REFUSED_WITH_TOKEN or kind in NO_TOKEN_KINDS or kind == "expired_token":
            acquired = False
        if acquired is not None:
            result.fact("zerogpu.acquired", acquired)
        if completed is not None:
            result.fact("zerogpu.completed_ok", bool(completed["success"]))
            if not completed["success"]:
                result.fact("zerogpu.error_title", completed.get("title") or "Error")
                err = completed.get("error")
                if isinstance(err, str) and err.strip():
                    result.fact("zerogpu.error_message", plain(err)[:500])
                    result.excerpts.append(f"completion: {completed.get('title') or 'Error'}: {plain(err)[:300]}")
                else:
                    result.fact("zerogpu.error_message", "(error: null: the app hides raw exceptions; "
                                                         "show_error is off)")
        if kind == "worker_error":
            result.detail["worker_error"] = (
                f"ZeroGPU reports only the exception class ({facts.get('zerogpu.worker_error_class') or '?'}) to "
                "callers; the real traceback is only in the Space's run log (Logs > Container), readable with the "
                "owner's token.")
        # identity: did an X-IP-Token travel on this path?
        token = bool(ctx.http.token)
        ip_sent: bool | None = facts.get("zerogpu.ip_token_sent")
        # quota arithmetic
        t_gpu = None
        if stream.get("completed_mono") is not None:
            start = stream["acquired_mono"] or (stream["starts_mono"] if (completed or {}).get("success") else None)
            t_gpu = round(max(0.0, stream["completed_mono"] - start), 3) if start is not None else None
        if acquired is False:
            t_gpu = 0.0
        if t_gpu is not None:
            kind_gpu = "observed" if stream["acquired_mono"] is not None or acquired is False else "inferred"
            result.fact("zerogpu.gpu_used_s", t_gpu, kind=kind_gpu)
        requested = facts.get("zerogpu.requested_s")
        charged = charged_settled = None
        if before and after:
            charged = _int_or_float(float(before["current"]) - float(after["current"]))
            result.fact("zerogpu.quota_after_s", after["current"])
            result.fact("zerogpu.charged_s", charged)
        if before and settled:
            charged_settled = _int_or_float(float(before["current"]) - float(settled["current"]))
            result.fact("zerogpu.quota_settled_s", settled["current"])
            result.fact("zerogpu.charged_settled_s", charged_settled)
            if charged is not None:
                result.fact("zerogpu.refunded", charged_settled < charged - 0.5)
        if charged is not None:
            result.fact("zerogpu.settle_wait_s", _int_or_float(opts_settle_wait(ctx)))
            result.fact("zerogpu.settle_observed", settled is not None and opts_settle_wait(ctx) >= settle_min_s(ctx))
        final = charged_settled if charged_settled is not None else charged
        candidates = [int(requested)] if isinstance(requested, (int, float)) else [
            int(DEFAULT_DURATION_S * BLACKWELL_FACTOR), DEFAULT_DURATION_S * 2, DEFAULT_DURATION_S]
        reservation = candidates[0]
        if final is not None and not isinstance(requested, (int, float)):
            near = [c for c in candidates if abs(final - c) <= max(3.0, 0.1 * c)]
            reservation = near[0] if near else reservation
        result.fact("zerogpu.reservation_s", reservation,
                    kind="observed" if isinstance(requested, (int, float)) else "inferred")
        if final is not None:
            result.fact("zerogpu.charged_reservation", abs(final - reservation) <= max(3.0, 0.1 * reservation))
            if t_gpu is not None and charged_settled is not None:
                allowed = 2 * t_gpu + SETTLE_SLACK_S  # xlarge bills 2x; the size is not visible from outside
                result.fact("zerogpu.settled_ok", charged_settled <= allowed)
        if ip_sent is None:
            if kind in REFUSED_WITH_TOKEN or facts.get("zerogpu.ip_fallback"):
                ip_sent = True
            elif (completed or {}).get("success") and token and charged is not None and charged > 0:
                ip_sent = True
        if ip_sent is not None:
            result.fact("zerogpu.ip_token_sent", ip_sent, kind="observed" if "zerogpu.ip_token_sent" in facts
                        else "inferred")
        if token and identity.get("expected_pool") in ("pro", "free") and (
                message_pool == "anonymous" or facts.get("zerogpu.ip_fallback") or ip_sent is False):
            result.fact("zerogpu.token_but_anonymous", True)
        # markers and the run log
        if entered is not None:
            result.fact("zerogpu.function_entered", entered)
        if kind == "worker_error" and log_info.get("window") is not None:
            self._classify_worker_error(ctx, kb, result, log_info["window"])
        result.detail["quota_summary"] = {
            "before": before and before["current"], "after": after and after["current"],
            "settled": settled and settled["current"], "charged_s": charged, "charged_settled_s": charged_settled,
            "reservation_s": reservation, "gpu_used_s": t_gpu,
            "rule": "reserved = @spaces.GPU duration x 1.5 on Blackwell large, x 2 on xlarge (no 1.5); the "
                    "reservation should settle down to the GPU time actually used",
        }

    def _classify_worker_error(self, ctx: ProbeContext, kb, result: ProbeResult, window: list[str]) -> None:
        """'ZeroGPU worker error' + a class name: the traceback is only in the run log. Classify it."""
        scan = kb.signatures.scan_text("\n".join(window) + "\n", source="probe:zerogpu/run_log")
        facts = {f.key: f.value for f in scan.fact_list()}
        exc_lines = [ln for ln in window if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\b:", ln)]
        if exc_lines:
            result.fact("zerogpu.worker_exception_line", ctx.redactor.text(exc_lines[-1])[:300])
            result.excerpts.append(f"run log: {exc_lines[-1][:300]}")
        for key, value in facts.items():
            if key.startswith("runtime.") or key in ("app.error_kind", "app.exception_class", "app.missing_module"):
                result.fact(key, value)
        if facts.get("runtime.error_kind"):
            origin = "runtime"
        elif facts.get("app.error_kind") or facts.get("app.exception_class") or exc_lines:
            origin = "app"
        else:
            origin = "unknown"
        result.fact("zerogpu.worker_error_origin", origin)
        result.detail["worker_error"] = (result.detail.get("worker_error", "") + f" Found in the run log: "
                                         f"{exc_lines[-1][:200] if exc_lines else 'no exception line'} "
                                         f"(classified: {origin}).").strip()


def _other_call(marker: dict, event_id: str | None) -> bool:
    """A marker that names another call's id (a hex event id different from ours)."""
    mid = marker.get("id")
    return bool(event_id and isinstance(mid, str) and re.fullmatch(r"[0-9a-f]{32}", mid) and mid != event_id)


def opts_settle_wait(ctx: ProbeContext) -> float:
    return float(ctx.options.settle_wait or 0.0)


def settle_min_s(ctx: ProbeContext) -> float:
    import os

    raw = ctx.options.extra.get("environ", os.environ).get("HFDIAG_SETTLE_MIN_S")
    try:
        return float(raw) if raw else SETTLE_MIN_S
    except ValueError:
        return SETTLE_MIN_S
