"""`hfdiag scan` as a library: check many Spaces with bounded concurrency and one shared Hub rate limiter.

- At most `concurrency` Spaces are checked at once (each check runs its probes concurrently, as `check` does).
- Every Hub request of every check goes through one `RateLimiter` (hfdiag/ratelimit.py), which honours the
  Hub's `RateLimit` / `RateLimit-Policy` headers and backs off on 429 (Retry-After, else t+1 s).
- A Space whose evidence was damaged by rate limiting (a 429 nobody sent again, or a deadline that ran out while
  waiting for the limit) is checked again once the limit reopens, up to `attempts` times: no Space's result is
  lost to the rate limit.
- Answers that are the same for every Space (whoami, the status page) are asked once per scan and shared.
- The Space infos come from one listing per owner (hfdiag/scan_listing.py), not one call per Space; a Space the
  listing does not show completely is asked for on its own.
- The log streams are opened only where the stage or the route shows a problem (hfdiag/probes/logs.py
  `looks_healthy`); a healthy verdict then says its logs were not read.
- `hub_calls` counts every request to the Hub (log streams, listings, shared calls; not the Space origins).
- Results are delivered in input order as soon as every earlier Space is done (`on_result`), so JSON Lines
  stream while the scan runs.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from typing import Callable

from hfdiag.check import CheckResult, check_space, validate_space_id
from hfdiag.engine.knowledge import KnowledgeBase
from hfdiag.errors import UsageError
from hfdiag.probes.base import CheckOptions
from hfdiag.ratelimit import RateLimiter, current_item

MAX_SPACES = 100_000


def parse_space_list(text: str, source: str = "input") -> list[str]:
    """One Space id per line; blank lines and `#` comments (whole-line or trailing) are ignored; duplicates
    are checked once. A malformed line is a usage error naming its line number."""
    out: list[str] = []
    seen: set[str] = set()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            sid = validate_space_id(line)
        except UsageError as e:
            raise UsageError(f"{source} line {n}: {e}") from None
        if sid not in seen:
            seen.add(sid)
            out.append(sid)
        if len(out) > MAX_SPACES:
            raise UsageError(f"{source}: more than {MAX_SPACES} Spaces")
    return out


@dataclass
class ScanStats:
    spaces: int = 0
    wall_s: float = 0.0
    concurrency: int = 0
    rechecked: int = 0  # checks run again because rate limiting damaged their evidence
    peak_active: int = 0  # Spaces being checked at the same moment (never above concurrency)
    rate: dict = field(default_factory=dict)
    interrupted: bool = False
    listing: dict = field(default_factory=dict)
    logs_not_read: int = 0  # Spaces whose logs the scan did not open (healthy stage and route)

    @property
    def hub_calls(self) -> int:
        return int(self.rate.get("requests", 0))

    def to_dict(self) -> dict:
        return {"spaces": self.spaces, "wall_s": round(self.wall_s, 3), "concurrency": self.concurrency,
                "rechecked": self.rechecked, "peak_active": self.peak_active, "rate_limit": self.rate,
                "hub_calls": self.hub_calls,
                "hub_calls_per_space": round(self.hub_calls / self.spaces, 3) if self.spaces else 0.0,
                "listing": self.listing, "logs_not_read": self.logs_not_read, "interrupted": self.interrupted}


async def scan_spaces(space_ids: list[str], options: CheckOptions, kb: KnowledgeBase, *, concurrency: int = 8,
                      limiter: RateLimiter | None = None, attempts: int = 3,
                      on_result: Callable[[int, CheckResult], None] | None = None,
                      logs_on_problem: bool = True) -> tuple[list[CheckResult], ScanStats]:
    from hfdiag.probes.http import Http
    from hfdiag.probes.logs import LOGS_ON_PROBLEM
    from hfdiag.probes.logs import NOT_READ as LOGS_NOT_READ
    from hfdiag.probes.shared import SharedCalls
    from hfdiag.scan_listing import Listing

    limiter = limiter or RateLimiter()
    options.extra["limiter"] = limiter
    # whoami and the status page are the same for every Space: asked once (hfdiag/probes/shared.py)
    shared = SharedCalls(Http(options.endpoint, options.token, trust_env=options.trust_env, limiter=limiter))
    options.extra["shared_calls"] = shared
    if logs_on_problem:
        options.extra["logs_policy"] = LOGS_ON_PROBLEM
    stats = ScanStats(spaces=len(space_ids), concurrency=concurrency)
    listing = Listing(shared.http, space_ids)
    options.extra["space_listing"] = listing
    results: dict[int, CheckResult] = {}
    next_out = 0
    queue: asyncio.Queue[tuple[int, str, int]] = asyncio.Queue()
    for i, sid in enumerate(space_ids):
        queue.put_nowait((i, sid, 1))
    interrupted = asyncio.Event()
    active = 0
    hub_api = options.endpoint.rstrip("/") + "/api/"

    def deliver() -> None:
        nonlocal next_out
        while next_out in results:
            if on_result is not None:
                on_result(next_out, results[next_out])
            next_out += 1

    async def worker() -> None:
        nonlocal active
        while True:
            i, sid, attempt = await queue.get()
            try:
                if interrupted.is_set():
                    continue
                await limiter.wait_open(hub_api)  # do not start a check into a closed window
                token = current_item.set(sid)
                before = limiter.damaged[sid]
                active += 1
                stats.peak_active = max(stats.peak_active, active)
                try:
                    res = await check_space(sid, options, kb, None, interrupted)
                finally:
                    active -= 1
                    current_item.reset(token)
                if limiter.damaged[sid] > before and attempt < attempts and not interrupted.is_set():
                    stats.rechecked += 1
                    queue.put_nowait((i, sid, attempt + 1))
                    continue
                res.extra["attempts"] = attempt
                logs = next((r for r in res.probes if r.probe == "logs"), None)
                not_read = logs is not None and logs.error == LOGS_NOT_READ
                stats.logs_not_read += not_read
                # what this Space cost (all its attempts): the user sees where the Hub calls went
                res.report["scan"] = {"hub_calls": limiter.sent_for[sid], "space_info": _info_source(res),
                                      "logs": "not read (healthy stage and route)" if not_read else
                                      "opened" if logs is not None and logs.status != "skipped" else "skipped"}
                results[i] = res
                deliver()
            finally:
                queue.task_done()

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    except (NotImplementedError, RuntimeError, ValueError):
        pass
    start = time.monotonic()
    workers = [asyncio.create_task(worker(), name=f"scan-worker-{n}") for n in range(max(1, concurrency))]
    try:
        await queue.join()
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for key in ("shared_calls", "space_listing", "logs_policy"):
            options.extra.pop(key, None)
        await listing.aclose()
        await shared.aclose()
        try:
            loop.remove_signal_handler(signal.SIGINT)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    if on_result is not None:  # after an interrupt some Spaces have no result: deliver the rest in order
        for i in sorted(k for k in results if k >= next_out):
            on_result(i, results[i])
    stats.wall_s = time.monotonic() - start
    stats.rate = limiter.stats.to_dict()
    stats.listing = listing.stats.to_dict(len(results))
    stats.interrupted = interrupted.is_set()
    return [results[i] for i in sorted(results)], stats


def _info_source(res: CheckResult) -> str:
    space = next((p for p in res.probes if p.probe == "space"), None)
    return "listing" if space is not None and space.detail.get("source") == "listing" else "own call"

