"""One shared client-side rate limiter for the Hub API (used by `hfdiag scan`).

The Hub announces its quota on every API answer (IETF draft "RateLimit header fields"):

    RateLimit: "api";r=497;t=212            remaining requests r in the bucket, window resets in t seconds
    RateLimit-Policy: "fixed window";"api";q=500;w=300

and answers 429 (optionally with Retry-After) once a bucket is exhausted. The limiter

- keeps one state per (origin, bucket); a request's bucket is "resolvers" for `/resolve/` paths, else "api"
  (the names the Hub uses); the bucket named by the header wins once seen;
- counts requests it lets through against the last announced `r`, so N concurrent callers cannot overshoot
  the remaining quota, and holds everyone until the window resets when it reaches zero;
- on a 429 pauses the whole bucket for `Retry-After` seconds, else `t + 1` seconds (t is rounded down by the
  Hub), else an exponential back-off, and tells the caller to retry the same request;
- records, per scan item (a context variable set by the scan), whether it gave up or was cut off while
  waiting, so the scan can re-run that item instead of reporting a result damaged by rate limiting.

`Http(..., limiter=RateLimiter())` installs httpx event hooks that call `acquire` and `observe` for every request
to the Hub endpoint's origin (streams included), and sends `Http.request` calls through `call` (retry on 429).
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Awaitable, Callable, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

#: the scan item (Space id) the current task works for; copied into every probe task.
current_item: contextvars.ContextVar[str | None] = contextvars.ContextVar("hfdiag_rate_item", default=None)

_retrying: contextvars.ContextVar[bool] = contextvars.ContextVar("hfdiag_rate_retrying", default=False)

_ITEM_RX = re.compile(r'^\s*"?([A-Za-z0-9_.-]+)"?\s*((?:;\s*[A-Za-z]+\s*=\s*[^;,]+)*)')
_PARAM_RX = re.compile(r";\s*([A-Za-z]+)\s*=\s*([^;,]+)")


def parse_ratelimit(value: str | None) -> dict[str, dict[str, float]]:
    """`"api";r=497;t=212` (possibly several, comma-separated) -> {"api": {"r": 497, "t": 212}}."""
    out: dict[str, dict[str, float]] = {}
    if not value:
        return out
    for part in value.split(","):
        m = _ITEM_RX.match(part)
        if not m:
            continue
        params = {}
        for k, v in _PARAM_RX.findall(m.group(2) or ""):
            try:
                params[k.lower()] = float(v.strip().strip('"'))
            except ValueError:
                continue
        out[m.group(1)] = params
    return out


def parse_policy(value: str | None) -> dict[str, dict[str, float]]:
    """`"fixed window";"api";q=500;w=300` -> {"api": {"q": 500, "w": 300}} (the policy name is skipped)."""
    out: dict[str, dict[str, float]] = {}
    if not value:
        return out
    for part in value.split(","):
        names = re.findall(r'"([^"]+)"', part)
        params = {}
        for k, v in _PARAM_RX.findall(part):
            try:
                params[k.lower()] = float(v.strip().strip('"'))
            except ValueError:
                continue
        if names:
            out[names[-1]] = params
    return out


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (now if now is not None else time.time()))


def bucket_for(url: str) -> str:
    return "resolvers" if "/resolve/" in urlsplit(url).path else "api"


@dataclass
class _Bucket:
    remaining: float | None = None  # requests we may still send in this window (None: unknown, let through)
    reset_at: float = 0.0  # monotonic time the window resets
    paused_until: float = 0.0  # after a 429 or an exhausted window
    quota: float | None = None  # q of the policy
    window: float | None = None  # w of the policy (seconds)
    backoff: float = 1.0  # next back-off without any header


@dataclass
class BucketView:
    """What the Hub's headers last said about one bucket, for a progress display."""

    name: str
    remaining: float | None  # r of the last RateLimit header, minus what was sent since
    quota: float | None  # q of RateLimit-Policy
    window_s: float | None  # w of RateLimit-Policy
    resets_in_s: float  # from t of the last RateLimit header
    paused_for_s: float  # > 0 while every request to the bucket waits (exhausted window, 429)


@dataclass
class RateStats:
    requests: int = 0
    throttled: int = 0  # 429 answers seen
    retried: int = 0  # requests sent again after a 429
    gave_up: int = 0  # 429 handed to the caller (retries or max_wait exhausted)
    waits: int = 0  # times a request waited before being sent
    waited_s: float = 0.0  # total time requests spent waiting (summed over concurrent waiters)
    paused_s: float = 0.0  # wall time during which a bucket was paused
    by_bucket: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {"requests": self.requests, "throttled": self.throttled, "retried": self.retried,
                "gave_up": self.gave_up, "waits": self.waits, "waited_s": round(self.waited_s, 3),
                "paused_s": round(self.paused_s, 3), "by_bucket": dict(self.by_bucket)}


class RateLimiter:
    def __init__(self, *, max_retries: int = 6, max_wait_s: float = 330.0, margin_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], Awaitable] = asyncio.sleep):
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self.margin_s = margin_s
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self.stats = RateStats()
        self.damaged: Counter[str] = Counter()  # scan item -> times its result may be damaged by rate limiting
        self.sent_for: Counter[str | None] = Counter()  # scan item -> requests counted while checking it

    # -- state ----------------------------------------------------------------------------------------------------
    def _bucket(self, url: str, name: str | None = None) -> _Bucket:
        p = urlsplit(url)
        key = (f"{p.scheme}://{p.netloc}".lower(), name or bucket_for(url))
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket()
        return b

    def _pause(self, b: _Bucket, seconds: float) -> None:
        now = self._clock()
        until = now + min(seconds, self.max_wait_s)
        if until > b.paused_until:
            self.stats.paused_s += until - max(now, b.paused_until)
            b.paused_until = until

    async def _wait(self, b: _Bucket) -> None:
        first = True
        while True:
            now = self._clock()
            if b.paused_until > now:
                wait = b.paused_until - now
            elif b.remaining is not None and b.remaining <= 0:
                if b.reset_at > now:
                    self._pause(b, b.reset_at - now + self.margin_s)
                    continue
                # the window has reset: the full quota again (None if never announced), for one window from now
                # (the Hub starts the new window at the first request; answers refine both numbers)
                b.remaining = b.quota
                b.reset_at = now + (b.window or 1.0)
                continue
            else:
                return
            if first:
                self.stats.waits += 1
                first = False
            start = self._clock()
            try:
                await self._sleep(wait)
            except asyncio.CancelledError:
                self._mark_damaged()  # a deadline ran out while waiting: the item's evidence is incomplete
                raise
            finally:
                self.stats.waited_s += self._clock() - start

    async def wait_open(self, url: str) -> None:
        """Wait until the bucket of `url` accepts requests again (nothing is counted)."""
        await self._wait(self._bucket(url))

    async def acquire(self, url: str) -> None:
        """Wait until a request to `url` may be sent, and count it against the bucket."""
        b = self._bucket(url)
        await self._wait(b)
        if b.remaining is not None:
            b.remaining -= 1
        self.stats.requests += 1
        self.stats.by_bucket[bucket_for(url)] += 1
        self.sent_for[current_item.get()] += 1

    def observe(self, url: str, status: int, headers) -> float | None:
        """Learn from an answer; the back-off in seconds when the request must be sent again, else None."""
        now = self._clock()
        limits = parse_ratelimit(headers.get("ratelimit"))
        policies = parse_policy(headers.get("ratelimit-policy"))
        name = next(iter(limits), None) or bucket_for(url)
        b = self._bucket(url, name)
        if url and name != bucket_for(url):
            self._buckets[(self._key_origin(url), bucket_for(url))] = b  # alias: the header names the bucket
        if name in policies and "q" in policies[name]:
            b.quota = policies[name]["q"]
        if name in policies and "w" in policies[name]:
            b.window = policies[name]["w"]
        info = limits.get(name, {})
        if "t" in info:
            b.reset_at = now + info["t"]
        if "r" in info:
            # other requests may already be in flight: keep the smaller of our count and the Hub's
            b.remaining = info["r"] if b.remaining is None else min(b.remaining, info["r"])
        if status != 429:
            b.backoff = 1.0
            return None
        self.stats.throttled += 1
        if not _retrying.get():
            self._mark_damaged()  # a stream or other request that nobody sends again
        retry_after = parse_retry_after(headers.get("retry-after"))
        if retry_after is not None:
            wait = retry_after
        elif "t" in info:
            wait = info["t"] + self.margin_s
        else:
            wait = b.backoff
            b.backoff = min(b.backoff * 2, 60.0)
        b.remaining = 0
        b.reset_at = max(b.reset_at, now + wait)
        self._pause(b, wait)
        return wait

    @staticmethod
    def _key_origin(url: str) -> str:
        p = urlsplit(url)
        return f"{p.scheme}://{p.netloc}".lower()

    def _mark_damaged(self) -> None:
        item = current_item.get()
        if item is not None:
            self.damaged[item] += 1

    def snapshot(self) -> list[BucketView]:
        """The buckets seen so far (aliases once), as the headers described them; safe to call from another
        thread (plain reads of numbers)."""
        now = self._clock()
        views, seen = [], set()
        for (_origin, name), b in list(self._buckets.items()):
            if id(b) in seen or (b.remaining is None and b.quota is None and b.paused_until <= now):
                continue
            seen.add(id(b))
            views.append(BucketView(name, b.remaining, b.quota, b.window, max(0.0, b.reset_at - now),
                                    max(0.0, b.paused_until - now)))
        return views

    # -- the one entry point Http.request uses ----------------------------------------------------------------------
    async def call(self, url: str, send: Callable[[], Awaitable[T]]) -> T:
        """Wait for an open bucket, send (Http's hooks acquire and observe), and on a 429 send the same
        request again after the back-off that observe() set, up to max_retries."""
        attempt = 0
        token = _retrying.set(True)
        try:
            while True:
                await self.wait_open(url)
                res = await send()
                if res.status != 429:
                    return res
                pause = self._bucket(url).paused_until - self._clock()
                if attempt >= self.max_retries or pause > self.max_wait_s:
                    self.stats.gave_up += 1
                    self._mark_damaged()
                    return res
                attempt += 1
                self.stats.retried += 1
        finally:
            _retrying.reset(token)
