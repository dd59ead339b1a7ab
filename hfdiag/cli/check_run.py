"""The body of `hfdiag check`: options -> (simulator) -> probes -> reports, bundles and an exit status."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hfdiag import STARTED, tls
from hfdiag.environment import Environment
from hfdiag.errors import UsageError
from hfdiag.exit_status import ExitStatus

if TYPE_CHECKING:
    from hfdiag.cli.early_check import EarlyStart

SIM_ROLES = ("owner", "other", "pro", "anonymous")  # the simulator's callers (hfdiag/sim/state.py USERS)
REPORT_RESERVE_S = 0.5  # diagnosis, rendering and exit after the probes' deadline


def _bundle_path(base: Path, space_id: str, many: bool) -> Path:
    if not many:
        return base
    return base.with_name(f"{base.stem}-{space_id.replace('/', '--')}{base.suffix or '.json'}")


def _check_values(a: dict) -> None:
    """The checks typer does not do (ranges, combinations), before anything runs."""
    for name in ("timeout", "wait", "settle_wait", "log_wait"):
        if a[name] is not None and a[name] < 0:
            raise UsageError(f"--{name.replace('_', '-')} must not be negative")
    if a["timeout"] <= 0:
        raise UsageError("--timeout must be positive")
    if a["concurrency"] < 1 or a["route_requests"] < 1:
        raise UsageError("--concurrency and --route-requests must be at least 1")
    if a["sim_as"] not in SIM_ROLES:
        raise UsageError("--sim-as must be " + ", ".join(SIM_ROLES[:-1]) + " or " + SIM_ROLES[-1])
    if a["zerogpu_data"] is not None:
        try:
            data = json.loads(a["zerogpu_data"])
        except ValueError:
            raise UsageError("--zerogpu-data must be JSON (a list of inputs)") from None
        if not isinstance(data, list):
            raise UsageError("--zerogpu-data must be a JSON list")
    if a["zerogpu_data"] is not None and not a["zerogpu_call"]:
        raise UsageError("--zerogpu-data goes with --zerogpu-call")


def _on_loop(fn):
    """`fn`, run on the running loop's thread whoever calls it: typer's check (EarlyStart.confirm) runs in the
    warm-up thread. Once the loop is closed, directly."""
    loop = asyncio.get_running_loop()

    def call() -> None:
        try:
            loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop is closed
            fn()
    return call


def _progress_factory(env: Environment, quiet: bool, many: bool, early: EarlyStart | None, opened: list):
    """Progress per Space on stderr (none when quiet). An early run holds it back until typer agreed."""
    from hfdiag.render.progress import HeldProgress, make_progress

    quiet = quiet or os.environ.get("HFDIAG_NO_PROGRESS") == "1"

    def progress_for(sid: str):
        prefix = f"{sid} " if many else ""
        if quiet:
            return None
        if early is not None and not early.agreed:
            p = HeldProgress(lambda: make_progress(env, quiet, prefix))
            early.on_agreed.append(_on_loop(p.release))
            if early.agreed:  # typer agreed meanwhile (in the warm-up thread), maybe before the hook was added
                p.release()
        else:
            p = make_progress(env, quiet, prefix)
        opened.append(p)
        return p

    return progress_for


def _write_reports(path: Path, reports: list[dict], many: bool) -> None:
    """--report: the JSON report beside any --format (the GitHub Action reads its outputs from it)."""
    from hfdiag.render.json_out import dumps

    text = "".join(dumps(r, lines=True) + "\n" for r in reports) if many else dumps(reports[0]) + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--report {path}: cannot write ({e.strerror})") from None


def run(a: dict, early: EarlyStart | None = None) -> int:
    """`a`: the command's parameters. `early`: set when the probes start before typer parsed the command line
    (early_check.py); the run then raises Refused, having printed nothing, unless typer agrees with `a`."""
    from hfdiag.check import check_many, validate_space_id
    from hfdiag.cli.early_check import Refused
    from hfdiag.cli.emit import emit
    from hfdiag.cli.target import is_loopback_url, refuse_if_offline, resolve_target, simulator
    from hfdiag.cli.validate import output_settings
    from hfdiag.engine.lazy_knowledge import LazyKnowledge
    from hfdiag.outcome import combined, exit_status
    from hfdiag.probes.base import CheckOptions

    env = Environment()
    fmt = a["fmt"]
    threshold = output_settings(fmt, a["markdown_flavor"], a["fail_on"])
    _check_values(a)
    # User rules are validated before anything runs; the built-in ones load while the first requests fly.
    if a["rules_dir"]:
        from hfdiag.engine.knowledge import load_knowledge

        kb = load_knowledge(a["rules_dir"])
    else:
        kb = LazyKnowledge()

    with simulator(a["sim"]) as sim:
        spaces = list(a["spaces"] or [])
        if not spaces and sim is not None:
            spaces = [sim.space_ids[0]]
        if not spaces:
            raise UsageError("name at least one Space (owner/name)")
        spaces = [validate_space_id(s) for s in spaces]
        t = resolve_target(a, env.environ, sim, a["sim_as"])
        endpoint, token, source, dns_server, status_url = t.endpoint, t.token, t.token_source, t.dns_server, t.status_url
        refuse_if_offline(env.environ, endpoint, sim, "check")
        # a loopback endpoint (simulator, local mirror) is treated like --sim: no proxy variables, and the DNS
        # probe asks only a loopback --dns-server, so nothing leaves the machine
        trust_env = sim is None and not is_loopback_url(endpoint)
        tls.prepare(trust_env)  # the CA store loads in a thread while the HTTP stack is imported
        # --timeout bounds the whole command: start-up (and a --sim start) already spent part of it, and the
        # report needs a moment after the probes stop. The probes never get less than half of it.
        total = a["timeout"] + a["wait"] + (a["settle_wait"] if a["zerogpu_call"] else 0.0)
        deadline = max(total * 0.5, total - (time.monotonic() - STARTED) - REPORT_RESERVE_S)
        options = CheckOptions(
            endpoint=endpoint, token=token, token_source=source, timeout=deadline,
            wait=a["wait"], restart=a["restart"], route_requests=a["route_requests"], dns_server=dns_server, status_url=status_url,
            trust_env=trust_env,
            zerogpu_call=a["zerogpu_call"], zerogpu_data=a["zerogpu_data"],
            settle_wait=a["settle_wait"], transfer_file=a["transfer_file"], log_wait_s=a["log_wait"],
        )
        options.extra["timeout_flag"] = total
        many = len(spaces) > 1
        progress_objs: list = []
        progress_for = _progress_factory(env, a["quiet"], many, early, progress_objs)

        async def probing():
            first_wave = []
            if early is not None:
                early.on_refused.append(_on_loop(asyncio.current_task().cancel))
                first_wave.append(early.confirm)
            return await check_many(spaces, options, kb, a["concurrency"], progress_for, first_wave=first_wave)

        try:
            results = asyncio.run(probing())
            if early is not None and not early.confirm():  # not asked yet if the probes ended at once
                raise Refused
        except asyncio.CancelledError:
            if early is not None and early.agreed is False:
                raise Refused from None
            raise
        finally:
            for p in progress_objs:
                p.close()

    statuses = []
    for res in results:
        emit(res.report, env, fmt, markdown_flavor=a["markdown_flavor"], verbose=a["verbose"], lines=many)
        if a["bundle"]:
            path = _bundle_path(a["bundle"], res.space_id, many)
            try:
                res.bundle.write(path)
            except OSError as e:
                raise UsageError(f"--bundle {path}: cannot write ({e.strerror})") from None
            env.message(f"hfdiag: evidence bundle written to {path} (replay: hfdiag explain {path})")
        statuses.append(exit_status(res.report, threshold))
    if a.get("report"):
        _write_reports(a["report"], [res.report for res in results], many)
    if any(r.interrupted for r in results):
        env.message("hfdiag: interrupted: the report above holds what was gathered before Ctrl-C")
        return int(ExitStatus.INTERRUPTED)
    return int(combined(statuses))
