"""Log streams end on evidence, not on a timer: the replay of the server's buffer is read whole (even when it
stalls mid-event), a silent stream ends as an empty replay, lines stamped after the connection opened count as
live, and only the route request's nonce is waited for live, at most --log-wait seconds."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from conftest import run_cli

from hfdiag.engine.knowledge import load_knowledge
from hfdiag.probes.base import CheckOptions, ProbeContext
from hfdiag.probes.http import Http
from hfdiag.probes.logs import (
    LOG_FIRST_EVENT_S,
    LOG_SETTLE_MIN_S,
    ONE_FLIGHT_BYTES,
    LogWindow,
    build_done,
    read_log,
    run_done,
)
from hfdiag.redact import Redactor
from hfdiag.sim import Simulator


def _read(sim: Simulator, kind: str, done, shared=None, log_wait_s: float = 2.0):
    """read_log against the simulator, as the owner; `shared(ctx)` gives the facts other probes would share."""

    async def go():
        token = sim.tokens["owner"]
        opts = CheckOptions(endpoint=sim.endpoint, token=token, trust_env=False, timeout=20, log_wait_s=log_wait_s)
        http = Http(sim.endpoint, token, trust_env=False)
        ctx = ProbeContext(space_id=sim.space_ids[0], options=opts, http=http, redactor=Redactor([token]),
                           knowledge=None)
        if shared is not None:
            ctx.shared.update(shared())
        try:
            return await read_log(ctx, kind, max_lines=1000, budget=30, done=done(ctx) if shared else done)
        finally:
            await http.aclose()

    return asyncio.run(go())


def _route_finished(stage: str):
    """What the route and space probes share once the route's requests were answered (a Space in `stage`)."""

    def shared() -> dict:
        route_done = asyncio.Event()
        route_done.set()
        return {"route.nonce": "0123456789ab", "route.done": route_done, "route.sent": True,
                "space.runtime": {"stage": stage}}

    return shared


def test_a_replay_that_stalls_mid_event_is_read_whole():
    # The replay stops halfway through the 4th event for longer than any quiet window the reader allows itself;
    # the bytes of an unfinished event say the replay is not over, so nothing after the stall is lost.
    with Simulator("healthy-gradio", overrides={"logs.replay_pause_after": 3, "logs.replay_pause_s": 1.5}) as sim:
        want = sim.build_log()
        read = _read(sim, "build", build_done)
    assert read.error is None and read.status == 200
    got = [ln for ln, _ in read.lines]
    # read up to the build's terminal line ("--> Pushing image"), far past the stall
    assert read.ended == "complete" and got == want[:len(got)] and len(got) > 6 and "Pushing" in got[-1]
    assert read.live == 0  # every line was in the buffer before the stream opened


def test_a_silent_stream_ends_as_an_empty_replay():
    # Headers, then nothing (keep-alives only every 15 s): an empty log, not a failure and not the deadline.
    with Simulator("builder-empty-build-log") as sim:
        read = _read(sim, "run", build_done)
    assert read.status == 200 and read.error is None
    assert read.lines == [] and read.ended == "replayed"


def test_quiet_before_the_first_event_is_not_yet_an_empty_replay():
    # On a busy machine the first event can come later than the quiet that ends a replay between events: before
    # any event, the window waits at least LOG_FIRST_EVENT_S; once one came, the usual quiet ends it.
    gap = (LOG_SETTLE_MIN_S + LOG_FIRST_EVENT_S) / 2
    win = LogWindow(opened=0.0, waited=0.01, live_after=0.0, last_event=0.0, now=gap)
    assert not win.replayed()
    win.now = LOG_FIRST_EVENT_S
    assert win.replayed()
    win.events, win.last_event, win.now = 1, 5.0, 5.0 + gap
    assert win.replayed()


def test_an_empty_run_log_is_expected_while_no_container_runs():
    # The stage says no container runs (BUILDING): an empty run log is not a late first line, the usual quiet ends
    # it; a RUNNING or unknown stage keeps the first-event wait.
    win = LogWindow(opened=0.0, waited=0.01, live_after=0.0, last_event=0.0, now=LOG_SETTLE_MIN_S)
    assert win.replayed(expect_lines=False) and not win.replayed()
    shared = {"route.nonce": "abc", "route.sent": True}

    class Ctx:  # what run_done reads: the facts the other probes share
        pass

    ctx = Ctx()
    ctx.shared = {**shared, "space.runtime": {"stage": "BUILDING"}}
    assert run_done(ctx, 2.0)([], win) == "replayed"
    for stage in ("RUNNING", "RUNTIME_ERROR", None):
        ctx.shared = {**shared, "space.runtime": {"stage": stage}}
        assert run_done(ctx, 2.0)([], win) is False


def test_a_replay_past_one_flight_waits_a_round_trip():
    # A replay smaller than what TCP sends at once came whole: the usual quiet ends it. A larger one may have its
    # next flight one round trip (about the time the server took to answer) behind: that is waited for.
    waited = LOG_SETTLE_MIN_S * 4
    win = LogWindow(opened=0.0, waited=waited, live_after=0.0, last_event=1.0, now=1.0 + LOG_SETTLE_MIN_S,
                    events=7, received=ONE_FLIGHT_BYTES // 10)
    assert win.replayed()
    win.received = ONE_FLIGHT_BYTES + 1
    assert not win.replayed()
    win.now = 1.0 + waited
    assert win.replayed()


def test_a_keepalive_ends_the_replay():
    with Simulator("builder-empty-build-log", overrides={"logs.keepalive_s": 0.05}) as sim:
        want = sim.build_log()
        read = _read(sim, "build", build_done)
    assert [ln for ln, _ in read.lines] == want and read.ended == "replayed"


def test_lines_after_the_connection_opened_are_live():
    with Simulator("builder-empty-build-log") as sim:
        def done(lines, win):
            if not lines or not win.live:
                if len(lines) == 1 and not win.live and not done.appended:
                    done.appended = True
                    sim.append_log("a live line", kind="build")
                return False
            return "live"

        done.appended = False
        read = _read(sim, "build", done)
    assert [ln for ln, _ in read.lines][-1] == "a live line" and read.ended == "live"
    assert read.live == 1  # the banner was replayed, the appended line was live


def test_no_nonce_is_waited_for_while_no_container_serves():
    # A BUILDING Space: the route request cannot reach a container, so the run log ends with its replay.
    with Simulator("builder-empty-build-log") as sim:
        read = _read(sim, "run", lambda ctx: run_done(ctx, 60), shared=_route_finished("BUILDING"), log_wait_s=60)
    assert read.ended == "replayed" and read.error is None


def test_a_log_that_caught_up_past_the_route_ends_the_wait_for_the_nonce():
    # The app logged a line stamped after the route's answers, and the nonce is not before it: the log has
    # caught up, so the nonce's absence is an observation and the live window (60 s here) is not waited out.
    with Simulator("proxy-edge-503-app-alive") as sim:
        sim.space().run_log.append("INFO:     10.16.3.7:40112 - \"GET /later HTTP/1.1\" 200 OK", time.time() + 5)
        read = _read(sim, "run", lambda ctx: run_done(ctx, 60), shared=_route_finished("RUNNING"), log_wait_s=60)
    assert read.ended == "caught_up" and read.error is None


def _check_json(sim: Simulator, *extra: str) -> tuple[dict, dict, dict]:
    """(report, facts, the log probe's result) of `check --format json` as the owner."""
    proc = run_cli("check", sim.space_ids[0], "--endpoint", sim.endpoint, "--dns-server", sim.dns_server,
                   "--status-url", sim.status_url, "--token", sim.tokens["owner"], "--format", "json",
                   "--quiet", *extra)
    report = json.loads(proc.stdout)
    logs = next(p for p in report["probes"] if p["probe"] == "logs")
    return report, {f["key"]: f["value"] for f in report["facts"]}, logs


@pytest.mark.parametrize("log_wait", ["0.2"])
def test_log_wait_bounds_the_wait_for_the_nonce(log_wait):
    # The edge answers 502 itself: a gateway that says it tried the container, so the nonce might be on its way.
    # Here it never comes: the run log is read for --log-wait seconds after the route probe finished, then the
    # absence is a fact.
    with Simulator("proxy-edge-503-app-alive", overrides={"edge.drop_statuses": [502]}) as sim:
        report, facts, logs = _check_json(sim, "--log-wait", log_wait)
    assert logs["detail"]["run_log_end"] == "waited", logs
    assert facts["route.nonce_in_run_log"] is False
    assert report["verdict"]["bucket"] == "proxy"


def test_an_edge_that_refused_every_request_is_not_waited_for():
    # Every answer is the edge's own 503 (no x-proxied-*): no request was passed on, so no nonce is on its way.
    # The run log ends with its replay although --log-wait is long, and the nonce's absence is not claimed as
    # an observation (nobody waited for it).
    with Simulator("proxy-edge-503-app-alive") as sim:
        report, facts, logs = _check_json(sim, "--log-wait", "60")
    assert logs["detail"]["run_log_end"] == "refused", logs
    assert "route.nonce_in_run_log" not in facts and facts["route.edge_made"] > 0
    assert report["verdict"]["bucket"] == "proxy"


def test_a_nonce_the_log_delivers_late_is_waited_for():
    # The log pipeline delivers each line 0.8 s after the app wrote it: the route's answers are in long before
    # the nonce, which still ends the run log and proves the request reached the container.
    with Simulator("healthy-gradio", overrides={"logs.delivery_lag_s": 0.8}) as sim:
        report, facts, logs = _check_json(sim, "--log-wait", "30")
    assert logs["detail"]["run_log_end"] == "nonce", logs
    assert facts["route.nonce_in_run_log"] is True and report["verdict"]["bucket"] == "healthy"


def test_an_edge_that_answers_for_a_request_it_passed_on_is_vetoed_by_the_late_nonce():
    # The edge passed every request to the app (which logged it, delivered 0.8 s late), then answered 504
    # itself: edge-made answers, but the nonce reached the run log, so the proxy rules are vetoed.
    with Simulator("proxy-edge-503-app-alive", overrides={"edge.drop_forwarded": True, "edge.drop_statuses": [504],
                                                          "logs.delivery_lag_s": 0.8}) as sim:
        report, facts, logs = _check_json(sim, "--log-wait", "30")
    assert logs["detail"]["run_log_end"] == "nonce", logs
    assert facts["route.nonce_in_run_log"] is True and facts["route.app_made"] == 0
    assert report["verdict"]["bucket"] != "proxy"
    assert "HFD-PRX-001" in {f["id"] for f in report["findings"] if f["status"] == "vetoed"}


def test_the_nonce_ends_the_run_log_of_a_healthy_space():
    with Simulator("healthy-gradio") as sim:
        opts = CheckOptions(endpoint=sim.endpoint, token=sim.tokens["owner"], dns_server=sim.dns_server,
                            status_url=sim.status_url, trust_env=False, timeout=20, log_wait_s=60)
        from hfdiag.check import check_space

        res = asyncio.run(check_space(sim.space_ids[0], opts, load_knowledge()))
    logs = next(p for p in res.probes if p.probe == "logs")
    assert logs.detail["run_log_end"] == "nonce" and logs.detail["build_log_end"] in ("complete", "replayed")
    facts = {f["key"]: f["value"] for f in res.report["facts"]}
    assert facts["route.nonce_in_run_log"] is True and res.report["verdict"]["bucket"] == "healthy"


def test_the_log_scan_yields_and_stops_at_the_deadline():
    from hfdiag.probes.logs import SCAN_SLICE, scan_lines

    sigs = load_knowledge().signatures
    hostile = [("hang " * 819)[:4095]] * 2000 + ["Scheduling failure: not enough hardware capacity"]

    async def go(budget):
        loop = asyncio.get_running_loop()
        return await scan_lines(sigs, hostile, "test", loop.time() + budget)

    whole, n = asyncio.run(go(3600))
    assert n == len(hostile) and whole.facts["space.error_kind"].value == "scheduling_failure"
    part, n = asyncio.run(go(0))  # the deadline has passed: one slice, then stop, keeping what it found
    assert 0 < n < len(hostile) and n * 4096 <= 2 * SCAN_SLICE
    assert "space.error_kind" not in part.facts
