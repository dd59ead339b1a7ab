"""The body of `hfdiag scan`: read the list -> (simulator) -> scan_spaces -> stream or collect -> exit status."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from pathlib import Path

from hfdiag.environment import Environment
from hfdiag.errors import UsageError
from hfdiag.exit_status import ExitStatus

MAX_LIST_BYTES = 16 * 1024 * 1024
SCAN_THREAD = "hfdiag-scan"
TICK_S = 0.1  # progress redraw
STOP_GRACE_S = 0.5  # after Ctrl-C, how long the cancelled scan may take to wind down


def _read_list(source: str | None, env: Environment) -> str | None:
    if source is None:
        return None
    if source == "-":
        return env.stdin.read(MAX_LIST_BYTES + 1)[:MAX_LIST_BYTES + 1]
    path = Path(source)
    try:
        if path.stat().st_size > MAX_LIST_BYTES:
            raise UsageError(f"{source}: larger than {MAX_LIST_BYTES // (1024 * 1024)} MiB")
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UsageError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{source}: is a directory") from None
    except OSError as e:
        raise UsageError(f"{source}: cannot read ({e.strerror})") from None


def run(a: dict) -> int:
    from hfdiag.cli.cmd_scan import SCAN_FORMATS
    from hfdiag.cli.target import refuse_if_offline, resolve_target, simulator
    from hfdiag.cli.validate import output_settings
    from hfdiag.engine.knowledge import load_knowledge
    from hfdiag.outcome import exit_status
    from hfdiag.probes.base import CheckOptions
    from hfdiag.ratelimit import RateLimiter
    from hfdiag.render import fleet
    from hfdiag.render.json_out import dumps
    from hfdiag.scan import ScanStats, parse_space_list, scan_spaces

    env = Environment()
    fmt = a["fmt"]
    threshold = output_settings(fmt, a["markdown_flavor"], a["fail_on"], SCAN_FORMATS)
    if a["timeout"] <= 0:
        raise UsageError("--timeout must be positive")
    if a["concurrency"] < 1 or a["route_requests"] < 1 or a["attempts"] < 1:
        raise UsageError("--concurrency, --route-requests and --attempts must be at least 1")
    if a["concurrency"] > 256:
        raise UsageError("--concurrency must be at most 256")
    if a["read_logs"] not in ("problems", "always"):
        raise UsageError("--read-logs must be problems or always")
    text = _read_list(a["source"], env)
    spaces = parse_space_list(text, "stdin" if a["source"] == "-" else str(a["source"])) if text is not None else None
    if spaces is None and not a["sim"]:
        raise UsageError("name a file with one Space id per line, or - for stdin")
    kb = load_knowledge(a["rules_dir"])

    out_fh = io.StringIO() if a["output"] else env.stdout
    out_env = Environment(stdout=out_fh, stderr=env.stderr, environ=env.environ, stdout_isatty=False)

    with simulator(a["sim"]) as sim:
        t = resolve_target(a, env.environ, sim, "owner")
        endpoint, tok, source, dns_server, status_url = t.endpoint, t.token, t.token_source, t.dns_server, t.status_url
        refuse_if_offline(env.environ, endpoint, sim, "scan")
        if sim is not None and spaces is None:
            spaces = list(sim.space_ids)
        if not spaces:
            raise UsageError("the list names no Space")
        options = CheckOptions(endpoint=endpoint, token=tok, token_source=source, timeout=a["timeout"],
                               route_requests=a["route_requests"], dns_server=dns_server, status_url=status_url,
                               trust_env=sim is None)
        statuses: list[ExitStatus] = []
        lock = threading.Lock()  # on_result runs in the scan's thread; the interrupted path writes from this one
        finished: list = []

        def on_result(_i, res) -> None:
            with lock:
                finished.append(res)
                statuses.append(exit_status(res.report, threshold))
                if fmt in ("json", "jsonl"):
                    out_fh.write(dumps(res.report, lines=True) + "\n")
                    out_fh.flush()
                elif fmt == "human":
                    out_fh.write(fleet.human_line(res.report) + "\n")
                    out_fh.flush()

        limiter = RateLimiter()
        progress = None
        if env.stderr_isatty and not a["quiet"] and env.environ.get("HFDIAG_NO_PROGRESS") != "1":
            from hfdiag.render.progress import ScanProgress

            progress = ScanProgress(env, len(spaces), limiter)
        started = time.monotonic()
        try:
            outcome = _run_stoppable(lambda: scan_spaces(spaces, options, kb, concurrency=a["concurrency"],
                                                         limiter=limiter, attempts=a["attempts"], on_result=on_result,
                                                         logs_on_problem=a["read_logs"] == "problems"),
                                     lambda: progress.update(len(finished)) if progress else None)
        finally:
            if progress is not None:
                progress.close()
    # after Ctrl-C the scan's thread may still be inside on_result: wait for it briefly, never forever
    locked = lock.acquire(timeout=STOP_GRACE_S)
    try:
        if outcome is not None:
            results, stats = outcome
        else:  # Ctrl-C: the Spaces finished so far, and the scan's figures up to now
            results = list(finished)
            stats = ScanStats(spaces=len(spaces), wall_s=time.monotonic() - started, concurrency=a["concurrency"],
                              rate=limiter.stats.to_dict(), interrupted=True)
        code = _finish(a, env, fmt, threshold, out_fh, out_env, spaces, results, stats, statuses)
    finally:
        if locked:
            lock.release()
    if outcome is None and _scan_thread_alive():
        # the scan's thread may sit in a blocking call (a resolver lookup): do not wait for it at exit
        env.stdout.flush()
        env.stderr.flush()
        os._exit(code)
    return code


def _run_stoppable(make_scan, tick):
    """Run the scan's event loop in its own thread, so that this (main) thread takes Ctrl-C at once, whatever
    the scan is waiting on (a closed rate-limit window can last minutes). Returns (results, stats), or None
    after Ctrl-C: the scan is cancelled and given STOP_GRACE_S to wind down."""
    box: dict = {}
    done = threading.Event()

    def target() -> None:
        async def main():
            box["loop"], box["task"] = asyncio.get_running_loop(), asyncio.current_task()
            return await make_scan()

        try:
            box["value"] = asyncio.run(main())
        except asyncio.CancelledError:
            pass
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            box["error"] = e
        finally:
            done.set()

    thread = threading.Thread(target=target, name=SCAN_THREAD, daemon=True)
    thread.start()
    try:
        while not done.wait(TICK_S):  # the tick only redraws the progress; `done` is the synchronisation
            tick()
    except KeyboardInterrupt:
        loop, task = box.get("loop"), box.get("task")
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)
        done.wait(STOP_GRACE_S)
        return None
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _scan_thread_alive() -> bool:
    return any(t.name == SCAN_THREAD and t.is_alive() for t in threading.enumerate())


def _finish(a, env, fmt, threshold, out_fh, out_env, spaces, results, stats, statuses) -> int:
    from hfdiag.outcome import combined, exit_status
    from hfdiag.render import fleet
    from hfdiag.render.openmetrics import to_openmetrics, to_prometheus

    reports = [r.report for r in results]
    st = stats.to_dict()
    if fmt in ("openmetrics", "prometheus"):
        failing = [exit_status(r, threshold) == ExitStatus.FINDING for r in reports]
        out_fh.write((to_openmetrics if fmt == "openmetrics" else to_prometheus)(reports, failing, st))
    elif fmt == "markdown":
        out_fh.write(fleet.markdown_table(reports, st))
    elif fmt == "github":
        fleet.render_github(reports, out_env, st)
    out_fh.flush()
    if a["output"]:
        _write_atomic(a["output"], out_fh.getvalue())
    if not a["quiet"]:
        rate = st["rate_limit"]
        env.message(
            f"hfdiag: scanned {len(reports)} of {len(spaces)} Spaces in {st['wall_s']:.1f}s "
            f"(concurrency {st['concurrency']}, peak {st['peak_active']}): {fleet.counts_line(reports) or 'nothing'}; "
            f"Hub rate limit: {rate['throttled']} × 429, {rate['retried']} retried, {rate['gave_up']} given up, "
            f"waited {rate['paused_s']:.1f}s; re-checked {st['rechecked']} Spaces; "
            f"{st['hub_calls']} Hub calls ({st['hub_calls_per_space']:.2f} per Space; "
            f"{st['listing'].get('from_listing', 0)} infos from {st['listing'].get('listing_calls', 0)} listing calls; "
            f"logs not read for {st['logs_not_read']} healthy Spaces)")
    if stats.interrupted:
        env.message("hfdiag: interrupted: the results above cover the Spaces finished before Ctrl-C")
        return int(ExitStatus.INTERRUPTED)
    return int(combined(statuses))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise UsageError(f"--output {path}: cannot write ({e.strerror})") from None
