"""Http.when_all_written, the signal for the probe runner's warm-ups: it fires once every request started so far
has been written to its connection (or failed), i.e. while the answers are still on their way. Real requests to
the simulator over loopback, with injected latency as the window."""

from __future__ import annotations

import asyncio
import socket

from hfdiag.probes.http import Http, HttpFailure
from hfdiag.sim import Simulator


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wave(http: Http, urls: list[str]) -> tuple[list[float], list[float]]:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    http.when_all_written(lambda: fired.append(loop.time()))
    answered: list[float] = []

    async def one(url: str) -> None:
        try:
            await http.request("GET", url, auth=False)
        except HttpFailure:
            pass
        answered.append(loop.time())

    await asyncio.gather(*(one(u) for u in urls))
    return fired, answered


def test_fires_once_the_wave_is_written_and_before_any_answer():
    with Simulator("healthy-gradio", overrides={"hub.latency_ms": 300}) as sim:
        async def main():
            http = Http(sim.endpoint, None, trust_env=False)
            try:
                sid = sim.space_ids[0]
                urls = [http.hub(f"/api/spaces/{sid}"), http.hub("/api/whoami-v2"), sim.status_url]
                fired, answered = await _wave(http, urls)
                again, _ = await _wave(http, urls[:1])  # a later wave signals again, to its own callbacks
                return fired, answered, again
            finally:
                await http.aclose()

        fired, answered, again = asyncio.run(main())
    assert len(fired) == 1 and len(again) == 1
    assert fired[0] < min(answered) - 0.2  # the 300 ms answer wait was still ahead


def test_fires_when_a_request_fails_before_it_was_written():
    async def main():
        http = Http(f"http://127.0.0.1:{_closed_port()}", None, trust_env=False)
        try:
            return await _wave(http, [http.hub("/api/whoami-v2")])
        finally:
            await http.aclose()

    fired, answered = asyncio.run(main())
    assert len(fired) == 1 and fired[0] <= answered[0]


def test_a_slow_warm_up_holds_neither_the_probes_nor_the_deadline():
    """Warm-ups (typer's check, loading the rules: seconds of CPU on a loaded machine) run beside the event loop,
    not on it: while one is still busy, every probe gets its answers and the check returns. On the loop it held
    the answers and the deadline's timer until it ended (`check --timeout 3` took 4.1 s under load 18)."""
    import threading

    from hfdiag.check import check_many
    from hfdiag.engine.lazy_knowledge import LazyKnowledge
    from hfdiag.probes.base import CheckOptions

    release = threading.Event()
    seen: dict[str, bool] = {}

    def slow_warm_up() -> None:  # stands for CPU work of unknown length; bounded so a regression ends
        seen["released"] = release.wait(120)

    with Simulator("healthy-gradio") as sim:
        opts = CheckOptions(endpoint=sim.endpoint, token=sim.tokens["owner"], dns_server=sim.dns_server,
                            status_url=sim.status_url, trust_env=False, timeout=60)
        try:
            [res] = asyncio.run(check_many([sim.space_ids[0]], opts, LazyKnowledge(), first_wave=[slow_warm_up]))
            still_busy = "released" not in seen  # the check returned while the warm-up was still waiting
        finally:
            release.set()
    assert still_busy
    assert {p.probe: p.status for p in res.probes if p.probe in ("space", "auth", "logs", "route", "status")} == \
        dict.fromkeys(("space", "auth", "logs", "route", "status"), "ok")
    assert res.report["verdict"]["bucket"] == "healthy"
