"""Fake ZeroGPU scheduler (spaces 0.51.3 behaviour, gradio-zerogpu.md §3) and the quota ledger."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .logs import TRACEBACKS, iso_z, marker

if TYPE_CHECKING:  # pragma: no cover
    from .state import SimState, SpaceState

_A = '<a style="white-space: nowrap;text-underline-offset: 2px;color: var(--body-text-color)" href="{href}">{text}</a>'
MESSAGES = {
    "quota_exceeded": "You have exceeded your {gpu} quota ({requested}s requested vs. {left}s left). Try again in {wait}. ",
    "runs_limit": "You have exceeded your ZeroGPU runs limit. ",
    "suffix_anonymous": "Authenticate with a Hugging Face token for more quota - https://huggingface.co/settings/tokens",
    "suffix_regular": "Subscribe to Hugging Face PRO to get 40 min of ZeroGPU quota a day - "
                      "https://huggingface.co/subscribe/pro?from=ZeroGPU",
    "suffix_pro": "Add credits to keep using ZeroGPU. $1 for 10 minutes of ZeroGPU inference - "
                  "https://huggingface.co/settings/billing?add-credits=true",
    "space_limit": "Space app has reached its GPU limit. Try re-running outside of examples if it happened after "
                   "clicking one",
    "queue_timeout_no_token": "No GPU was available after 60s. Try re-running outside of examples if it happened "
                              "after clicking one",
    "queue_timeout_anonymous": "No GPU was available after 60s. "
                               + _A.format(href="https://huggingface.co/join", text="Create a free account")
                               + " to get a higher priority in ZeroGPU queues.",
    # [UNVERIFIED] exact wording of the regular/pro variants (elided in the reference); override via zerogpu.messages
    "queue_timeout_regular": "No GPU was available after 60s. "
                             + _A.format(href="https://huggingface.co/subscribe/pro?from=ZeroGPU",
                                         text="Subscribe to Pro") + " to get the highest priority in ZeroGPU queues.",
    "queue_timeout_pro": "No GPU was available after 60s. Retry later",
    "illegal_duration": "The requested GPU duration ({requested}s) is larger than the maximum allowed",
    "illegal_suffix": "Subscribe to Hugging Face PRO to allow GPU tasks up to 40 min - "
                      "https://huggingface.co/subscribe/pro?from=ZeroGPU",
    "pending_credits": "You have too many ZeroGPU credits allocated to running tasks. Try again once some of those "
                       "tasks have completed.",
    "scheduler_503": "No GPU was available",
    "expired_token": "Expired ZeroGPU proxy token",
    "waiting_node": "Waiting for a GPU to become available",
    "waiting_concurrency": "Waiting for a GPU slot on this Space",
    "acquired": "Successfully acquired a GPU",
    "aborted": "GPU task aborted",
    "ip_fallback": "Falling back to IP-based quotas ({error})",
    "raw_runtime_error": "ZeroGPU API /schedule error: 500 (Internal Server Error)",
}
T_QUOTA = "ZeroGPU quota exceeded"
T_QUEUE_TIMEOUT = "ZeroGPU queue timeout"
T_ILLEGAL = "ZeroGPU illegal duration"
T_PENDING = "ZeroGPU pending credits exceeded"
T_CLIENT = "ZeroGPU client error"
T_WORKER = "ZeroGPU worker error"
T_QUEUE = "ZeroGPU queue"
T_CLIENT_WARN = "ZeroGPU client warning"


class Ledger:
    """Quota ledger per pool ('user:NAME', 'ip:ADDR', 'space:ID'): base, charges and refunds with timestamps.

    `current` = base - charges (ts <= now) + refunds (ts <= now); a refund may be scheduled in the future.
    """

    def __init__(self, sim: SimState) -> None:
        self.sim = sim
        self._lock = threading.Lock()
        self._pools: dict[str, dict] = {}

    def _pool(self, key: str, tier: str, space: SpaceState | None = None) -> dict:
        p = self._pools.get(key)
        if p is None:
            base_map = self.sim.knob("zerogpu.base", space)
            left_map = self.sim.knob("zerogpu.left", space)
            base = int(base_map.get(tier, 0))
            runs_map = self.sim.knob("zerogpu.runs_used", space)
            p = {"pool": key, "tier": tier, "base": base, "charges": [], "refunds": [],
                 "runs": int(runs_map.get(tier, 0)),
                 "created": time.time()}
            if tier in left_map:
                p["charges"].append({"ts": time.time() - 3600, "seconds": base - int(left_map[tier]),
                                     "reason": "prior usage", "task": None})
            self._pools[key] = p
        return p

    def ensure(self, key: str, tier: str, space: SpaceState | None = None) -> None:
        with self._lock:
            self._pool(key, tier, space)

    def current(self, key: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        with self._lock:
            p = self._pools[key]
            return (p["base"] - sum(c["seconds"] for c in p["charges"] if c["ts"] <= now)
                    + sum(r["seconds"] for r in p["refunds"] if r["ts"] <= now))

    def charge(self, key: str, seconds: float, reason: str, task: str | None) -> None:
        with self._lock:
            self._pools[key]["charges"].append({"ts": time.time(), "seconds": seconds, "reason": reason,
                                                "task": task})

    def refund(self, key: str, seconds: float, reason: str, task: str | None, delay: float = 0.0) -> None:
        if seconds <= 0:
            return
        with self._lock:
            self._pools[key]["refunds"].append({"ts": time.time() + delay, "seconds": seconds, "reason": reason,
                                                "task": task})

    def add_run(self, key: str) -> None:
        with self._lock:
            self._pools[key]["runs"] += 1

    def runs(self, key: str) -> int:
        with self._lock:
            return self._pools[key]["runs"]

    def snapshot(self) -> dict[str, dict]:
        now = time.time()
        with self._lock:
            keys = list(self._pools)
        out = {}
        for k in keys:
            cur = self.current(k, now)
            with self._lock:
                p = self._pools[k]
                out[k] = {"tier": p["tier"], "base": p["base"], "current": cur, "runs": p["runs"],
                          "charges": [dict(c) for c in p["charges"]], "refunds": [dict(r) for r in p["refunds"]]}
        return out

    def __getitem__(self, key: str) -> dict:
        return self.snapshot()[key]

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._pools

    def quota_json(self, key: str, tier: str) -> dict:
        self.ensure(key, tier)
        cur = self.current(key)
        with self._lock:
            p = self._pools[key]
            used = bool(p["charges"])
            runs = p["runs"]
        resets = self.sim.knob("zerogpu.resets_in_s")
        body: dict[str, Any] = {"base": p["base"], "current": int(cur),
                                "resetsAt": iso_z(time.time() + resets, ms=True) if used else None,
                                "overquotaUsed": 0}
        limit = self.sim.knob("zerogpu.runs_limit")
        if limit is not None:
            body["runs"] = {"used": runs, "limit": limit, "remaining": max(0, limit - runs),
                            "resetsAt": iso_z(time.time() + resets, ms=True) if runs else None}
        return body


def _msg(space: SpaceState, key: str, **kw) -> str:
    tmpl = space.knob("zerogpu.messages").get(key, MESSAGES[key])
    return tmpl.format(**kw)


def identify(space: SpaceState, headers: dict) -> dict:
    """Who is billed, from the headers that reached the container."""
    from .state import USERS, jwt_payload

    tok = headers.get("x-ip-token")
    if not tok:
        return {"pool": f"space:{space.id}", "tier": "space", "auth": None, "token": False, "warning": None}
    payload = jwt_payload(tok) or {}
    ip = payload.get("ip", "127.0.0.1")
    if payload.get("error"):
        return {"pool": f"ip:{ip}", "tier": "anonymous", "auth": None, "token": True,
                "warning": _msg(space, "ip_fallback", error=payload["error"])}
    user = payload.get("user")
    if user:
        tier = next((u["tier"] for u in USERS.values() if u["name"] == user), "regular")
        return {"pool": f"user:{user}", "tier": tier, "auth": tier, "token": True, "warning": None}
    return {"pool": f"ip:{ip}", "tier": "anonymous", "auth": None, "token": True, "warning": None}


def requested_seconds(space: SpaceState) -> int:
    duration = space.knob("zerogpu.duration_s")
    size = space.knob("zerogpu.size")
    factor = 1.5 if space.knob("zerogpu.gpu") == "blackwell" else 1.0
    if size == "xlarge":
        return int(duration) * 2
    return int(round(duration * factor))


def _suffix(space: SpaceState, ident: dict, caller: str | None) -> str:
    if caller == "app":
        return ""
    return _msg(space, {"pro": "suffix_pro", "regular": "suffix_regular"}.get(ident["auth"], "suffix_anonymous"))


async def run_task(sim: SimState, space: SpaceState, event: dict):
    """Async generator of ('log', level, text, title) | ('wait', seconds) | ('done', success, payload).

    payload on success: output data list; on failure: {"error": str|None, "title": str|None, "gr_error": bool}.
    """
    headers = event["headers"]
    caller = headers.get("x-gradio-user")
    ident = identify(space, headers)
    sim.ledger.ensure(ident["pool"], ident["tier"], space)
    pool = ident["pool"]
    requested = requested_seconds(space)
    outcome = space.knob("zerogpu.outcome")
    task = event["event_id"]
    fn = space.knob("gradio.api_name")
    mark = space.knob("zerogpu.markers")
    event["zerogpu"] = {"pool": pool, "requested": requested, "identity": ident}

    def fail(title, text, gr_error=True):
        return ("done", False, {"error": text, "title": title, "gr_error": gr_error})

    if ident["warning"]:
        yield ("log", "warning", ident["warning"], T_CLIENT_WARN)
    if outcome == "scheduler_503":
        yield fail(T_CLIENT, _msg(space, "scheduler_503"))
        return
    if outcome == "expired_token":
        yield fail(T_CLIENT, _msg(space, "expired_token"))
        return
    if outcome == "raw_runtime_error":
        yield fail(None, _msg(space, "raw_runtime_error"), gr_error=False)
        return
    if outcome == "pending_credits":
        yield fail(T_PENDING, _msg(space, "pending_credits"))
        return
    max_map = space.knob("zerogpu.max_duration_s")
    if outcome == "illegal_duration" or (outcome == "auto" and ident["tier"] in max_map
                                         and requested > max_map[ident["tier"]]):
        text = _msg(space, "illegal_duration", requested=requested)
        if caller != "app" and ident["auth"] in (None, "regular"):
            text += _msg(space, "illegal_suffix")
        yield fail(T_ILLEGAL, text)
        return
    limit = space.knob("zerogpu.runs_limit")
    runs_hit = outcome == "runs_limit" or (outcome == "auto" and limit is not None and sim.ledger.runs(pool) >= limit)
    left = sim.ledger.current(pool)
    quota_hit = outcome == "quota_exceeded" or (outcome == "auto" and requested > left)
    if runs_hit or quota_hit:
        if not ident["token"]:
            yield fail(T_QUOTA, _msg(space, "space_limit"))
        elif runs_hit:
            yield fail(T_QUOTA, _msg(space, "runs_limit") + _suffix(space, ident, caller))
        else:
            gpu = {"pro": "Pro ZeroGPU", "regular": "free ZeroGPU"}.get(ident["auth"], "ZeroGPU")
            wait = str(timedelta(seconds=int(space.knob("zerogpu.resets_in_s"))))
            yield fail(T_QUOTA, _msg(space, "quota_exceeded", gpu=gpu, requested=requested, left=max(0, int(left)),
                                     wait=wait) + _suffix(space, ident, caller))
        return
    # approved: reserve the requested seconds
    sim.ledger.charge(pool, requested, "reserve", task)
    sim.ledger.add_run(pool)
    if outcome == "queue_timeout" or space.knob("zerogpu.queued"):
        reason = space.knob("zerogpu.queuing_reason")
        yield ("log", "info", _msg(space, "waiting_concurrency" if reason == "concurrency" else "waiting_node"),
               T_QUEUE)
        yield ("wait", float(space.knob("zerogpu.queue_wait_s")))
        if outcome == "queue_timeout":
            mode = space.knob("zerogpu.settlement")
            if mode == "settle":
                sim.ledger.refund(pool, requested, "no gpu: released", task)
            elif mode == "refund_after":
                sim.ledger.refund(pool, requested, "no gpu: refunded later", task,
                                  delay=float(space.knob("zerogpu.refund_after_s")))
            if not ident["token"]:
                yield fail(T_QUOTA, _msg(space, "queue_timeout_no_token"))
            else:
                key = {"pro": "queue_timeout_pro", "regular": "queue_timeout_regular"}.get(ident["auth"],
                                                                                         "queue_timeout_anonymous")
                yield fail(T_QUEUE_TIMEOUT, _msg(space, key))
            return
        yield ("log", "success", _msg(space, "acquired"), T_QUEUE)
    event["zerogpu"]["acquired"] = True
    if outcome == "worker_aborted" and space.knob("zerogpu.abort_before_entry"):
        # aborted between allocation and the user's function: no gpu.enter marker, the reservation is kept
        yield fail(T_WORKER, _msg(space, "aborted"))
        return
    if mark:
        space.run_log.append(marker("gpu.enter", fn=fn, id=task))
    mult = 2 if space.knob("zerogpu.size") == "xlarge" else 1
    used = min(requested, float(space.knob("zerogpu.function_s")) * mult)
    yield ("wait", float(space.knob("gradio.process_s")))
    if outcome == "worker_aborted":
        # the worker process died: no gpu.exit marker, the whole reservation is consumed
        yield fail(T_WORKER, _msg(space, "aborted"))
        return
    if outcome == "worker_error":
        cls = space.knob("zerogpu.worker_exception")
        tb = space.knob("zerogpu.worker_traceback")
        lines = TRACEBACKS.get(tb, TRACEBACKS["generic"]) if isinstance(tb, str) else list(tb)
        space.run_log.extend(lines)
        if mark:
            space.run_log.append(marker("gpu.exit", fn=fn, id=task, ok=False, error=cls))
        sim.ledger.refund(pool, requested - used, "settle", task)
        yield fail(T_WORKER, cls)
        return
    if mark:
        space.run_log.append(marker("gpu.exit", fn=fn, id=task, ok=True))
    sim.ledger.refund(pool, requested - used, "settle", task)
    yield ("done", True, list(space.knob("gradio.output")))
