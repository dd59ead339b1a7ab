"""From a thread URL to an explain input: fetch (per service, with its own token policy), then turn posts into
weighted text parts for `hfdiag.explain.read_parts` — the engine `hfdiag explain` runs on pasted text.

Weights: the title and the first post are the report; a maintainer's reply is evidence too (it may name the
cause); every other reply is context, which only fills in what the evidence left open."""

from __future__ import annotations

import time

from hfdiag.engine.knowledge import KnowledgeBase
from hfdiag.evidence.model import ProbeResult
from hfdiag.explain import CONTEXT_WEIGHT, EVIDENCE_WEIGHT, ExplainInput, TextPart, read_parts
from hfdiag.threads.model import Thread
from hfdiag.threads.urls import ThreadRef, github_api_base


def thread_parts(thread: Thread) -> list[TextPart]:
    parts = [TextPart("title", thread.title)] if thread.title else []
    for post in thread.posts:
        evidence = post.number == 1 or post.maintainer
        parts.append(TextPart(post.source, post.text, EVIDENCE_WEIGHT if evidence else CONTEXT_WEIGHT,
                              post.maintainer))
    return parts


def thread_input(thread: Thread, kb: KnowledgeBase, duration_ms: float = 0.0) -> ExplainInput:
    probe = ProbeResult("thread", "ok", duration_ms, detail=thread.summary())
    return read_parts(thread.url, thread_parts(thread), kb, probe)


class Services:
    """One HTTP client per service, each with its own token: the Hub's token to the Hub endpoint only,
    GITHUB_TOKEN to the GitHub API base only, nothing to a forum."""

    def __init__(self, hub_endpoint: str, hub_token: str | None, environ, trust_env: bool = True):
        self.hub_endpoint, self.hub_token, self.environ, self.trust_env = hub_endpoint, hub_token, environ, trust_env
        self._clients: dict = {}

    def _client(self, base: str, token: str | None, limiter=None):
        from hfdiag.threads.fetch import client

        key = (base, token)
        if key not in self._clients:
            self._clients[key] = client(base, token, self.trust_env, limiter)
        return self._clients[key]

    def hub(self):
        from hfdiag.ratelimit import RateLimiter  # the Hub's RateLimit headers and 429s, as in `scan`

        return self._client(self.hub_endpoint, self.hub_token, RateLimiter())

    def github(self):
        return self._client(github_api_base(self.environ), (self.environ.get("GITHUB_TOKEN") or "").strip() or None)

    def forum(self, origin: str):
        return self._client(origin, None)

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.aclose()

    def secrets(self) -> list[str]:
        return [t for t in (self.hub_token, self.environ.get("GITHUB_TOKEN")) if t]


async def fetch_thread(ref: ThreadRef, services: Services) -> Thread:
    if ref.kind == "hub":
        from hfdiag.threads.hub import read_discussion

        return await read_discussion(services.hub(), ref.repo_type, ref.repo, ref.number)
    if ref.kind == "github":
        from hfdiag.threads.github import read_issue

        return await read_issue(services.github(), ref.repo, ref.number, ref.url)
    from hfdiag.threads.discourse import read_raw, read_topic

    http = services.forum(ref.origin)
    return await (read_raw if ref.raw else read_topic)(http, ref.number, ref.url)


async def read_thread_input(ref: ThreadRef, services: Services, kb: KnowledgeBase) -> ExplainInput:
    start = time.monotonic()
    thread = await fetch_thread(ref, services)
    return thread_input(thread, kb, (time.monotonic() - start) * 1000)


def services_for(endpoint: str | None, token: str | None, environ) -> Services:
    """The services of a command line: --endpoint / HF_ENDPOINT and the Hub token chain, GITHUB_* variables."""
    from hfdiag.auth import find_token
    from hfdiag.errors import UsageError

    hub = (endpoint or environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    if not hub.startswith(("http://", "https://")):
        raise UsageError(f"--endpoint {hub!r}: expected an http(s) URL")
    hub_token, _ = find_token(token, environ)
    return Services(hub, hub_token, environ)


def read_thread_inputs(urls: list[str], kb: KnowledgeBase, services: Services) -> dict[str, ExplainInput]:
    """Every thread URL of a command line, read in one event loop (in order; an error names its URL)."""
    import asyncio

    from hfdiag.threads.urls import parse_thread_url

    refs = {u: parse_thread_url(u, services.hub_endpoint, services.environ) for u in urls}

    async def main() -> dict[str, ExplainInput]:
        try:
            return {u: await read_thread_input(ref, services, kb) for u, ref in refs.items()}
        finally:
            await services.aclose()

    return asyncio.run(main())
