"""The body of `hfdiag check`: options -> (simulator) -> probes -> reports, bundles and an exit status."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from hfdiag import STARTED
from hfdiag.environment import Environment
from hfdiag.errors import UsageError
from hfdiag.exit_status import ExitStatus

REPORT_RESERVE_S = 0.5  # diagnosis, rendering and exit after the probes' deadline


def _bundle_path(base: Path, space_id: str, many: bool) -> Path:
    if not many:
        return base
    return base.with_name(f"{base.stem}-{space_id.replace('/', '--')}{base.suffix or '.json'}")


def run(a: dict) -> int:
    from hfdiag.check import check_many, validate_space_id
    from hfdiag.cli.emit import emit
    from hfdiag.cli.options import output_settings
    from hfdiag.cli.target import resolve_target, simulator
    from hfdiag.engine.knowledge import LazyKnowledge, load_knowledge
    from hfdiag.outcome import combined, exit_status
    from hfdiag.probes.base import CheckOptions
    from hfdiag.probes.http import is_loopback_url
    from hfdiag.render.progress import make_progress

    env = Environment()
    fmt = a["fmt"]
    threshold = output_settings(fmt, a["markdown_flavor"], a["fail_on"])
    for name in ("timeout", "wait", "settle_wait"):
        if a[name] is not None and a[name] < 0:
            raise UsageError(f"--{name.replace('_', '-')} must not be negative")
    if a["timeout"] <= 0:
        raise UsageError("--timeout must be positive")
    if a["concurrency"] < 1 or a["route_requests"] < 1:
        raise UsageError("--concurrency and --route-requests must be at least 1")
    if a["sim_as"] not in ("owner", "other", "anonymous"):
        raise UsageError("--sim-as must be owner, other or anonymous")
    if a["zerogpu_data"] is not None:
        try:
            data = json.loads(a["zerogpu_data"])
        except ValueError:
            raise UsageError("--zerogpu-data must be JSON (a list of inputs)") from None
        if not isinstance(data, list):
            raise UsageError("--zerogpu-data must be a JSON list")
    if a["zerogpu_data"] is not None and not a["zerogpu_call"]:
        raise UsageError("--zerogpu-data goes with --zerogpu-call")
    # User rules are validated before anything runs; the built-in ones load while the first requests fly.
    kb = load_knowledge(a["rules_dir"]) if a["rules_dir"] else LazyKnowledge()

    with simulator(a["sim"]) as sim:
        spaces = list(a["spaces"] or [])
        if not spaces and sim is not None:
            spaces = [sim.space_ids[0]]
        if not spaces:
            raise UsageError("name at least one Space (owner/name)")
        spaces = [validate_space_id(s) for s in spaces]
        t = resolve_target(a, env.environ, sim, a["sim_as"])
        endpoint, token, source, dns_server, status_url = t.endpoint, t.token, t.token_source, t.dns_server, t.status_url
        # --timeout bounds the whole command: start-up (and a --sim start) already spent part of it, and the
        # report needs a moment after the probes stop. The probes never get less than half of it.
        total = a["timeout"] + a["wait"] + (a["settle_wait"] if a["zerogpu_call"] else 0.0)
        deadline = max(total * 0.5, total - (time.monotonic() - STARTED) - REPORT_RESERVE_S)
        options = CheckOptions(
            endpoint=endpoint, token=token, token_source=source, timeout=deadline,
            wait=a["wait"], restart=a["restart"], route_requests=a["route_requests"], dns_server=dns_server, status_url=status_url,
            # a loopback endpoint (simulator, local mirror) is treated like --sim: no proxy variables, and the DNS
            # probe asks only a loopback --dns-server, so nothing leaves the machine
            trust_env=sim is None and not is_loopback_url(endpoint),
            zerogpu_call=a["zerogpu_call"], zerogpu_data=a["zerogpu_data"],
            settle_wait=a["settle_wait"], transfer_file=a["transfer_file"],
        )
        options.extra["timeout_flag"] = total
        many = len(spaces) > 1
        progress_objs = []

        def progress_for(sid: str):
            p = make_progress(env, a["quiet"] or os.environ.get("HFDIAG_NO_PROGRESS") == "1",
                              prefix=f"{sid} " if many else "")
            if p is not None:
                progress_objs.append(p)
            return p

        try:
            results = asyncio.run(check_many(spaces, options, kb, a["concurrency"], progress_for))
        except KeyboardInterrupt:
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
    if any(r.interrupted for r in results):
        env.message("hfdiag: interrupted: the report above holds what was gathered before Ctrl-C")
        return int(ExitStatus.INTERRUPTED)
    return int(combined(statuses))
