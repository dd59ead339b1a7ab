"""Answers that are the same for every Space of a scan (who the token belongs to, the status page, the lookups
of the fixed Hub and CDN host names): asked once per scan and awaited by every check, instead of once per Space against the Hub's rate limit.

`hfdiag scan` puts one `SharedCalls` in `CheckOptions.extra["shared_calls"]`; a single `check` has none, and
`shared_request` then simply makes the request."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, TypeVar

from hfdiag.probes.http import HttpFailure

T = TypeVar("T")


class SharedCalls:
    def __init__(self, http: Any):
        self.http = http  # a client of the scan's own, so no check's end closes a request others wait on
        self._tasks: dict[tuple, asyncio.Future] = {}

    async def request(self, method: str, url: str, **kwargs) -> Any:
        key = (method, url, tuple(sorted(kwargs.items())))
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(self.http.request(method, url, **kwargs))
            self._tasks[key] = task
        try:
            return await asyncio.shield(task)  # one check's deadline must not cancel the others' answer
        except HttpFailure:
            if self._tasks.get(key) is task:
                del self._tasks[key]  # a failure is shared by whoever waited for it, not by later Spaces
            raise

    async def once(self, key: tuple, make: Callable[[], Awaitable[T]], keep: Callable[[T], bool]) -> T:
        """`make()` once per scan for `key`, awaited by every check that asks; an answer `keep` refuses (a lookup
        nobody answered) is not kept, so the next Space asks again."""
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._tasks[key] = task
        try:
            value = await asyncio.shield(task)
        except Exception:
            if self._tasks.get(key) is task:
                del self._tasks[key]
            raise
        if not keep(value) and self._tasks.get(key) is task:
            del self._tasks[key]
        return value

    async def aclose(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self.http.aclose()


async def shared_request(ctx, method: str, url: str, **kwargs) -> Any:
    shared = ctx.options.extra.get("shared_calls")
    if shared is None:
        return await ctx.http.request(method, url, **kwargs)
    return await shared.request(method, url, **kwargs)
