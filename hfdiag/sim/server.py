"""Simulator: one uvicorn server in a background thread, serving every role on its own loopback socket."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from typing import Any

import uvicorn
from starlette.responses import Response

from . import community, edge, faults, hub, transfer
from .dns_server import DnsResponder, start_dns
from .scenario import Scenario, load_scenario
from .state import SimState, SpaceState

LOOPBACK = "127.0.0.1"
LOCAL_ROLES = ("cdn", "transfer", "foreign")  # served under the other loopback name, "localhost"


def _tcp_socket(host: str, port: int = 0, reuse: bool = False) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # proto set: asyncio then sets TCP_NODELAY
    try:
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        s.listen(128)
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


async def _foreign(sim: SimState, scope, receive, send) -> None:
    hdrs = {k.decode("latin-1").lower() for k, _ in scope["headers"]}
    body = {"foreign": True, "authorization_received": "authorization" in hdrs}
    await Response(json.dumps(body), 200, media_type="application/json")(scope, receive, send)


# Every role but the Space edge: handler(sim, scope, receive, send); anything else is the Hub.
_ROLE_HANDLERS = {"cdn": transfer.handle_cdn, "cas": transfer.handle_cas, "transfer": transfer.handle_transfer,
                  "foreign": _foreign, "forum": community.handle_forum, "github": community.handle_github}


class ConcurrencyStats:
    """Open TCP connections and in-flight HTTP requests, with their peaks (all roles; requests also by role).
    Updated on the simulator's loop; read from anywhere (`sim.concurrency`), reset with `reset()`."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.connections = 0
        self.peak_connections = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.in_flight_by_role: dict[str, int] = {}
        self.peak_in_flight_by_role: dict[str, int] = {}

    def opened(self) -> None:
        self.connections += 1
        self.peak_connections = max(self.peak_connections, self.connections)

    def closed(self) -> None:
        self.connections = max(0, self.connections - 1)

    def begin(self, role: str) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        n = self.in_flight_by_role[role] = self.in_flight_by_role.get(role, 0) + 1
        self.peak_in_flight_by_role[role] = max(self.peak_in_flight_by_role.get(role, 0), n)

    def end(self, role: str) -> None:
        self.in_flight -= 1
        self.in_flight_by_role[role] -= 1

    def to_dict(self) -> dict:
        return {"peak_connections": self.peak_connections, "peak_in_flight": self.peak_in_flight,
                "peak_in_flight_by_role": dict(self.peak_in_flight_by_role)}


class _CountingSet(set):
    """uvicorn's set of open connections, counting as protocols add and remove themselves."""

    def __init__(self, stats: ConcurrencyStats) -> None:
        super().__init__()
        self._stats = stats

    def add(self, item) -> None:
        if item not in self:
            self._stats.opened()
        super().add(item)

    def discard(self, item) -> None:
        if item in self:
            self._stats.closed()
        super().discard(item)

    def remove(self, item) -> None:
        if item in self:
            self._stats.closed()
        super().remove(item)


# A bound, not a pace: on a machine busy with other work, starting or stopping the server thread (uvicorn's
# imports and start-up included) can take many seconds; only a simulator that never comes up is an error.
START_WITHIN_S = 60.0


class Simulator:
    """A simulated Hugging Face for one scenario. `start()`/`stop()` or use as a context manager."""

    def __init__(self, scenario: str | Scenario, overrides: dict[str, Any] | None = None,
                 port: int | None = None) -> None:
        sc = load_scenario(scenario) if isinstance(scenario, str) else scenario
        self.scenario = sc.with_overrides(overrides)
        self._port = port
        self._state: SimState | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._socks: list[socket.socket] = []
        self._dns_socks: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self.dns: DnsResponder | None = None
        self.concurrency = ConcurrencyStats()  # peak open connections / in-flight requests (scan tests)

    # ---- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> Simulator:
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        st = self._state = SimState(self.scenario)
        try:
            self._bind(st)
        except BaseException:
            self._close_sockets()
            raise
        self.dns = DnsResponder(st)
        self._thread = threading.Thread(target=self._thread_main, name=f"hfdiag-sim-{self.scenario.name}",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(START_WITHIN_S)
        if self._error is not None or not self._ready.is_set():
            self.stop()
            raise RuntimeError(f"simulator failed to start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        loop, ev = self._loop, self._stop_event
        if loop is not None and ev is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:
                pass
        self._thread.join(START_WITHIN_S)
        self._thread = None
        self._close_sockets()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _bind(self, st: SimState) -> None:
        hub_sock = _tcp_socket(LOOPBACK, self._port or 0, reuse=bool(self._port))
        self._socks.append(hub_sock)
        st.ports["hub"] = hub_sock.getsockname()[1]
        st.role_by_port[st.ports["hub"]] = "hub"
        for role in ("cas", "forum", "github") + LOCAL_ROLES:
            s = _tcp_socket(LOOPBACK)
            self._socks.append(s)
            port = s.getsockname()[1]
            st.ports[role] = port
            st.role_by_port[port] = role
            if role in LOCAL_ROLES:  # "localhost" may resolve to ::1 first; serve it there too when possible
                try:
                    self._socks.append(_tcp_socket("::1", port))
                except OSError:
                    pass
        for sp in st.spaces.values():
            s = _tcp_socket(LOOPBACK)
            self._socks.append(s)
            sp.port = s.getsockname()[1]
            st.space_by_port[sp.port] = sp
            st.role_by_port[sp.port] = "space"
        for _ in range(50):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind((LOOPBACK, 0))
            port = u.getsockname()[1]
            try:
                t = _tcp_socket(LOOPBACK, port)
            except OSError:
                u.close()
                continue
            u.setblocking(False)
            self._dns_socks = [u, t]
            st.ports["dns"] = port
            break
        else:  # pragma: no cover
            raise OSError("could not bind a DNS port for both UDP and TCP")

    def _close_sockets(self) -> None:
        for s in self._socks + self._dns_socks:
            try:
                s.close()
            except OSError:
                pass
        self._socks, self._dns_socks = [], []

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # pragma: no cover - surfaced by start()
            self._error = exc
            self._ready.set()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    async def _main(self) -> None:
        st = self._state
        st.loop = asyncio.get_running_loop()
        st.closing = asyncio.Event()
        self._stop_event = asyncio.Event()
        config = uvicorn.Config(self._app, lifespan="off", log_level="error", access_log=False, log_config=None,
                                http="h11", ws="none", interface="asgi3", timeout_keep_alive=5, server_header=False,
                                date_header=True)
        config.load()
        server = uvicorn.Server(config)
        server.server_state.connections = _CountingSet(self.concurrency)
        server.lifespan = config.lifespan_class(config)
        st.server = server
        await server.startup(sockets=list(self._socks))
        udp_t, tcp_s = await start_dns(self.dns, *self._dns_socks)
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            st.closing.set()
            for srv in server.servers:
                srv.close()
            udp_t.close()
            tcp_s.close()
            for conn in list(server.server_state.connections):
                if conn.transport is not None:
                    conn.transport.abort()
            tasks = set(server.server_state.tasks) | set(self.dns.tasks)
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=1.0)
                for t in pending:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for srv in server.servers:
                await srv.wait_closed()
            await tcp_s.wait_closed()

    async def _app(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        st = self._state
        port = scope["server"][1]
        role = st.role_by_port.get(port, "hub")
        space = st.space_by_port.get(port)
        st.record(scope, role, space)

        if role == "space":
            async def handler(s, r, w):
                await edge.handle(st, space, s, r, w)
        else:
            serve = _ROLE_HANDLERS.get(role, hub.handle)

            async def handler(s, r, w):
                await serve(st, s, r, w)
        hit = faults.match(st, role, space, scope["method"], scope["path"])
        self.concurrency.begin(role)
        try:
            if hit:
                await faults.apply(st, hit[1], scope, receive, send, handler)
            else:
                await handler(scope, receive, send)
        finally:
            self.concurrency.end(role)

    # ---- public API -----------------------------------------------------------------------------------------------
    def _st(self) -> SimState:
        if self._state is None or not self._state.ports:
            raise RuntimeError("simulator not started")
        return self._state

    @property
    def endpoint(self) -> str:
        return self._st().url("hub")

    @property
    def status_url(self) -> str:
        return f"{self.endpoint}/status/index.json"

    @property
    def dns_server(self) -> str:
        return f"{LOOPBACK}:{self._st().ports['dns']}"

    @property
    def dns_port(self) -> int:
        return self._st().ports["dns"]

    @property
    def urls(self) -> dict[str, str]:
        st = self._st()
        return {r: st.url(r) for r in ("hub", "cas", "cdn", "transfer", "foreign", "forum", "github")}

    @property
    def space_ids(self) -> list[str]:
        return [s.id for s in self.scenario.spaces]

    @property
    def tokens(self) -> dict[str, str]:
        return dict(self._st().tokens)

    @property
    def requests(self):
        return self._st().requests

    @property
    def ledger(self):
        return self._st().ledger

    def space(self, space_id: str | None = None) -> SpaceState:
        st = self._st()
        return st.spaces[space_id or self.space_ids[0]]

    def space_url(self, space_id: str | None = None) -> str:
        return self.space(space_id).host_url

    def run_log(self, space_id: str | None = None) -> list[str]:
        return self.space(space_id).run_log.lines()

    def build_log(self, space_id: str | None = None) -> list[str]:
        return self.space(space_id).build_log.lines()

    def append_log(self, line: str, space_id: str | None = None, kind: str = "run") -> None:
        sp = self.space(space_id)
        (sp.run_log if kind == "run" else sp.build_log).append(line)

    @property
    def dns_queries(self) -> list[tuple[str, str, str]]:
        return list(self.dns.queries) if self.dns else []

    def check_command(self, space_id: str | None = None, token: str | None = None, extra: list[str] = ()) -> str:
        """The `hfdiag check` line for this simulator (token: None, or 'owner'/'other'/'pro' to prefix HF_TOKEN=).
        `extra`: the scenario's own `check` arguments; a `--sim-as ROLE` there picks the token instead."""
        import shlex

        args = list(extra)
        named = []  # Space ids a scenario names first in `check` (a misspelled id) replace the default one
        while args and not args[0].startswith("-"):
            named.append(args.pop(0))
        sid = space_id or " ".join(named) or self.space_ids[0]
        if "--sim-as" in args:
            i = args.index("--sim-as")
            role = args[i + 1] if i + 1 < len(args) else "owner"
            del args[i:i + 2]
            token = None if role == "anonymous" else role
        prefix = f"HF_TOKEN={self.tokens[token]} " if token else ""
        return (f"{prefix}hfdiag check {sid} --endpoint {self.endpoint} --dns-server {self.dns_server} "
                f"--status-url {self.status_url}" + (f" {shlex.join(args)}" if args else ""))
