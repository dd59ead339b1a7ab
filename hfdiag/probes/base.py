"""The probe interface. One module per probe; a probe gathers facts into its ProbeResult and never prints.

A probe may raise: the runner turns a timeout into status `timeout`, an HTTP/transport failure into `error`
with a precise message, and keeps every fact the probe recorded before it failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Protocol

from hfdiag.evidence.model import ProbeResult
from hfdiag.redact import Redactor


@dataclass
class CheckOptions:
    endpoint: str = "https://huggingface.co"
    token: str | None = None
    token_source: str | None = None
    timeout: float = 30.0  # global deadline for one Space
    wait: float = 0.0  # --wait: poll while the stage is intermediate
    restart: bool = False  # --restart: ask the Hub to restart the Space first (owner only; opt-in)
    wait_interval: float = 3.0
    route_requests: int = 4
    log_wait_s: float = 2.0  # --log-wait: longest wait for a live log line a rule needs (the route nonce)
    log_max_lines: int = 20000
    dns_server: str | None = None
    status_url: str | None = "https://status.huggingface.co/index.json"
    trust_env: bool = True  # honour HTTP(S)_PROXY etc.; off against the simulator
    zerogpu_call: str | None = None
    zerogpu_data: str | None = None
    settle_wait: float = 0.0
    transfer_file: str | None = None
    extra: dict = field(default_factory=dict)


class Progress(Protocol):
    def __call__(self, probe: str, state: str, message: str = "") -> None: ...


def no_progress(probe: str, state: str, message: str = "") -> None:
    return None


@dataclass
class ProbeContext:
    space_id: str
    options: CheckOptions
    http: Any  # hfdiag.probes.http.Http
    redactor: Redactor
    knowledge: Any  # hfdiag.engine.knowledge.KnowledgeBase
    results: dict[str, ProbeResult] = field(default_factory=dict)  # finished probes, by name
    shared: dict[str, Any] = field(default_factory=dict)  # structured data probes hand to later probes
    progress: Callable[[str, str, str], None] = no_progress
    # CPU work to do once the first requests are in flight (imports, loading the rules): the network wait of
    # the first round trip hides it, instead of it delaying the first request or the second wave.
    warmups: list[Callable[[], object]] = field(default_factory=list)

    def say(self, probe: str, message: str) -> None:
        self.progress(probe, "update", self.redactor.text(message))

    async def rules(self) -> Any:
        """The knowledge base, loaded (hfdiag.engine.lazy_knowledge): probes await it instead of blocking the loop
        while the warm-up thread loads it."""
        ready = getattr(self.knowledge, "ready", None)
        return await ready() if ready is not None else self.knowledge


class Probe(Protocol):
    name: ClassVar[str]
    after: ClassVar[tuple[str, ...]]  # probes that must finish first
    timeout: ClassVar[float]

    def enabled(self, ctx: ProbeContext) -> str | None:
        """None to run, or the reason it is skipped."""

    async def run(self, ctx: ProbeContext, result: ProbeResult) -> None: ...


class ProbeDenied(Exception):
    """The service refused (401/403): the probe ends with status `denied` and this message."""
