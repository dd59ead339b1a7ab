"""Whose evidence is it: ZeroGPU call outcomes in a public Space's run log belong to whoever made the call.

The run log of a ZeroGPU Space holds every visitor's calls: another visitor's quota refusal, "GPU task aborted" or
gpu.enter marker says nothing about this caller's quota or call. The logs probe reads them as text, without an
identity, so on a ZeroGPU Space they are set aside as `zerogpu.visitor_evidence` (listed, never a rule's input):
only the zerogpu probe's own call (`--zerogpu-call`, matched by its event id, nonce and session hash) yields
attributed zerogpu.* facts. On other Spaces such lines come from the Space's own outbound calls to a ZeroGPU Space
(Space-to-Space), which are the Space's, and stay."""

from __future__ import annotations

from hfdiag.evidence.model import Fact, ProbeResult

MAX_LISTED = 12


def set_aside_visitor_calls(results: list[ProbeResult]) -> None:
    """Move the logs probe's zerogpu.* facts of a ZeroGPU Space into one unattributed-evidence fact."""
    space = next((r for r in results if r.probe == "space"), None)
    if space is None or not any(f.key == "space.zerogpu" and f.value is True for f in space.facts):
        return
    logs = next((r for r in results if r.probe == "logs"), None)
    if logs is None:
        return
    calls = [f for f in logs.facts if f.key.startswith("zerogpu.")]
    if not calls:
        return
    logs.facts = [f for f in logs.facts if not f.key.startswith("zerogpu.")]
    calls.sort(key=lambda f: f.key != "zerogpu.error_kind")  # what the call got first, then the details
    listed = list(dict.fromkeys(f"{f.key.removeprefix('zerogpu.')}={f.value}" for f in calls))[:MAX_LISTED]
    logs.facts.append(Fact("zerogpu.visitor_evidence", listed, "probe:logs", "observed"))
    logs.detail["visitor_evidence"] = (
        "ZeroGPU call outcomes in the run log carry no identity of this check (its nonce, session hash or event "
        "id): they may be other visitors' calls, so no rule reads them.")
