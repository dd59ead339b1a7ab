"""Which evidence chains a check exercised, and what would exercise the others.

A `healthy` verdict is only as wide as the probes that ran: the ZeroGPU queue and the byte path are opt-in
(they spend quota or bandwidth), and outbound calls can only be tested from inside the Space. The report lists
each chain as exercised or not, with the flag that would exercise it, so "healthy" never hides a gap."""

from __future__ import annotations

from hfdiag.evidence.model import FactSet

GPU_PREFIXES = ("zero-", "t4-", "l4", "l40s", "a10g", "a100", "h100", "h200")


def coverage(facts: FactSet) -> list[dict]:
    """[{chain, exercised, detail}] for the chains a Space check can cover, in the order of the chains."""
    if facts.get("space.exists") is not True:
        return []  # nothing to cover: the verdict line says why
    out = []
    stage_known = facts.get("space.stage") is not None
    build_seen = facts.get("build_log.available") is True
    not_read = facts.get("logs.not_read_healthy") is True  # scan: no log streams for a healthy stage and route
    out.append(_row("build", build_seen, "build log read" if build_seen else
                    "build log not read (scan: the stage and the route were healthy)" if not_read else
                    "the build log needs the owner's token" if stage_known else "no Space runtime"))
    route = facts.get("route.edge_answered") is True
    nonce = facts.get("route.nonce_in_run_log")
    out.append(_row("request", route, ("requests answered" + (", nonce seen in the run log" if nonce else
                                                              "; run log not read (scan)" if not_read else ""))
                    if route else "no request reached the Space origin"))
    zerogpu = facts.get("space.zerogpu") is True
    if facts.get("zerogpu.queue_joined") is not None:
        out.append(_row("zerogpu", True, "one queued call (--zerogpu-call)"))
    elif zerogpu:
        out.append(_row("zerogpu", False, "ZeroGPU queue not exercised: add --zerogpu-call API "
                                          "(with --zerogpu-data JSON; spends quota)"))
    if facts.get("transfer.resolve_status") is not None:
        out.append(_row("transfer", True, "bounded byte read (--transfer-file)"))
    else:
        models = facts.get("space.models") or []
        hardware = str(facts.get("space.hardware") or "")
        if models or zerogpu or hardware.startswith(GPU_PREFIXES):
            repo = models[0] if models else "REPO"
            out.append(_row("transfer", False, f"model download path not exercised: add --transfer-file {repo}[:PATH]"))
    if facts.get("egress.marker_seen") is True:
        out.append(_row("egress", True, "hfdiag egress markers in the run log"))
    else:
        out.append(_row("egress", False, "outbound calls from the Space not exercised: run `hfdiag egress HOST:PORT` "
                                         "inside it"))
    return out


def not_exercised_note(rows: list[dict]) -> str:
    """One sentence for a healthy verdict: what it does not cover (the hints that matter most)."""
    gaps = [r["detail"] for r in rows if not r["exercised"] and r["chain"] in ("zerogpu", "transfer")]
    return ("Not covered by this verdict: " + "; ".join(gaps) + ".") if gaps else ""


def _row(chain: str, exercised: bool, detail: str) -> dict:
    return {"chain": chain, "exercised": exercised, "detail": detail}
