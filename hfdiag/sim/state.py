"""Shared simulator state: Spaces, tokens, request log, helpers used by every server role."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import re
import secrets
import string
import threading
import time
from typing import Any, NamedTuple

from .logs import LogBuffer, build_lines, run_lines
from .scenario import Scenario, SpaceSpec
from .zerogpu import Ledger

USERS = {
    "owner": {"name": "simuser", "fullname": "Sim User", "tier": "regular", "isPro": False},
    "other": {"name": "otheruser", "fullname": "Other User", "tier": "regular", "isPro": False},
    "pro": {"name": "prouser", "fullname": "Pro User", "tier": "pro", "isPro": True},
}
RECORDED_HEADERS = ("user-agent", "x-gradio-user", "range", "accept", "accept-encoding", "x-amzn-trace-id", "origin",
                    "content-type", "x-hf-bill-to", "x-xet-session-id")


class RecordedRequest(NamedTuple):
    ts: float
    role: str            # hub | space | cdn | cas | transfer | foreign | forum | github
    method: str
    host: str            # Host header as received
    path: str
    query: str
    headers: dict        # selected headers (never Authorization / X-IP-Token values)
    has_authorization: bool
    has_x_ip_token: bool
    auth: str | None     # owner | other | pro | invalid | None (which sim token was presented)
    space_id: str | None


class RequestLog:
    """Thread-safe, append-only list of RecordedRequest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._items: list[RecordedRequest] = []

    def append(self, item: RecordedRequest) -> None:
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    def wait_for(self, predicate, timeout: float) -> bool:
        """Block until predicate(list of requests) holds (event-driven: woken by each new request)."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self._items), timeout)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def __iter__(self):
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __getitem__(self, i):
        with self._lock:
            return self._items[i]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def find(self, role: str | None = None, path_contains: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.snapshot() if (role is None or r.role == role)
                and (path_contains is None or path_contains in r.path + ("?" + r.query if r.query else ""))]


def hexid(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def alnum(rng: random.Random, n: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def subdomain_for(space_id: str) -> str:
    return re.sub(r"[/_.]", "-", space_id.lower())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt(payload: dict) -> str:
    head = b64url(json.dumps({"alg": "EdDSA", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    return f"{head}.{body}.{b64url(secrets.token_bytes(32))}"


def jwt_payload(token: str) -> dict | None:
    try:
        part = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except Exception:
        return None


class SpaceState:
    def __init__(self, sim: SimState, spec: SpaceSpec, index: int) -> None:
        self.sim = sim
        self.spec = spec
        self.id = spec.id
        self.index = index
        self.port = 0
        self.subdomain = spec.subdomain or subdomain_for(spec.id)
        self.sha = spec.sha or hashlib.sha1(f"{spec.id}@{sim.scenario.name}".encode()).hexdigest()
        self.stage = spec.stage
        self.owner_role = spec.owner
        self.restarts = 0
        rng = sim.rng
        n = self.knob("edge.replicas") or spec.replicas or 1
        self.replicas = [(f"{alnum(rng, 8)}-{alnum(rng, 5)}", f"http://10.{100 + index % 100}.{rng.randint(1, 250)}.{rng.randint(2, 250)}")
                         for _ in range(n)]
        self.rr = 0
        self.drop_counter = 0
        self.edge_requests = 0
        self.build_log = LogBuffer()
        self.run_log = LogBuffer()
        now = time.time()
        t_build = now - spec.stage_minutes * 60 - 90
        build = spec.build_log
        extra_build: list = []
        if isinstance(build, dict):
            extra_build = build.get("append", [])
            build = build.get("preset", "build-ok")
        for ts, line in build_lines(build, self.sha, t_build if spec.stage != "BUILDING" else now - spec.stage_minutes * 60):
            self.build_log.append(line, ts)
        self.build_log.extend(extra_build, t_build + 60)
        run = spec.run_log
        extra_run: list = []
        if isinstance(run, dict):
            extra_run = run.get("append", [])
            run = run.get("preset", "auto")
        if run == "auto" and spec.stage in ("BUILDING", "SLEEPING", "STOPPED", "PAUSED", "NO_APP_FILE",
                                            "CONFIG_ERROR", "BUILD_ERROR"):
            run = "empty"
        t_run = now - spec.stage_minutes * 60
        for ts, line in run_lines(run, t_run, spec.sdk, spec.is_zerogpu):
            self.run_log.append(line, ts)
        if run != "empty" and spec.is_zerogpu and self.knob("zerogpu.markers"):
            # hfdiag.markers announces itself at start-up, so a missing gpu.enter is an observation.
            from .logs import marker

            self.run_log.append(marker("markers.enabled", fn="predict"), t_run + 5)
        self.run_log.extend(extra_run, t_run + 30)
        # gradio queue state
        self.sessions: dict[str, list[dict]] = {}
        self.events: dict[str, dict] = {}

    def knob(self, name: str) -> Any:
        return self.sim.scenario.knob(name, self.spec)

    @property
    def host_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def owner_name(self) -> str:
        return USERS[self.owner_role]["name"]

    def proxy_mode(self) -> str:
        mode = self.knob("edge.proxy_mode")
        if mode:
            return mode
        st = self.stage
        if st in ("RUNNING", "RUNNING_BUILDING", "RUNNING_APP_STARTING"):
            return "app"
        if st in ("SLEEPING", "STOPPED"):
            return "sleeping"
        if st == "PAUSED":
            return "paused"
        return "unreachable"

    def runtime(self) -> dict:
        spec = self.spec
        hw_req = spec.hardware_requested if spec.hardware_requested is not None else spec.hardware
        current = spec.hardware if self.stage in ("RUNNING", "RUNNING_BUILDING", "RUNNING_APP_STARTING",
                                                  "APP_STARTING", "RUNTIME_ERROR") else None
        rt: dict[str, Any] = {"stage": self.stage, "hardware": {"current": current, "requested": hw_req},
                              "storage": None}
        if spec.gc_timeout is not None:
            rt["gcTimeout"] = spec.gc_timeout
        if self.stage in ("BUILDING", "PAUSED", "SLEEPING", "STOPPED", "BUILD_ERROR", "RUNTIME_ERROR", "APP_STARTING"):
            rt["replicas"] = {"requested": spec.replicas}
        else:
            rt["replicas"] = {"current": spec.replicas, "requested": spec.replicas}
        rt["devMode"] = spec.dev_mode
        rt["domains"] = [{"domain": f"{self.subdomain}.hf.space", "stage": "READY"}]
        if spec.error_message and self.stage in ("BUILD_ERROR", "RUNTIME_ERROR", "CONFIG_ERROR", "NO_APP_FILE"):
            rt["errorMessage"] = spec.error_message
        return rt


class SimState:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.rng = random.Random(scenario.knobs.get("seed", 1))
        self.tokens = {role: "hf_" + "".join(secrets.choice(string.ascii_letters) for _ in range(34))
                       for role in USERS}
        self.token_roles = {v: k for k, v in self.tokens.items()}
        self.requests = RequestLog()
        self.ledger = Ledger(self)
        self.spaces: dict[str, SpaceState] = {}
        for i, spec in enumerate(scenario.spaces):
            self.spaces[spec.id] = SpaceState(self, spec, i)
        self.ports: dict[str, int] = {}
        self.space_by_port: dict[int, SpaceState] = {}
        self.role_by_port: dict[int, str] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closing: asyncio.Event | None = None
        self.server = None  # uvicorn.Server
        self.rate: dict[tuple, list] = {}
        self.fault_hits: dict[str, int] = {}
        self.started_at = time.time()
        from .transfer import build_repos
        self.repos = build_repos(self)

    def knob(self, name: str, space: SpaceState | None = None) -> Any:
        return self.scenario.knob(name, space.spec if space else None)

    def url(self, role: str) -> str:
        host = "localhost" if role in ("cdn", "transfer", "foreign") else "127.0.0.1"
        return f"http://{host}:{self.ports[role]}"

    def auth_role(self, headers) -> tuple[str | None, bool]:
        """(role, invalid) from an Authorization header."""
        value = headers.get("authorization")
        if not value:
            return None, False
        scheme, _, tok = value.partition(" ")
        if scheme.lower() != "bearer" or not tok.strip():
            return None, True
        role = self.token_roles.get(tok.strip())
        return (role, False) if role else (None, True)

    async def nap(self, seconds: float) -> bool:
        """Sleep up to `seconds`; return True early if the simulator is stopping."""
        if seconds <= 0:
            return self.closing.is_set()
        try:
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)
            return True
        except asyncio.TimeoutError:
            return False

    def record(self, scope: dict, role: str, space: SpaceState | None) -> RecordedRequest:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth, invalid = self.auth_role(headers)
        rec = RecordedRequest(
            ts=time.time(), role=role, method=scope["method"], host=headers.get("host", ""), path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers={k: headers[k] for k in RECORDED_HEADERS if k in headers},
            has_authorization="authorization" in headers, has_x_ip_token="x-ip-token" in headers,
            auth="invalid" if invalid else auth, space_id=space.id if space else None)
        self.requests.append(rec)
        return rec
