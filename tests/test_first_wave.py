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
