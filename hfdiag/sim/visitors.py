"""Other visitors' traffic on a public Space (knob `app.other_visitors`).

A busy Space's run log holds the calls of everyone who uses it. hfdiag must not read another visitor's
"GPU task aborted", quota refusal or gpu.enter marker as the outcome of its own check, so the simulator writes
such lines right before each hfdiag request (one carrying an `hfdiag_nonce`) reaches the app: they land inside
any time window of that check, and only an identity (nonce, session hash, event id) tells them apart."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .logs import TRACEBACKS, marker
from .state import hexid
from .zerogpu import MESSAGES, T_QUOTA, T_WORKER

if TYPE_CHECKING:  # pragma: no cover
    from .state import SimState, SpaceState


def visitor_lines(sim: SimState, space: SpaceState) -> list[str]:
    """The run-log lines of one round of other visitors' calls, one call per entry of `app.other_visitors`."""
    rng = sim.rng
    fn = space.knob("gradio.api_name")
    prefix = "/gradio_api" if not str(space.knob("gradio.version")).startswith("4.") else ""
    markers = space.knob("zerogpu.markers")
    out: list[str] = []
    for outcome in space.knob("app.other_visitors"):
        session, event = hexid(rng, 11), hexid(rng, 32)
        ip = f"10.16.{rng.randint(0, 40)}.{rng.randint(1, 250)}:{30000 + rng.randint(0, 30000)}"
        out.append(f'INFO:     {ip} - "POST {prefix}/queue/join?session_hash={session} HTTP/1.1" 200 OK')
        entered = outcome in ("success", "worker_error")
        if markers and entered:
            out.append(marker("gpu.enter", fn=fn, id=event))
        if outcome == "gpu_aborted":
            out.append(f"gradio.exceptions.Error: '{MESSAGES['aborted']}' (title: {T_WORKER})")
        elif outcome == "quota_exceeded":
            text = MESSAGES["quota_exceeded"].format(gpu="free ZeroGPU", requested=90, left=12, wait="0:01:23")
            out.append(f"gradio.exceptions.Error: '{text.strip()}' (title: {T_QUOTA})")
        elif outcome == "worker_error":
            out.extend(TRACEBACKS["generic"])
        if markers and entered:
            out.append(marker("gpu.exit", fn=fn, id=event, ok=outcome == "success"))
    return out
