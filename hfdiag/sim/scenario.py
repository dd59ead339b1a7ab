"""Scenario model: YAML loading, knob registry and validation.

Pure data + validation; imports nothing from starlette/uvicorn so `list_scenarios()` works in a core install.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

BUCKETS = (
    "builder proxy zerogpu-settlement zerogpu-identity zerogpu-quota transfer egress runtime app healthy inconclusive"
).split()
HOPS = {
    "build": ["commit", "build_queued", "build_started", "build_finished", "container_started"],
    "request": ["dns", "edge_answered", "edge_proxied", "app_answered", "run_log_seen"],
    "zerogpu": ["queue_joined", "queue_estimated", "gpu_waiting", "gpu_acquired", "function_entered", "completed",
                "quota_settled"],
    "transfer": ["resolve", "backend_chosen", "token_reconstruction", "first_byte", "sustained_bytes", "complete"],
    "egress": ["dns", "tcp_connect", "tls", "http_answer"],
}
KNOWLEDGE = ("explained", "suspicious", "background", None)
CONFIDENCES = ("low", "medium", "high")  # expect.confidence_at_most: the verdict's confidence may not exceed it
EXIT_CODES = (0, 1, 3)  # expect.exit of the listed command: nothing failing, a failing finding, inconclusive


class ScenarioError(ValueError):
    """A scenario file or override is invalid (one-line message)."""


def _num(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("a number")
    return v


def _int(v):
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("an integer")
    return v


def _opt_int(v):
    return None if v is None else _int(v)


def _opt_num(v):
    return None if v is None else _num(v)


def _bool(v):
    if not isinstance(v, bool):
        raise TypeError("true or false")
    return v


def _str(v):
    if not isinstance(v, str):
        raise TypeError("a string")
    return v


def _opt_str(v):
    return None if v is None else _str(v)


def _list(v):
    if not isinstance(v, list):
        raise TypeError("a list")
    return v


def _dict(v):
    if not isinstance(v, dict):
        raise TypeError("a mapping")
    return v


def _opt_dict(v):
    return None if v is None else _dict(v)


def _choice(*options):
    def check(v):
        if v not in options:
            raise TypeError("one of " + ", ".join(repr(o) for o in options))
        return v
    return check


VISITOR_OUTCOMES = ("success", "gpu_aborted", "quota_exceeded", "worker_error")  # knob app.other_visitors


def _visitors(v):
    if not isinstance(v, list) or any(o not in VISITOR_OUTCOMES for o in v):
        raise TypeError("a list of " + ", ".join(VISITOR_OUTCOMES))
    return v


def _str_or_list(v):
    if isinstance(v, str) or isinstance(v, list):
        return v
    raise TypeError("a preset name or a list of lines")


# name -> (default, validator, doc). Knobs with prefixes in SPACE_PREFIXES may also be set per Space.
KNOBS: dict[str, tuple[Any, Any, str]] = {
    "seed": (1, _int, "seed for every random choice (edge drops, ids); same seed, same run"),
    # Hub
    "hub.latency_ms": (0, _num, "added latency on every Hub/API/resolve response"),
    "hub.rate_limit": (500, _int, "'api' bucket quota q per caller per window (429 when exceeded)"),
    "hub.resolvers_rate_limit": (3000, _int, "'resolvers' bucket quota for /resolve per caller per window"),
    "hub.rate_window_s": (300, _int, "rate-limit window w in seconds"),
    "hub.logs_anon_status": (401, _choice(401, 403, 404), "status of /logs without a token [UNVERIFIED]"),
    "hub.logs_non_owner_status": (403, _choice(403, 404), "status of /logs for a non-owner token [UNVERIFIED]"),
    "hub.restart_status": (200, _int, "status of POST .../restart (e.g. 503) [UNVERIFIED]"),
    "hub.restart_paused_status": (200, _int, "status of POST .../restart while the Space is PAUSED (e.g. 503)"),
    "hub.restart_error_body": ({"error": "Service Unavailable"}, _dict, "body of a failing restart [UNVERIFIED]"),
    "hub.quota_anon_status": (401, _int, "status of the ZeroGPU quota endpoint without a token [UNVERIFIED]"),
    "hub.list_page_max": (1000, _int, "largest page of GET /api/spaces, whatever `limit` asks [UNVERIFIED]"),
    "hub.list_host": (True, _bool, "listing items with `expand` also carry `host` (not an expandable key) [UNVERIFIED]"),
    "hub.xet_token_anonymous": (True, _bool, "public repos hand out xet read tokens anonymously [UNVERIFIED]"),
    # logs
    "logs.keepalive_s": (15.0, _num, "interval of empty 'data:' keep-alives on /logs SSE [UNVERIFIED]"),
    "logs.stream_open": (True, _bool, "after replaying the buffer, keep the stream open (follow) or end it"),
    "logs.replay_pause_after": (None, _opt_int, "the replay stalls inside the event after this many lines"),
    "logs.replay_pause_s": (1.0, _num, "how long the replay stalls (logs.replay_pause_after)"),
    "logs.delivery_lag_s": (0.0, _num, "a line reaches the stream this long after the app wrote it [UNVERIFIED]"),
    # edge
    "edge.latency_ms": (0, _num, "added latency per request at the Space edge"),
    "edge.proxy_mode": (None, _opt_str, "app|sleeping|unreachable|paused|private-anon; default derived from stage"),
    "edge.drop_rate": (0.0, _num, "share of requests the edge answers itself with 502/503/504 (0..1)"),
    "edge.drop_statuses": ([502, 503, 504], _list, "statuses used for dropped requests (cycled)"),
    "edge.drop_forwarded": (False, _bool, "the edge passes a dropped request to the app (which logs it) before "
                            "answering itself [UNVERIFIED]"),
    "edge.replicas": (None, _opt_int, "number of replicas behind the edge (default: the Space's replicas)"),
    "edge.unreachable_status": (502, _choice(502, 504), "edge status when the container is not listening [UNVERIFIED]"),
    "edge.paused_status": (503, _int, "edge status for a PAUSED Space [UNVERIFIED]"),
    "edge.sleeping_status": (503, _int, "edge status for a sleeping Space"),
    "edge.private_status": (404, _int, "edge status for a private Space without an authorised token"),
    "edge.sleeping_body": ("<!DOCTYPE html><html><head><title>Space is sleeping</title></head>"
                           "<body>This Space is sleeping.</body></html>", _str,
                           "body of the sleeping 503 [UNVERIFIED]"),
    "edge.ip_token": ("inject", _choice("inject", "forward", "strip"),
                      "X-IP-Token: inject (edge adds one per caller), forward (only what the client sent), strip"),
    "edge.ip_token_error": (None, _opt_str, "an 'error' claim in the injected X-IP-Token JWT (IP fallback)"),
    # app (the user's container)
    "app.error_paths": ([], _list, "path globs on which the app raises an exception and answers 500"),
    "app.exception": ("ZeroDivisionError: division by zero", _str, "exception line of the app's 500 traceback"),
    "app.request_markers": (False, _bool, "app writes hfdiag-marker request lines for requests with a nonce"),
    "app.access_log": (True, _bool, "container writes a uvicorn access line per request to the run log"),
    "app.redirect_to": (None, _opt_str, "the app answers / with a 302 to this URL (e.g. a login page on another "
                        "host); the edge adds its x-proxied-* headers as for any app answer"),
    "app.other_visitors": ([], _visitors, "other visitors' calls on a public Space (success, gpu_aborted, "
                           "quota_exceeded, worker_error): their run-log lines (queue/join access line, gpu markers, the "
                           "error they got) are written right before each hfdiag request reaches the app"),
    # gradio
    "gradio.version": ("5.49.1", _str, "gradio version: 4.x has no api_prefix; >=6.13 sends error dicts on /call"),
    "gradio.heartbeat_s": (15.0, _num, "heartbeat interval on queue/data and /call streams"),
    "gradio.queue_full": (False, _bool, "queue/join answers 503 Queue is full"),
    "gradio.max_size": (1, _int, "queue max_size shown in the queue-full message (ZeroGPU default 1)"),
    "gradio.show_error": (False, _bool, "launch(show_error=...): raw exceptions visible or error null"),
    "gradio.fn_error": (None, _opt_str, "the (non-ZeroGPU) function raises this exception, e.g. 'ValueError: bad'"),
    "gradio.api_name": ("predict", _str, "api_name of the single endpoint"),
    "gradio.output": (["ok"], _list, "data returned by a successful call"),
    "gradio.process_s": (0.0, _num, "wall time the function takes (seconds)"),
    # zerogpu (only for hardware zero-a10g)
    "zerogpu.outcome": ("auto", _choice("auto", "success", "queue_timeout", "quota_exceeded", "runs_limit",
                                        "illegal_duration", "pending_credits", "worker_error", "worker_aborted",
                                        "scheduler_503", "expired_token", "raw_runtime_error"),
                        "forced scheduler outcome; auto = decided by the quota ledger"),
    "zerogpu.queued": (False, _bool, "the scheduler queues first ('Waiting for a GPU...', then 'Successfully acquired')"),
    "zerogpu.queuing_reason": ("node", _choice("node", "concurrency"), "X-Queuing-Reason of a queued schedule"),
    "zerogpu.queue_wait_s": (0.05, _num, "seconds the fake scheduler keeps a request queued (real: ~60)"),
    "zerogpu.duration_s": (60, _int, "@spaces.GPU(duration=...)"),
    "zerogpu.size": ("large", _choice("large", "xlarge"), "@spaces.GPU(size=...) / auto xlarge"),
    "zerogpu.gpu": ("blackwell", _choice("blackwell", "h200"), "backing GPU: blackwell applies duration factor 1.5"),
    "zerogpu.function_s": (2.0, _num, "GPU seconds the function really uses (charged at settlement)"),
    "zerogpu.settlement": ("settle", _choice("settle", "charged", "refund_after"),
                           "no-GPU reservations: settle (refund now), charged (never refunded), refund_after"),
    "zerogpu.refund_after_s": (60.0, _num, "delay of the refund with settlement=refund_after"),
    "zerogpu.markers": (False, _bool, "the app writes hfdiag-marker gpu.enter/gpu.exit lines"),
    "zerogpu.abort_before_entry": (False, _bool, "with outcome worker_aborted: the task is aborted before the GPU "
                                   "function is entered (no gpu.enter marker; the reservation is kept) [UNVERIFIED]"),
    "zerogpu.worker_exception": ("RuntimeError", _str, "class name of the exception raised in the worker"),
    "zerogpu.worker_traceback": ("sm120", _str_or_list, "traceback written to the run log on a worker error"),
    "zerogpu.base": ({"anonymous": 120, "regular": 300, "pro": 2400, "space": 100000}, _dict,
                     "daily base quota in GPU seconds per tier"),
    "zerogpu.left": ({}, _dict, "initial remaining seconds per tier (anonymous/regular/pro/space)"),
    "zerogpu.max_duration_s": ({"anonymous": 300, "regular": 300, "pro": 2400}, _dict,
                               "largest allowed requested seconds per tier [UNVERIFIED]"),
    "zerogpu.runs_used": ({}, _dict, "runs already used today per tier (for the runs limit)"),
    "zerogpu.runs_limit": (None, _opt_int, "request-count limit per pool and day [UNVERIFIED numbers]"),
    "zerogpu.resets_in_s": (83, _int, "seconds until the quota resets ('Try again in 0:01:23')"),
    "zerogpu.messages": ({}, _dict, "override message templates by key (for UNVERIFIED wording)"),
    # transfer
    "transfer.backend": ("xet", _choice("xet", "lfs"), "backend of the default model repo's large files"),
    "transfer.file_size": (64 * 1024 * 1024, _int, "size of model.safetensors in the default repo"),
    "transfer.throughput_bps": (None, _opt_int, "throughput cap on CDN/transfer bodies (bytes/s)"),
    "transfer.stall_after_bytes": (None, _opt_int, "send N body bytes then keep the connection open silently"),
    "transfer.close_after_bytes": (None, _opt_int, "send N body bytes then close the connection"),
    "transfer.signed_range_403": (False, _bool, "the transfer host answers 403 to signed xorb ranges"),
    "transfer.cdn_ignores_range": (False, _bool, "the CDN answers 200 with the full body to Range requests"),
    "transfer.apply_to": ("both", _choice("cdn", "transfer", "both"), "which host the body knobs apply to"),
    # status page
    "status.state": ("operational", _choice("operational", "degraded", "downtime", "maintenance"),
                     "aggregate_state of the status page"),
    "status.incident": (None, _opt_dict, "open incident: {title, state?, resource?}"),
    "status.components": (["Website", "Hub", "Spaces", "Inference", "CDN"], _list,
                          "resource names [UNVERIFIED except 'Website']"),
    # dns
    "dns.names": ({}, _dict, "per-name behaviour: {name-glob: mode | {mode, delay_ms, ttl, cname}}"),
    "dns.default": ("nxdomain", _choice("nxdomain", "refused", "servfail", "drop"), "answer for unknown names"),
    "dns.ttl": (60, _int, "TTL of A records"),
    "dns.aaaa": ("nodata", _choice("nodata", "loopback"), "AAAA answers: NODATA+SOA or ::1"),
    "dns.extra_names": (["api.telegram.org", "api.openai.com", "pypi.org", "files.pythonhosted.org",
                         "github.com"], _list, "external targets that resolve to 127.0.0.1"),
    # fleet
    "fleet.count": (0, _int, "generate N extra Spaces fleetuser/space-000... for scan tests"),
    "fleet.mix": ({"healthy": 1.0}, _dict, "shares of healthy/sleeping/runtime_error/building/paused in the fleet"),
}
SPACE_PREFIXES = ("edge.", "app.", "gradio.", "zerogpu.", "logs.")
TOP_KEYS = {"name", "description", "expect", "expect_without_token", "knobs", "faults", "spaces", "repos", "notes",
            "check"}
# What `check` needs besides `--sim NAME` to reproduce a scenario (a caller role, an opt-in probe); never where the
# requests go or whose token: --sim decides that.
CHECK_ARGS_FORBIDDEN = ("--sim", "--endpoint", "--token", "--dns-server", "--status-url")
SPACE_KEYS = {"id", "sdk", "stage", "hardware", "hardware_requested", "private", "error_message", "subdomain",
              "sha", "gc_timeout", "replicas", "dev_mode", "build_log", "run_log", "stage_minutes", "knobs",
              "title", "emoji", "sdk_version", "files", "owner", "models"}
REPO_KEYS = {"id", "type", "private", "files"}
FILE_KEYS = {"path", "size", "backend"}
STAGES_KNOWN = ("NO_APP_FILE CONFIG_ERROR BUILDING BUILD_ERROR RUNNING RUNNING_BUILDING RUNTIME_ERROR DELETING "
                "STOPPED PAUSED APP_STARTING RUNNING_APP_STARTING SLEEPING").split()
FAULTS = ("reset", "silence", "drip", "sse_keepalive", "sse_comments", "sse_endless_line", "huge_json", "malformed_json", "invalid_utf8", "gzip_bomb",
          "redirect_loop", "redirect_foreign", "close_mid_body", "status", "delay", "drop")
FAULT_PARAMS = {"fault", "times", "probability", "rate", "interval_s", "size", "status", "ms", "body", "layers", "ctype"}
SELECTOR_RE = re.compile(r"^(hub|space(?:=[^:]+)?|cdn|cas|transfer|foreign|forum|github|dns|any):(?:(GET|HEAD|POST|PUT|DELETE|OPTIONS) )?(.+)$")


@dataclass
class SpaceSpec:
    id: str
    sdk: str = "gradio"
    stage: str = "RUNNING"
    hardware: str | None = "cpu-basic"
    hardware_requested: str | None = None
    private: bool = False
    error_message: str | None = None
    subdomain: str | None = None
    sha: str | None = None
    gc_timeout: int | None = 172800
    replicas: int = 1
    dev_mode: bool = False
    build_log: Any = "build-ok"
    run_log: Any = "auto"
    stage_minutes: float = 60.0
    title: str | None = None
    emoji: str = "🔥"
    sdk_version: str | None = None
    files: list | None = None
    owner: str = "owner"
    models: list = field(default_factory=list)  # model repos the Space declares (the API's `models`)
    knobs: dict = field(default_factory=dict)

    @property
    def is_zerogpu(self) -> bool:
        return (self.hardware or "").startswith("zero-") or (self.hardware_requested or "").startswith("zero-")


@dataclass
class Scenario:
    name: str
    description: str
    expect: dict
    expect_without_token: dict | None = None
    knobs: dict = field(default_factory=dict)
    faults: dict = field(default_factory=dict)
    spaces: list[SpaceSpec] = field(default_factory=list)
    repos: list[dict] = field(default_factory=list)
    notes: str | None = None
    source: str | None = None
    check: list[str] = field(default_factory=list)

    def check_command(self) -> str:
        """The full `hfdiag check` command that reproduces this scenario against the embedded simulator."""
        import shlex

        return shlex.join(["hfdiag", "check", "--sim", self.name, *self.check])

    def knob(self, name: str, space: SpaceSpec | None = None) -> Any:
        """Effective value of a knob: per-Space value, else scenario value, else default."""
        if name not in KNOBS:
            raise KeyError(name)
        if space is not None and name in space.knobs:
            return space.knobs[name]
        if name in self.knobs:
            return self.knobs[name]
        return copy.deepcopy(KNOBS[name][0])

    def with_overrides(self, overrides: dict | None) -> Scenario:
        """A copy with overrides applied. Keys are knob names (win over per-Space values too) or 'faults'."""
        sc = copy.deepcopy(self)
        for key, value in (overrides or {}).items():
            if key == "faults":
                _validate_faults(_dict(value), sc.name)
                sc.faults.update(value)
                continue
            _check_knob(key, value, sc.name)
            sc.knobs[key] = value
            for sp in sc.spaces:
                sp.knobs.pop(key, None)
        if sc.knobs.get("fleet.count"):
            _add_fleet(sc)
        return sc


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_knob(name: str, value: Any, where: str) -> None:
    if name not in KNOBS:
        raise ScenarioError(f"{where}: unknown knob {name!r}{_suggest(name, KNOBS)}")
    try:
        KNOBS[name][1](value)
    except TypeError as exc:
        raise ScenarioError(f"{where}: knob {name!r} must be {exc}, got {value!r}") from None


def _validate_faults(faults: dict, where: str) -> None:
    for selector, spec in faults.items():
        if not isinstance(selector, str) or not SELECTOR_RE.match(selector):
            raise ScenarioError(f"{where}: bad fault selector {selector!r} (expected ROLE:[METHOD ]GLOB, "
                                f"ROLE one of hub, space, space=ID, cdn, cas, transfer, foreign, forum, github, dns, any)")
        kind = spec if isinstance(spec, str) else (spec.get("fault") if isinstance(spec, dict) else None)
        if not isinstance(kind, str):
            raise ScenarioError(f"{where}: fault for {selector!r} must be a name or a mapping with 'fault'")
        base = kind.split(":", 1)[0]
        if base not in FAULTS:
            raise ScenarioError(f"{where}: unknown fault {kind!r}{_suggest(base, FAULTS)}")
        if isinstance(spec, dict):
            extra = set(spec) - FAULT_PARAMS
            if extra:
                raise ScenarioError(f"{where}: unknown fault parameter(s) {sorted(extra)} for {selector!r}")


def _check_expect(exp: Any, where: str) -> dict:
    if not isinstance(exp, dict):
        raise ScenarioError(f"{where}: expect must be a mapping")
    extra = set(exp) - {"bucket", "first_missing_hop", "knowledge", "confidence_at_most", "exit", "says"}
    if extra:
        raise ScenarioError(f"{where}: unknown expect key(s) {sorted(extra)}")
    if exp.get("bucket") not in BUCKETS:
        raise ScenarioError(f"{where}: expect.bucket must be one of {BUCKETS}, got {exp.get('bucket')!r}")
    hop = exp.get("first_missing_hop")
    if hop is not None:
        chain, _, h = str(hop).partition(".")
        if chain not in HOPS or h not in HOPS[chain]:
            raise ScenarioError(f"{where}: expect.first_missing_hop {hop!r} is not a chain.hop from docs/architecture.md")
    if exp.get("knowledge") not in KNOWLEDGE:
        raise ScenarioError(f"{where}: expect.knowledge must be one of {KNOWLEDGE}")
    ceiling = exp.get("confidence_at_most", "high")
    if ceiling not in CONFIDENCES:
        raise ScenarioError(f"{where}: expect.confidence_at_most must be one of {CONFIDENCES}")
    code = exp.get("exit")  # required of shipped scenarios (tests/e2e/test_check_scenarios.py); optional in ad-hoc ones
    if code is not None and code not in EXIT_CODES:
        raise ScenarioError(f"{where}: expect.exit must be one of {EXIT_CODES} (docs/ci.md), got {code!r}")
    says = exp.get("says") or []  # phrases the verdict line must carry (the host, the step, the hint)
    if not isinstance(says, list) or not all(isinstance(x, str) and x for x in says):
        raise ScenarioError(f"{where}: expect.says must be a list of phrases")
    return {"bucket": exp["bucket"], "first_missing_hop": hop, "knowledge": exp.get("knowledge"),
            "confidence_at_most": ceiling, "exit": code, "says": says}


def parse_scenario(data: Any, source: str = "<data>") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping")
    where = f"scenario {data.get('name', source)!r}"
    extra = set(data) - TOP_KEYS
    if extra:
        k = sorted(extra)[0]
        raise ScenarioError(f"{where}: unknown key {k!r}{_suggest(k, TOP_KEYS)}")
    for req in ("name", "description", "expect"):
        if req not in data:
            raise ScenarioError(f"{where}: missing {req!r}")
    if not isinstance(data["description"], str) or "\n" in data["description"].strip():
        raise ScenarioError(f"{where}: description must be one line")
    knobs = data.get("knobs") or {}
    for k, v in _dict(knobs).items():
        _check_knob(k, v, where)
    faults = data.get("faults") or {}
    _validate_faults(faults, where)
    spaces = []
    for i, sp in enumerate(data.get("spaces") or []):
        sw = f"{where} space #{i}"
        if not isinstance(sp, dict) or "id" not in sp:
            raise ScenarioError(f"{sw}: a Space needs an 'id'")
        extra = set(sp) - SPACE_KEYS
        if extra:
            k = sorted(extra)[0]
            raise ScenarioError(f"{sw}: unknown key {k!r}{_suggest(k, SPACE_KEYS | set(KNOBS))}")
        if not re.fullmatch(r"[\w\-.]+/[\w\-.]{1,96}", sp["id"]):
            raise ScenarioError(f"{sw}: bad Space id {sp['id']!r}")
        for k, v in (sp.get("knobs") or {}).items():
            _check_knob(k, v, sw)
            if not k.startswith(SPACE_PREFIXES):
                raise ScenarioError(f"{sw}: knob {k!r} is scenario-wide, not per Space")
        if sp.get("owner", "owner") not in ("owner", "other", "pro"):
            raise ScenarioError(f"{sw}: owner must be owner, other or pro")
        spaces.append(SpaceSpec(**{**sp, "knobs": dict(sp.get("knobs") or {})}))
    repos = []
    for r in data.get("repos") or []:
        if not isinstance(r, dict) or "id" not in r or set(r) - REPO_KEYS:
            raise ScenarioError(f"{where}: bad repo entry {r!r}")
        for f in r.get("files") or []:
            if set(f) - FILE_KEYS or "path" not in f:
                raise ScenarioError(f"{where}: bad file entry {f!r}")
        repos.append(r)
    check = data.get("check") or []
    if not isinstance(check, list) or not all(isinstance(a, str) for a in check):
        raise ScenarioError(f"{where}: check must be a list of command-line arguments")
    bad = [a for a in check if a.split("=", 1)[0] in CHECK_ARGS_FORBIDDEN]
    if bad:
        raise ScenarioError(f"{where}: check must not set {bad[0].split('=', 1)[0]} (--sim decides it)")
    sc = Scenario(name=str(data["name"]), description=data["description"].strip(),
                  expect=_check_expect(data["expect"], where),
                  expect_without_token=(_check_expect(data["expect_without_token"], where)
                                        if data.get("expect_without_token") else None),
                  knobs=dict(knobs), faults=dict(faults), spaces=spaces, repos=repos, notes=data.get("notes"),
                  source=source, check=list(check))
    if sc.knobs.get("fleet.count"):
        _add_fleet(sc)
    if not sc.spaces:
        raise ScenarioError(f"{where}: needs at least one Space")
    return sc


FLEET_KINDS = {
    "healthy": dict(stage="RUNNING"),
    "sleeping": dict(stage="SLEEPING", run_log="empty"),
    "runtime_error": dict(stage="RUNTIME_ERROR", error_message="Space failed to start. Exit code: 1",
                          run_log="run-module-not-found"),
    "building": dict(stage="BUILDING", build_log="build-queued-only", run_log="empty", stage_minutes=14),
    "paused": dict(stage="PAUSED", run_log="empty"),
}


def _add_fleet(sc: Scenario) -> None:
    import random

    n = sc.knobs.get("fleet.count", 0)
    mix = sc.knobs.get("fleet.mix", KNOBS["fleet.mix"][0])
    for k in mix:
        if k not in FLEET_KINDS:
            raise ScenarioError(f"scenario {sc.name!r}: unknown fleet kind {k!r}{_suggest(k, FLEET_KINDS)}")
    sc.spaces = [s for s in sc.spaces if not re.fullmatch(r"fleetuser/space-\d{3,}", s.id)]
    rng = random.Random(sc.knobs.get("seed", 1))
    kinds, weights = list(mix), [float(mix[k]) for k in mix]
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        sc.spaces.append(SpaceSpec(id=f"fleetuser/space-{i:03d}", owner="owner", **FLEET_KINDS[kind]))


def _scenario_dir() -> Path:
    return Path(str(resources.files("hfdiag.sim") / "scenarios"))


def _load_file(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path.name}: invalid YAML: {str(exc).splitlines()[0]}") from None
    sc = parse_scenario(data, path.name)
    if sc.name != path.stem:
        raise ScenarioError(f"{path.name}: name {sc.name!r} must match the file name")
    return sc


def list_scenarios() -> list[Scenario]:
    """All shipped scenarios, sorted by name."""
    return [_load_file(p) for p in sorted(_scenario_dir().glob("*.yaml"))]


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name, or a scenario YAML file by path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return _load_file(p)
    cand = _scenario_dir() / f"{name_or_path}.yaml"
    if not cand.exists():
        names = [q.stem for q in _scenario_dir().glob("*.yaml")]
        raise ScenarioError(f"unknown scenario {str(name_or_path)!r}{_suggest(str(name_or_path), names)}")
    return _load_file(cand)
