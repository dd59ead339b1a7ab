"""The built-in rules behind a handle that loads them on first use. Light to import: `check` creates the handle
before its first request and warms it up while that request is in flight."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hfdiag.engine.knowledge import KnowledgeBase


class LazyKnowledge:
    """The built-in rules, loaded on first use (`check` warms it up while its first requests are in flight).
    Attribute access is delegated, so probes use it like a KnowledgeBase."""

    def __init__(self, rules_dir: str | Path | None = None):
        self._rules_dir = rules_dir
        self._kb: KnowledgeBase | None = None
        self._lock = threading.Lock()  # the warm-up thread and a probe may ask at once: one load

    def get(self) -> KnowledgeBase:
        if self._kb is None:
            with self._lock:
                if self._kb is None:
                    from hfdiag.engine.knowledge import load_knowledge

                    self._kb = load_knowledge(self._rules_dir)
        return self._kb

    async def ready(self) -> KnowledgeBase:
        """The rules, from async code: a load still under way is waited for in a worker thread, so the event
        loop (and the run's deadline) keeps running meanwhile."""
        if self._kb is None:
            import asyncio

            await asyncio.get_running_loop().run_in_executor(None, self.get)
        return self.get()

    def __getattr__(self, name: str):
        return getattr(self.get(), name)
