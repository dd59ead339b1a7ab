"""Runs probes concurrently in their small dependency order, each under its own timeout and all under one
global deadline. A failing or hanging probe never takes the others down; what it gathered stays."""

from __future__ import annotations

import asyncio
import threading
import time

from hfdiag.evidence.model import ProbeResult
from hfdiag.probes.base import Probe, ProbeContext, ProbeDenied
from hfdiag.probes.http import HttpFailure


async def _run_one(probe: Probe, ctx: ProbeContext, result: ProbeResult, budget: float) -> None:
    start = time.monotonic()
    ctx.progress(probe.name, "start", "")
    limit = max(0.05, min(probe.timeout, budget))
    try:
        await asyncio.wait_for(probe.run(ctx, result), limit)
        if result.status == "ok" and result.error:  # finished, but part of its evidence failed: not "ok"
            result.status = "error"
    except asyncio.TimeoutError:
        result.status = "timeout"
        result.error = result.error or f"no complete answer within {limit:.1f}s"
        if ctx.shared.get(f"{probe.name}.step"):
            result.error += f" (while {ctx.shared[f'{probe.name}.step']})"
    except ProbeDenied as e:
        result.status = "denied"
        result.error = str(e)
    except HttpFailure as e:
        result.status = "timeout" if e.kind == "timeout" else "error"
        result.error = str(e)
    except asyncio.CancelledError:
        if ctx.shared.get("_interrupted"):
            result.status, result.error = "error", "interrupted (Ctrl-C) before it finished"
        else:
            result.status = "timeout"
            flag = ctx.options.extra.get("timeout_flag", ctx.options.timeout)
            result.error = f"stopped at the global deadline (--timeout {flag:g}s)"
            if ctx.shared.get(f"{probe.name}.step"):
                result.error += f" while {ctx.shared[f'{probe.name}.step']}"
        raise
    except Exception as e:  # a bug in a probe is reported as that probe's error, not a crash of the run
        result.status = "error"
        result.error = f"internal error in probe: {type(e).__name__}: {e}"
    finally:
        result.duration_ms = (time.monotonic() - start) * 1000
        if result.error:
            result.error = ctx.redactor.text(result.error)[:500]
        result.excerpts = [ctx.redactor.text(x)[:500] for x in result.excerpts]
        ctx.results[probe.name] = result
        ctx.progress(probe.name, "done", result.status + (f": {result.error}" if result.error else ""))


# Warm-ups run once the first wave of requests has been written (Http.when_all_written): CPU work then overlaps
# the first round trip instead of delaying a request. On a slow network that takes a few round trips (TCP, TLS);
# if it never comes (a host that does not answer its connect), they run after this delay anyway.
WARMUP_FALLBACK_S = 1.0


def _warm_up(ctx: ProbeContext) -> None:
    """Start the warm-ups in a daemon thread, in order. On the loop they blocked it (rules, typer: ~0.3 s of CPU,
    seconds on a loaded machine): the deadline's timer could not fire and the probes' answers waited."""
    jobs, ctx.warmups[:] = list(ctx.warmups), []
    if jobs:
        threading.Thread(target=_run_jobs, args=(jobs,), name="hfdiag-warm-up", daemon=True).start()


def _run_jobs(jobs) -> None:
    for job in jobs:
        try:
            job()
        except Exception:  # a warm-up only saves time; whoever needs the result meets the error itself
            pass


async def run_probes(probes: list[Probe], ctx: ProbeContext, deadline_s: float) -> list[ProbeResult]:
    """Run every probe once its `after` probes finished (or were skipped). Returns results in probe order."""
    loop = asyncio.get_running_loop()
    t_end = loop.time() + deadline_s
    results = {p.name: ProbeResult(p.name) for p in probes}
    queued = len(ctx.warmups)
    for p in probes:
        prepare = getattr(p, "prepare", None)
        if prepare is not None:
            prepare(ctx)
    # The probes' own warm-ups (dnspython for the route and DNS probes) are needed at the first answer, the rules
    # and typer's check only once the logs are scanned and the report printed: the probes' go first.
    ctx.warmups[:] = ctx.warmups[queued:] + ctx.warmups[:queued]
    done_events = {p.name: asyncio.Event() for p in probes}
    names = set(done_events)

    async def guarded(p: Probe) -> None:
        try:
            for dep in p.after:
                if dep in names:
                    await done_events[dep].wait()
            more = getattr(p, "after_also", None)  # dependencies known once `after` finished (the logs in a scan)
            for dep in more(ctx) if more is not None else ():
                if dep in names:
                    await done_events[dep].wait()
            reason = p.enabled(ctx)
            if reason:
                results[p.name].status = "skipped"
                results[p.name].error = reason
                ctx.results[p.name] = results[p.name]
                ctx.progress(p.name, "done", f"skipped: {reason}")
                return
            await _run_one(p, ctx, results[p.name], t_end - loop.time())
        finally:
            done_events[p.name].set()

    tasks = [asyncio.create_task(guarded(p), name=f"probe:{p.name}") for p in probes]
    if ctx.warmups:
        fallback = loop.call_later(WARMUP_FALLBACK_S, _warm_up, ctx)
        ctx.http.when_all_written(lambda: (fallback.cancel(), loop.call_soon(_warm_up, ctx)))
    try:
        await asyncio.wait(tasks, timeout=max(0.05, t_end - loop.time()))
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for p in probes:
        r = results[p.name]
        if p.name not in ctx.results:  # never started: its dependencies ran out the clock
            r.status = "timeout"
            r.error = r.error or "not started before the global deadline"
    return [results[p.name] for p in probes]
