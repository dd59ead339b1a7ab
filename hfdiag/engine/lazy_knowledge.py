"""The built-in rules behind a handle that loads them on first use. Light to import: `check` creates the handle
before its first request and warms it up while that request is in flight."""

from __future__ import annotations

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

    def get(self) -> KnowledgeBase:
        if self._kb is None:
            from hfdiag.engine.knowledge import load_knowledge

            self._kb = load_knowledge(self._rules_dir)
        return self._kb

    def __getattr__(self, name: str):
        return getattr(self.get(), name)
