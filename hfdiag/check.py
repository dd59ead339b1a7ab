"""`hfdiag check` as a library: probe one or several Spaces concurrently, diagnose, build reports and bundles."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import re
import signal
import threading
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING

from hfdiag.attribution import set_aside_visitor_calls
from hfdiag.engine.lazy_knowledge import LazyKnowledge
from hfdiag.errors import UsageError
from hfdiag.evidence.model import Fact, FactSet, ProbeResult
from hfdiag.probes.base import CheckOptions, ProbeContext
from hfdiag.redact import Redactor

if TYPE_CHECKING:
    from hfdiag.engine.knowledge import KnowledgeBase
    from hfdiag.evidence.bundle import Bundle

# What diagnosis and reporting need once the probes end: imported while the first requests are in flight.
_AFTER_PROBES = ("hfdiag.engine.verdict", "hfdiag.report", "hfdiag.coverage")

SPACE_ID_RX = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")


def validate_space_id(space_id: str) -> str:
    sid = space_id.strip()
    for prefix in ("https://huggingface.co/spaces/", "huggingface.co/spaces/", "spaces/"):
        if sid.startswith(prefix):
            sid = sid[len(prefix):].strip("/")
    if not SPACE_ID_RX.match(sid) or "--" in sid or ".." in sid or sid.endswith(".git"):
        raise UsageError(f"{space_id!r} is not a Space id (expected owner/name)")
    return sid


@dataclass
class CheckResult:
    space_id: str
    probes: list[ProbeResult]
    report: dict
    redactor: Redactor
    run_facts: list[Fact] = field(default_factory=list)  # facts about the run itself (_post_facts)
    interrupted: bool = False
    requests_sent: int = 0
    extra: dict = field(default_factory=dict)

    @functools.cached_property
    def bundle(self) -> Bundle:
        """The redacted evidence bundle, built when asked for (--bundle), not on every run."""
        from hfdiag.evidence.bundle import Bundle

        bundle = Bundle(target=self.space_id, probes=self.probes, facts=self.run_facts)
        return Bundle.from_dict(self.redactor.obj(bundle.to_dict()))


def _post_facts(results: list[ProbeResult]) -> list[Fact]:
    """Facts about the run itself: which evidence was unreachable and why."""
    from hfdiag.probes.logs import NOT_READ as LOGS_NOT_READ  # imported by the probes already

    out = []
    logs = next((r for r in results if r.probe == "logs"), None)
    if logs is not None and logs.status == "skipped" and "owner's token" in (logs.error or ""):
        out.append(Fact("logs.need_owner_token", True, "probe:logs", "observed"))
    if logs is not None and logs.status == "skipped" and logs.error == LOGS_NOT_READ:
        out.append(Fact("logs.not_read_healthy", True, "probe:logs", "observed"))  # scan's log policy
    return out


async def check_space(space_id: str, options: CheckOptions, kb: KnowledgeBase, progress=None,
                      interrupted: asyncio.Event | None = None, warmups=()) -> CheckResult:
    from hfdiag.probes.http import Http
    from hfdiag.probes.registry import load_probes
    from hfdiag.probes.runner import run_probes

    redactor = Redactor([options.token] if options.token else [])
    http = Http(options.endpoint, options.token, trust_env=options.trust_env,
                limiter=options.extra.get("limiter"))  # a shared hfdiag.ratelimit.RateLimiter (scan)
    ctx = ProbeContext(space_id=space_id, options=options, http=http, redactor=redactor, knowledge=kb,
                       progress=progress or (lambda *a: None))
    probes = load_probes()
    if isinstance(kb, LazyKnowledge):  # first: the probes' scans and the diagnosis need it, typer's check only the output
        ctx.warmups.append(lambda: kb.get().signatures.prepare())  # rules, then the scan's prefilter
    ctx.warmups.extend(warmups)
    ctx.warmups += [lambda m=m: import_module(m) for m in _AFTER_PROBES]
    watcher = None
    if interrupted is not None:
        async def watch() -> None:
            await interrupted.wait()
            ctx.shared["_interrupted"] = True
            for t in asyncio.all_tasks():
                if t.get_name().startswith("probe:"):
                    t.cancel()
        watcher = asyncio.create_task(watch())
    try:
        results = await run_probes(probes, ctx, options.timeout)
    finally:
        if watcher:
            watcher.cancel()
        await http.aclose()
    set_aside_visitor_calls(results)  # another visitor's ZeroGPU call in the run log is not this check's
    facts = FactSet()
    for r in results:
        facts.update(r.facts)
    extra_facts = _post_facts(results)
    facts.update(extra_facts)
    no_evidence = _no_evidence_reason(space_id, results, facts, bool(options.token))
    from hfdiag.engine.verdict import diagnose
    from hfdiag.report import build_report

    if isinstance(kb, LazyKnowledge):
        kb = await kb.ready()  # the warm-up thread may still be loading it
    diagnosis = diagnose(kb, facts, no_evidence_reason=no_evidence)
    if diagnosis.verdict.bucket == "healthy" and facts.get("logs.not_read_healthy"):
        # what only the logs show (the nonce, an outbound failure the app logs) was not looked at: not confident
        diagnosis.verdict.confidence = "low"
        diagnosis.verdict.summary += (" The logs were not read (a scan opens them only where the stage or the "
                                      f"route shows a problem): `hfdiag check {space_id}` reads them.")
        diagnosis.verdict.raise_confidence.append(
            f"read the logs: `hfdiag check {space_id}` (or `scan --read-logs always`)")
    _requested_call_missing(diagnosis.verdict, options, results)
    report = build_report(diagnosis, mode="check", target=space_id, redactor=redactor, probes=results)
    return CheckResult(space_id, results, report, redactor, extra_facts, bool(ctx.shared.get("_interrupted")),
                       http.requests_sent)


def _requested_call_missing(verdict, options: CheckOptions, results: list[ProbeResult]) -> None:
    """`--zerogpu-call` asks for the queue to be exercised: a healthy verdict without that call having completed
    (skipped, timed out, answered an error) covers less than the user asked for, so it is not confident."""
    if not options.zerogpu_call or verdict.bucket != "healthy":
        return
    probe = next((r for r in results if r.probe == "zerogpu"), None)
    if probe is not None and probe.status == "ok" and not probe.error:
        return
    why = (probe.error if probe is not None else None) or "the ZeroGPU probe did not run"
    verdict.confidence = "low"
    verdict.summary += (f" The call asked for with --zerogpu-call did not complete ({why}): the queue path is not "
                        "covered by this verdict.")
    verdict.raise_confidence.append("make the queued call complete (a Gradio Space with the API named by "
                                    "--zerogpu-call, a --timeout longer than the call) and check again")


def _no_evidence_reason(space_id: str, results: list[ProbeResult], facts: FactSet, token: bool) -> str | None:
    """The verdict line when no rule can conclude: a Space the Hub does not show gets its own clear sentence."""
    space = next((r for r in results if r.probe == "space"), None)
    if facts.get("space.exists") is False:
        code = (space.error or "").partition("(404 ")[2].rstrip(")") or "RepoNotFound"
        who = "the token used cannot see it" if token else "no token was given"
        return (f"Space {space_id} was not found (404 {code}): it does not exist, it is private and {who}, or the "
                "id is misspelled (owner/name, as in the Space URL). Check the id, or run with the owner's token.")
    if space is not None and space.status == "denied" and facts.get("space.api_status") == 401 and not token:
        return (f"Space {space_id} is not visible without a token (401): it does not exist or it is private. "
                "Run with a token (HF_TOKEN) that can see it.")
    if all(r.status != "ok" for r in results if r.probe in ("space", "route")):
        return "Neither the Hub API nor the Space origin gave usable evidence (see the probe errors)."
    return None


class DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor (getaddrinfo runs there): each call in its own daemon thread, and shutdown
    does not wait. A system resolver that never answers then cannot hold the process past the deadline:
    `asyncio.run` waits for the default executor on exit, and pool threads are joined at interpreter exit."""

    def submit(self, fn, /, *args, **kwargs):
        fut: concurrent.futures.Future = concurrent.futures.Future()

        def work() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn(*args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - handed to the awaiting coroutine
                fut.set_exception(e)

        threading.Thread(target=work, name="hfdiag-blocking", daemon=True).start()
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


async def check_many(space_ids: list[str], options: CheckOptions, kb: KnowledgeBase, concurrency: int = 4,
                     progress_for=None, on_result=None, first_wave=()) -> list[CheckResult]:
    """Check several Spaces concurrently under a bound; results come back in input order. `first_wave`: jobs
    run once, while the first Space's first requests are in flight (see ProbeContext.warmups)."""
    pending = list(first_wave)
    if len(space_ids) > 1:
        # Many Spaces at once can use up the file descriptors (ulimit -n) while their requests are in flight; a
        # module first imported then would fail the whole run. One Space keeps the overlap of warm-up and I/O.
        for module in _AFTER_PROBES:
            import_module(module)
        if isinstance(kb, LazyKnowledge):
            kb.get()
    sem = asyncio.Semaphore(max(1, concurrency))
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_default_executor(DaemonExecutor(max_workers=1))
    try:
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    except (NotImplementedError, RuntimeError, ValueError):
        pass

    async def one(sid: str) -> CheckResult:
        async with sem:
            jobs, pending[:] = pending[:], []
            res = await check_space(sid, options, kb, progress_for(sid) if progress_for else None, interrupted,
                                    warmups=jobs)
            if on_result:
                on_result(res)
            return res

    try:
        return list(await asyncio.gather(*(one(s) for s in space_ids)))
    finally:
        try:
            loop.remove_signal_handler(signal.SIGINT)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
