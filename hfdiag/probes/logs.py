"""Log probe: build and run logs over SSE, read until the evidence is complete (the server's replay of its
buffer; live lines only for the route probe's nonce), bounded by lines and the deadline; tolerant of
keep-alives and of the server replaying its buffer on reconnect; banners, staleness, last lines, markers, and
the shared signatures turned into facts."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from hfdiag.evidence.model import ProbeResult
from hfdiag.probes.base import ProbeContext
from hfdiag.probes.bounded import BodyError, SSEReader, read_head
from hfdiag.probes.http import HttpFailure, classify_error, settle
from hfdiag.probes.space import api_path

BUILD_QUEUED = re.compile(r"^=+ Build Queued at ")
APP_STARTUP = re.compile(r"^=+ Application Startup at ")
BUILD_DONE = re.compile(r"(?i)(Build and upload completed|pushing (manifest|layers|image)|exporting to image|"
                        r"naming to |writing image sha256|--> Pushing)")
BUILD_ERROR = re.compile(r"(?i)(--> ERROR:|did not complete successfully: exit code|^ERROR: failed to)")
LISTENING = re.compile(r"(?i)(Uvicorn running on|Running on local URL|Application startup complete|"
                       r"You can now view your Streamlit app|Listening on|\* Running on http)")
TRACEBACK = re.compile(r"^Traceback \(most recent call last\):")
# facts about one ZeroGPU call, which the zerogpu probe observes for its own call (--zerogpu-call)
OWN_CALL_KEYS = ("zerogpu.function_entered", "zerogpu.acquired", "zerogpu.completed_ok")
MARKER = re.compile(r"hfdiag-marker (\{.*\})\s*$")
MAX_LINE = 4096
# Stages in which no container serves: the route request cannot reach one in time (a sleeping Space takes far
# longer to wake than any live window), so no nonce is waited for.
NO_CONTAINER = frozenset({"BUILDING", "BUILD_ERROR", "CONFIG_ERROR", "NO_APP_FILE", "PAUSED", "STOPPED", "SLEEPING",
                          "RUNTIME_ERROR"})


@dataclass
class LogRead:
    status: int | None = None
    lines: list[tuple[str, str | None]] = field(default_factory=list)  # (line, timestamp)
    error: str | None = None
    ended: str = ""  # complete | replayed | nonce | refused | waited | closed | limit | deadline | stalled | ...
    kind: str = ""  # of the error: timeout | reset | protocol | http | ...
    live: int = 0  # lines stamped after the connection opened (the rest is the server's replay of its buffer)


def parse_timestamp(ts: str | None) -> float | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# A replay is taken as complete after this much quiet at least; the server's own pace stretches it (see settle).
LOG_SETTLE_MIN_S = 0.25
# What a TCP sender puts on the wire at once before it waits for an acknowledgement (the initial window, 10
# segments, RFC 6928: ~14.6 KB). A replay that arrived whole and smaller than this was all the server had ready:
# the rest of it is not one round trip behind.
ONE_FLIGHT_BYTES = 14_000
# Before any event at all, quiet says little (a busy machine or server delays the first one): wait this long at
# least, up to a share of the read's budget, before taking the replay for an empty one.
LOG_FIRST_EVENT_S = 1.0

# Stages whose run log is expected to be empty (no container has run since the last build started, or it was
# stopped): an empty replay there is not a first line that is late. RUNTIME_ERROR is not one: its run log holds
# the crash.
QUIET_RUN_LOG = NO_CONTAINER - {"RUNTIME_ERROR"}


@dataclass
class LogWindow:
    """What a reader knows about one open stream, for its `done` callback.

    The server first replays its buffer (lines stamped before the connection opened), then follows live.
    The replay is complete on evidence: a live line, a keep-alive (the server had nothing more to send), or quiet
    for `settle()`: at least LOG_SETTLE_MIN_S and three times the longest pause seen inside the replay, so a
    server that replays slowly is waited for at its own pace; once more than one flight of bytes came
    (ONE_FLIGHT_BYTES), also the time the server took to answer at all (the next flight is a round trip
    behind); before the first event, at least `first_event` (an empty replay is only called after that).
    Bytes of an event that has not completed always mean the replay is not over."""

    opened: float  # loop time the headers arrived
    waited: float  # seconds from sending the request to its headers
    live_after: float  # wall-clock time (the server's clock when it sent a Date header) a live line is stamped after
    clock_agrees: bool = False  # the server's Date header agrees with our clock (within its 1 s resolution)
    last_stamp: float | None = None  # the latest timestamp a line carried
    last_event: float = 0.0
    max_gap: float = 0.0
    keepalive: bool = False
    live: int = 0
    partial: bool = False
    now: float = 0.0
    events: int = 0  # events with data so far (keep-alives excluded)
    first_event: float = LOG_FIRST_EVENT_S
    received: int = 0  # decoded bytes of the stream so far (at least its bytes on the wire)

    def settle(self, expect_lines: bool = True) -> float:
        round_trip = self.waited if self.received > ONE_FLIGHT_BYTES else 0.0
        quiet = max(LOG_SETTLE_MIN_S, round_trip, 3 * self.max_gap)
        return quiet if self.events or not expect_lines else max(quiet, self.first_event)

    def quiet(self) -> float:
        return self.now - self.last_event

    def replayed(self, expect_lines: bool = True) -> bool:
        """`expect_lines=False`: an empty replay is what the caller expects (a run log while no container runs),
        so it is called after the usual quiet, not after `first_event`."""
        if self.partial:
            return False
        return bool(self.live or self.keepalive) or self.quiet() >= self.settle(expect_lines)


def _live_after(resp: httpx.Response, sent_wall: float) -> tuple[float, bool]:
    """When the connection started, by the clock that stamps the lines. Ours when the server's Date header agrees
    with it (1 s resolution); else the server's, rounded up to be sure. A line stamped after this moment is
    live: the buffer is replayed in order, so the replay is over once one shows up."""
    from email.utils import parsedate_to_datetime

    try:
        server = parsedate_to_datetime(resp.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        return sent_wall, False
    agrees = -2.0 < server - sent_wall < 1.0
    return (sent_wall if agrees else server + 1.0), agrees


def replay_done(lines, win: LogWindow):
    """The default `done`: the log as the server had it when the stream opened."""
    return "replayed" if win.replayed() else False


async def read_log(ctx: ProbeContext, kind: str, *, max_lines: int, budget: float, tail: int | None = None,
                   done=replay_done, tick: float = 0.05, wake: asyncio.Event | None = None) -> LogRead:
    """Drain one log stream until `done(lines, window)` names why it is complete (see LogWindow), the line
    limit, or `budget` seconds. Keep-alives (empty data) are not lines; a replay after a reconnect is
    deduplicated by event index."""
    http = ctx.http
    url = http.hub(api_path(ctx.space_id) + f"/logs/{kind}")
    params = {"tail": str(tail)} if tail else None
    out = LogRead()
    loop = asyncio.get_running_loop()
    t_end = loop.time() + budget
    for attempt in range(2):  # one reconnect: the server replays its buffer from the start
        index = 0
        headers = {"accept": "text/event-stream", **http._auth_headers(url, True)}
        pending: asyncio.Future | None = None
        woken: asyncio.Future | None = None
        # waiting for the headers is bounded by the budget too (a server that accepts and stays silent)
        first = max(0.1, min(5.0, t_end - loop.time()))
        sent, sent_wall = loop.time(), time.time()
        try:
            async with http.client.stream("GET", url, headers=headers, params=params,
                                          timeout=httpx.Timeout(first, connect=min(5.0, first))) as resp:
                http.requests_sent += 1
                out.status = resp.status_code
                if resp.status_code >= 400:
                    body = (await read_head(resp, url)).decode("utf-8", errors="replace")
                    out.error = f"{resp.status_code} from /logs/{kind}: {body[:160].strip()}"
                    out.kind = "http"
                    return out
                ctype = resp.headers.get("content-type", "")
                if resp.status_code != 200 or "text/event-stream" not in ctype:
                    where = f" (redirect to {resp.headers['location'][:120]}, not followed)" \
                        if "location" in resp.headers else ""
                    out.error = (f"/logs/{kind} answered {resp.status_code} {ctype or 'without a content type'}"
                                 f"{where}, not an event stream")
                    out.kind = "protocol"
                    return out
                sse = SSEReader(resp, url)  # bounded: the stream's decoded bytes, a line, an event
                events = sse.events().__aiter__()
                now = loop.time()
                live_after, agrees = _live_after(resp, sent_wall)
                win = LogWindow(opened=now, waited=now - sent, live_after=live_after, clock_agrees=agrees,
                                last_event=now, now=now, first_event=min(LOG_FIRST_EVENT_S, budget / 2))
                while True:
                    win.now = loop.time()
                    win.partial = sse.received > sse.event_bytes  # bytes of an event that has not completed
                    win.received = sse.received
                    remaining = t_end - win.now
                    if remaining <= 0:
                        stop = "deadline"
                    else:
                        verdict = done(out.lines, win)
                        stop = (verdict if isinstance(verdict, str) else "complete") if verdict else None
                    if stop == "deadline" and win.partial:
                        # bytes kept arriving but no event completed: a slow stream, not a drained log
                        out.ended, out.kind = "stalled", "timeout"
                        out.error = (f"/logs/{kind} is too slow: {sse.received - sse.event_bytes} "
                                     f"bytes of an event that did not complete in {win.quiet():.1f}s")
                        return out
                    if stop:
                        out.ended = stop
                        return out
                    # one pending read survives the ticks: cancelling it (wait_for) would close the generator
                    # and a stream with a pause longer than a tick would be taken for a closed one
                    if pending is None:
                        pending = asyncio.ensure_future(events.__anext__())
                    waiters = {pending}
                    if wake is not None and not wake.is_set():
                        if woken is None:
                            woken = asyncio.ensure_future(wake.wait())
                        waiters.add(woken)  # `done` may decide as soon as `wake` is set: no tick to wait for
                    await asyncio.wait(waiters, timeout=min(remaining, tick), return_when=asyncio.FIRST_COMPLETED)
                    if not pending.done():
                        continue
                    fut, pending = pending, None
                    try:
                        ev = fut.result()
                    except StopAsyncIteration:
                        out.ended = "closed"
                        return out
                    except BodyError as e:  # past the stream's cap: what was read stays evidence
                        out.ended, out.kind, out.error = "limit", e.kind, f"/logs/{kind}: {e}"
                        return out
                    t = loop.time()
                    if not ev.data.strip():
                        win.keepalive = True  # the server had nothing more to send: its replay is over
                        continue
                    if not win.live and not win.keepalive:
                        win.max_gap = max(win.max_gap, t - win.last_event if index else 0.0)
                    win.last_event = t
                    index += 1
                    win.events = index
                    if index <= len(out.lines):
                        continue  # replayed after a reconnect
                    line, ts = _parse_event(ev.data)
                    out.lines.append((line[:MAX_LINE], ts))
                    stamp = parse_timestamp(ts)
                    if stamp is not None:
                        win.last_stamp = stamp if win.last_stamp is None else max(win.last_stamp, stamp)
                    if stamp is not None and stamp >= win.live_after:
                        win.live += 1
                        out.live += 1
                    if len(out.lines) >= max_lines:
                        out.ended = "limit"
                        return out
        except httpx.HTTPError as e:
            failure = classify_error(e, url)
            if attempt == 0 and failure.kind in ("reset", "protocol") and out.lines:
                continue
            if isinstance(e, httpx.ReadTimeout) and out.status and out.status < 400:
                out.ended = "replayed"
                return out
            if isinstance(e, httpx.TimeoutException) and out.status is None:
                failure = HttpFailure(f"no answer from {url.split('?')[0]} within {first:.1f}s", "timeout")
            out.error, out.kind = str(failure), failure.kind
            return out
        finally:
            if pending is not None:
                settle(pending)
            if woken is not None:
                woken.cancel()
    return out


def _parse_event(data: str) -> tuple[str, str | None]:
    try:
        obj = json.loads(data)
    except ValueError:
        return data.rstrip("\n"), None
    if isinstance(obj, dict):
        text = obj.get("data")
        ts = obj.get("timestamp")
        return (text if isinstance(text, str) else json.dumps(text)).rstrip("\n"), ts if isinstance(ts, str) else None
    return str(obj), None


def parse_markers(lines: list[str]) -> list[dict]:
    out = []
    for line in lines:
        m = MARKER.search(line)
        if m:
            try:
                obj = json.loads(m.group(1))
            except ValueError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("event"), str):
                out.append(obj)
    return out


def build_done(lines, win: LogWindow):
    """The build log is complete at its terminal line (finished or failed), else once its replay is: the rules
    read the build's history (banner, steps, the last line's age), never lines that arrive later."""
    if lines and (BUILD_DONE.search(lines[-1][0]) or BUILD_ERROR.search(lines[-1][0])):
        return "complete"
    return replay_done(lines, win)


def run_done(ctx: ProbeContext, live_s: float):
    """The run log needs live lines for one thing: the route probe's nonce, which proves its request reached the
    container. Read until the nonce shows up; else, once the route probe is finished (or not running) and the
    replay is complete, wait at most `live_s` for it (the log pipeline may lag the answer), or until a line stamped
    well after the route's answers shows the log has caught up past them. Not at all when the edge refused every
    request itself (route.edge_refused): then no nonce is on its way, and its absence is not claimed."""
    nonce = ctx.shared.get("route.nonce")
    route_done: asyncio.Event | None = ctx.shared.get("route.done")
    state = {"seen": 0, "found": False, "since": None, "answered": None}

    def done(lines, win: LogWindow):
        if nonce:
            for line, _ in lines[state["seen"]:]:
                if nonce in line:
                    state["found"] = True
            state["seen"] = len(lines)
            if state["found"] and (route_done is None or route_done.is_set()):
                return "nonce"
        if route_done is not None and not route_done.is_set():
            return False
        if state["answered"] is None:
            state["answered"] = time.time()  # about when the route's answers were in
        stage = (ctx.shared.get("space.runtime") or {}).get("stage")
        if not win.replayed(expect_lines=stage not in QUIET_RUN_LOG):
            return False
        if not (nonce and ctx.shared.get("route.sent")) or stage in NO_CONTAINER:
            return "replayed"  # no request of ours can have reached a container: nothing live to wait for
        if ctx.shared.get("route.edge_refused"):
            return "refused"  # the edge kept every request to itself (route.edge_refused): no nonce is on its way
        if win.clock_agrees and win.last_stamp is not None and win.last_stamp >= state["answered"] + 1.0:
            return "caught_up"  # the app logged after our requests were answered: the nonce line would be before
        if state["since"] is None:
            state["since"] = win.now
        return "waited" if win.now - state["since"] >= live_s else False

    return done


READ_SHARE = 0.8  # of the probe's budget for reading the streams
CUT_OFF = ("deadline", "limit", "stalled")  # read endings that leave the rest of the log unseen
SCAN_SLICE = 256 * 1024  # bytes of log text scanned between two turns of the event loop


async def scan_lines(signatures, lines: list[str], source: str, t_end: float):
    """(ScanResult, lines scanned): the signatures over `lines`, a slice at a time, yielding to the event loop
    between slices and stopping at `t_end` (loop time), so a huge or hostile log cannot hold the run past its
    deadline; what was scanned by then stays."""
    from hfdiag.engine.signatures import ScanResult

    result = ScanResult()
    loop = asyncio.get_running_loop()
    start = size = 0
    for i, line in enumerate(lines):
        size += len(line) + 1
        if size < SCAN_SLICE and i + 1 < len(lines):
            continue
        signatures.scan_text("\n".join(lines[start:i + 1]) + "\n", source=source, result=result)
        start, size = i + 1, 0
        await asyncio.sleep(0)
        if loop.time() >= t_end:
            break
    return result, start


# `scan` opens the logs only where the evidence shows a problem (options.extra["logs_policy"] = LOGS_ON_PROBLEM):
# a RUNNING Space whose every route request the app answered costs no log streams.
LOGS_ON_PROBLEM = "on_problem"
NOT_READ = "not read: the stage and the route were healthy (scan reads logs only where they show a problem)"


def _facts(result: ProbeResult | None) -> dict:
    return {f.key: f.value for f in result.facts} if result is not None and result.status == "ok" else {}


def may_be_healthy(ctx: ProbeContext) -> bool:
    """The Hub's evidence alone: RUNNING, no error message, not ZeroGPU (its rules read the run log)."""
    space = _facts(ctx.results.get("space"))
    return (space.get("space.stage") == "RUNNING" and not space.get("space.error_message")
            and space.get("space.zerogpu") is not True)


def looks_healthy(ctx: ProbeContext) -> bool:
    """`may_be_healthy`, and every route request answered by the app itself without an error: the evidence
    without logs already points to healthy."""
    route = _facts(ctx.results.get("route"))
    n = route.get("route.requests")
    return (may_be_healthy(ctx) and isinstance(n, int) and n > 0
            and route.get("route.app_ok") == n and route.get("route.edge_made") == 0
            and route.get("route.fail_ratio") == 0 and route.get("route.timeouts") == 0)


class LogsProbe:
    name = "logs"
    after: tuple[str, ...] = ()
    timeout = 20.0

    def prepare(self, ctx: ProbeContext) -> None:
        if ctx.options.extra.get("logs_policy") == LOGS_ON_PROBLEM:
            self.after = ("space",)  # the decision needs its evidence, and the route's where the stage looks fine

    def after_also(self, ctx: ProbeContext) -> tuple[str, ...]:
        """A stage that already shows a problem opens the logs at once, beside the route (as `check` does)."""
        if ctx.options.extra.get("logs_policy") == LOGS_ON_PROBLEM and may_be_healthy(ctx):
            return ("route",)
        return ()

    def enabled(self, ctx: ProbeContext) -> str | None:
        if not ctx.http.token:
            return "log access needs the owner's token"
        if ctx.options.extra.get("logs_policy") == LOGS_ON_PROBLEM and looks_healthy(ctx):
            return NOT_READ
        return None

    async def run(self, ctx: ProbeContext, result: ProbeResult) -> None:
        opts = ctx.options
        budget = max(0.5, min(self.timeout, ctx.options.timeout) - 0.5)
        t_end = asyncio.get_running_loop().time() + budget
        read_budget = budget * READ_SHARE  # the rest is kept for the signature scan of what was read
        ctx.shared["logs.step"] = "draining the build and run logs"
        build, run = await asyncio.gather(
            read_log(ctx, "build", max_lines=opts.log_max_lines, budget=read_budget, done=build_done),
            read_log(ctx, "run", max_lines=opts.log_max_lines, budget=read_budget,
                     done=run_done(ctx, opts.log_wait_s), wake=ctx.shared.get("route.done")),
        )
        nonce = ctx.shared.get("route.nonce")
        route = ctx.shared.get("route.sent")
        if nonce and route and run.status is not None and run.status < 400:
            seen = any(nonce in ln for ln, _ in run.lines)
            # a broken, too slow or cut-off stream proves nothing about an absent nonce, nor one not waited for
            if seen or not (run.error or run.ended in CUT_OFF or run.ended == "refused"):
                result.fact("route.nonce_in_run_log", seen)
        denied = [r for r in (build, run) if r.status in (401, 403)]
        if denied:
            result.fact("logs.denied", True)
            result.fact("logs.need_owner_token", True)
            result.status = "denied"
            result.error = f"log access refused ({denied[0].status}): reading logs needs the owner's token"
        await self._summarise(ctx, result, "build_log", build, t_end)
        await self._summarise(ctx, result, "run_log", run, t_end)
        ctx.shared["logs.run_lines"] = [ln for ln, _ in run.lines]
        failed = [r for r in (build, run) if r.error and r.status not in (401, 403)]
        if failed and result.status == "ok":
            result.status = "timeout" if all(r.kind == "timeout" for r in failed) else "error"
            result.error = "; ".join(r.error for r in failed)
        result.detail["build_log_end"] = build.ended
        result.detail["run_log_end"] = run.ended

    async def _summarise(self, ctx: ProbeContext, result: ProbeResult, prefix: str, read: LogRead,
                         t_end: float) -> None:
        if read.status is None or read.status >= 400:
            if read.status is not None:
                result.fact(f"{prefix}.status", read.status)
                result.fact(f"{prefix}.available", False)
            return
        if read.error and not read.lines:
            result.fact(f"{prefix}.status", read.status)  # the stream failed: no claim about its content
            return
        lines = [ln for ln, _ in read.lines]
        result.fact(f"{prefix}.status", read.status)
        result.fact(f"{prefix}.available", True)
        result.fact(f"{prefix}.lines", len(lines))
        stamps = [t for t in (parse_timestamp(ts) for _, ts in read.lines) if t is not None]
        if stamps:
            result.fact(f"{prefix}.last_line_age_s", round(max(0.0, time.time() - max(stamps)), 1))
        if prefix == "build_log":
            queued = any(BUILD_QUEUED.search(ln) for ln in lines)
            result.fact("build_log.queued_banner", queued)
            after_banner = [ln for ln in lines if ln.strip() and not BUILD_QUEUED.search(ln)]
            result.fact("build_log.started", bool(after_banner))
            result.fact("build_log.finished", any(BUILD_DONE.search(ln) for ln in lines))
            result.fact("build_log.error", any(BUILD_ERROR.search(ln) for ln in lines))
        else:
            result.fact("run_log.startup_banner", any(APP_STARTUP.search(ln) for ln in lines))
            result.fact("run_log.app_listening", any(LISTENING.search(ln) for ln in lines))
            result.fact("run_log.traceback", any(TRACEBACK.search(ln) for ln in lines))
            markers = parse_markers(lines)
            if any(m["event"] == "gpu.enter" for m in markers):
                result.fact("zerogpu.function_entered", True)
            egress = [m for m in markers if m["event"] == "egress"]
            if egress:
                result.fact("egress.marker_seen", True)
                ctx.shared["logs.egress_markers"] = egress
            ctx.shared["logs.markers"] = markers
        # Signatures: the same engine as `hfdiag explain`; run-log facts override build-log ones.
        scan, scanned = await scan_lines((await ctx.rules()).signatures, lines, f"probe:logs/{prefix}", t_end)
        if scanned < len(lines):
            result.detail[f"{prefix}_scanned"] = f"{scanned} of {len(lines)} lines (the deadline came first)"
        existing = {f.key for f in result.facts}
        for f in scan.fact_list():
            if f.key not in existing or prefix == "run_log":
                result.replace_fact(f.key, f.value)
        if scan.cue_hits:  # the text cues of `explain`, recorded as evidence (the rules decide a live check)
            result.fact(f"{prefix}.cues", sorted(scan.cue_hits))
        if prefix == "run_log" and ctx.options.zerogpu_call:
            # the zerogpu probe decides these for its own call: another visitor's gpu.enter / "acquired a GPU"
            # in the run log says nothing about it (and would veto a quota refusal that is real)
            result.facts = [x for x in result.facts if x.key not in OWN_CALL_KEYS]
        if prefix == "run_log" and ctx.shared.get("logs.egress_markers"):  # markers are exact: they win over text
            from hfdiag.egress import facts_from_markers

            result.facts = [x for x in result.facts if not x.key.startswith("egress.") or x.key == "egress.marker_seen"]
            for key, value in facts_from_markers(ctx.shared["logs.egress_markers"]).items():
                result.fact(key, value)
        tail = [ctx.redactor.text(ln) for ln in lines[-8:]]
        result.excerpts += [f"{prefix}: {ln}" for ln in tail]
