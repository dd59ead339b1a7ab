"""Every network fault on every probe's endpoint, through the real CLI against the simulator.

For each (endpoint, fault): the run ends within its --timeout + 1 s (the probing phase, timed inside the subprocess;
the timeout is 3 s on a quiet machine and grows with the load the fault-free runs measured); the faulty probe
reports a precise status (timeout for a server that stays silent or too slow, error otherwise) and message;
every probe that does not depend on the faulty one keeps exactly the facts of a fault-free run; the verdict
is inconclusive, not confident, or the bucket/hop the fault really points at; the hf token never reaches a
host other than the Hub (a redirect to a foreign host arrives without Authorization).
"""

from __future__ import annotations

import re

import pytest

from .conftest import AFTER_CHECK_S, VOLATILE, Case

GRADIO, ZERO = "healthy-gradio", "healthy-zerogpu"
TRANSFER_ARGS = ("--transfer-file", "simuser/sim-model:model.safetensors")  # a Xet file: resolve, CAS, bytes

# endpoint name -> (scenario, fault selector, the probe that reads it, extra CLI args, knob overrides)
ENDPOINTS = {
    "space": (GRADIO, "hub:GET /api/spaces/simuser/hello-gradio", "space", (), ()),
    "whoami": (GRADIO, "hub:GET /api/whoami-v2", "auth", (), ()),
    # the simulated log streams end after their replay, so faults that rewrite a whole answer apply too
    "logs": (GRADIO, "hub:GET /api/spaces/*/logs/*", "logs", (), (("logs.stream_open", False),)),
    "route": (GRADIO, "space:GET /", "route", (), ()),
    "status": (GRADIO, "hub:GET /status/index.json", "status", (), ()),
    "zerogpu-config": (ZERO, "space:GET /config", "zerogpu", (), ()),
    "zerogpu-quota": (ZERO, "hub:GET /api/spaces/zero-gpu/quota", "zerogpu", (), ()),
    "transfer-resolve": (GRADIO, "hub:HEAD /simuser/sim-model/resolve/*", "transfer", TRANSFER_ARGS, ()),
    "transfer-cas": (GRADIO, "cas:GET /v1/reconstructions/*", "transfer", TRANSFER_ARGS, ()),
}
HTTP_FAULTS = ("reset", "silence", "drip", "sse_keepalive", "huge_json", "malformed_json", "invalid_utf8",
               "gzip_bomb", "gzip_bomb_stacked", "redirect_loop", "redirect_foreign", "close_mid_body")
# faults of an event stream: only the log streams read one (the ZeroGPU queue stream is opt-in)
SSE_FAULTS = ("sse_gzip_bomb", "sse_gzip_bomb_stacked", "sse_endless_line", "sse_comments")
# named faults with parameters (the simulator's mapping form)
FAULT_SPECS = {
    "gzip_bomb_stacked": (("fault", "gzip_bomb"), ("layers", 2)),  # `gzip, gzip`: 1 GiB from a few KB
    "sse_gzip_bomb": (("fault", "gzip_bomb"), ("ctype", "text/event-stream")),
    "sse_gzip_bomb_stacked": (("fault", "gzip_bomb"), ("layers", 2), ("ctype", "text/event-stream")),
}
SLOW = {"silence", "drip", "sse_keepalive"}  # the server never completes an answer: status `timeout`

# What a precise message says, per fault (a fragment of the probe's one-line error).
MESSAGE = {
    "reset": r"reset|closed the connection",
    "silence": r"within|deadline|no answer|no data",
    "drip": r"within|deadline|too slow",
    "sse_keepalive": r"within|deadline",
    "huge_json": r"larger than|not an event stream",
    "malformed_json": r"malformed JSON|not an event stream|JSON",
    "invalid_utf8": r"UTF-8|not an event stream",
    "gzip_bomb": r"larger than|not an event stream",
    "gzip_bomb_stacked": r"larger than|not an event stream",
    "sse_gzip_bomb": r"event stream .* larger than 16 MiB",
    "sse_gzip_bomb_stacked": r"event stream .* larger than 16 MiB",
    "sse_endless_line": r"event stream .* larger than 16 MiB",
    "sse_comments": r"within|deadline",
    "redirect_loop": r"redirect loop|not followed|redirects",
    "redirect_foreign": r"another host|not followed",
    "close_mid_body": r"closed the connection|reset",
}

# (endpoint, fault) pairs where the fault is not a failure for that probe, and what it reads instead.
NOT_A_FAILURE = {
    # the route probe reads status and headers, never the body, and follows no redirect: a 200 JSON answer
    # (malformed, invalid UTF-8) or a 3xx (to another host, or to itself) is the answer it reads
    ("route", "malformed_json"), ("route", "invalid_utf8"), ("route", "redirect_foreign"), ("route", "redirect_loop"),
    # /resolve may redirect to another host (the CDN): followed without the token, read as the CDN's answer
    ("transfer-resolve", "redirect_foreign"),
    # the Space origin may redirect elsewhere (followed without the token, like a browser): another answer
    ("zerogpu-config", "redirect_foreign"),
    # an endless stream of keep-alives is exactly how an empty log looks; a bad byte in a log line is replaced
    ("logs", "sse_keepalive"), ("logs", "invalid_utf8"), ("logs", "sse_comments"),
}

# probes whose facts legitimately change when another probe fails (they use its results)
DEPENDENTS = {
    "space": {"route", "zerogpu", "transfer", "dns"},
    "auth": {"zerogpu"},
    "logs": set(), "route": set(), "status": set(), "zerogpu": set(), "transfer": {"dns"}, "dns": set(),
}
# facts one probe records about another probe's work: they belong to that probe
OWNER_OF_FACT = {"route.nonce_in_run_log": "route"}
# buckets a fault on this endpoint may name with high confidence (the fault really is at that boundary)
RIGHT_BUCKETS = {"route": {("proxy", "request.")}}


def comparable(run, probes: set[str], affected: set[str]) -> dict:
    return {k: v for k, v in run.facts_of(probes).items()
            if not VOLATILE.search(k) and OWNER_OF_FACT.get(k) not in affected}


def case_for(endpoint: str, fault: str | None) -> Case:
    scenario, selector, _, args, knobs = ENDPOINTS[endpoint]
    return Case(scenario, ((selector, FAULT_SPECS.get(fault, fault)),) if fault else (), knobs, args)


# the quota endpoint is a Hub JSON endpoint like whoami: a representative subset keeps the suite short
# /resolve is read with HEAD: an answer without a body, so only the faults before or instead of it apply
SUBSET = {"zerogpu-quota": ("reset", "silence", "gzip_bomb", "gzip_bomb_stacked", "redirect_foreign"),
          "transfer-resolve": ("reset", "silence", "redirect_loop", "redirect_foreign"),
          "logs": HTTP_FAULTS + SSE_FAULTS}
CASES = [(e, f) for e in ENDPOINTS for f in SUBSET.get(e, HTTP_FAULTS)]


@pytest.fixture(scope="module", autouse=True)
def _start_all(run_pool):
    """Queue every run (baselines first) so they progress in the background while the tests assert."""
    for e in ENDPOINTS:
        run_pool.submit(case_for(e, None), baseline=True)
    for e, f in CASES:
        run_pool.submit(case_for(e, f))
    run_pool.submit(Case(GRADIO, (("dns:*", "drop"),)))


def _common_guarantees(run, validate_report):
    assert run.report is not None, f"no JSON report (exit {run.returncode}): {run.stderr[-500:]}"
    validate_report(run.report)
    assert run.returncode in (0, 1, 3), run.stderr[-500:]
    assert "Traceback" not in run.stderr
    # the deadline holds: the probing phase ends within the run's own --timeout + 1 s, and the report follows
    # at once (the interpreter's start on a busy machine is not part of the deadline: measured apart)
    ph = run.phases
    assert ph.get("check_many_s", run.elapsed) <= run.timeout + 1.0, f"probing took {ph}, --timeout {run.timeout:g}"
    after = ph.get("process_s", 0) - ph.get("check_start_s", 0) - ph.get("check_many_s", 0)
    assert after <= AFTER_CHECK_S, f"{after:.2f}s between the end of probing and the exit: {ph}"
    # the hf token goes only to the Hub, and never across a redirect to another host
    owner_token_roles = {r.role for r in run.requests if r.auth in ("owner", "other", "pro")}
    assert owner_token_roles <= {"hub"}, owner_token_roles
    foreign = [r for r in run.requests if r.role == "foreign"]
    assert not any(r.has_authorization for r in foreign), "the foreign host received Authorization"
    for p in run.report["probes"]:
        assert "\n" not in (p.get("error") or "")
        assert run.tokens["owner"] not in (p.get("error") or "")


@pytest.mark.parametrize("endpoint,fault", CASES, ids=[f"{e}-{f}" for e, f in CASES])
def test_fault(endpoint, fault, run_pool, validate_report):
    _, _, probe, _, _ = ENDPOINTS[endpoint]
    base = run_pool.get(case_for(endpoint, None))
    run = run_pool.get(case_for(endpoint, fault))
    _common_guarantees(run, validate_report)

    # 1. the faulty probe: precise status and message
    p = run.probe(probe)
    if (endpoint, fault) not in NOT_A_FAILURE:
        want = "timeout" if fault in SLOW else "error"
        assert p["status"] == want, (p["status"], p.get("error"))
        assert re.search(MESSAGE[fault], p.get("error") or ""), p.get("error")

    # 2. every probe that does not use the faulty one's results has the facts of the fault-free run
    affected = {probe} | DEPENDENTS[probe]
    unaffected = {q["probe"] for q in base.report["probes"]} - affected
    want, got = comparable(base, unaffected, affected), comparable(run, unaffected, affected)
    assert got == want, {k: (want.get(k), got.get(k)) for k in set(want) | set(got) if want.get(k) != got.get(k)}
    for name in unaffected:
        assert run.probe(name)["status"] == base.probe(name)["status"], (name, run.probe(name))

    # 3. the verdict: inconclusive, not confident, the fault-free bucket, or the boundary the fault is at
    v = run.report["verdict"]
    right = any(v["bucket"] == b and (v.get("first_missing_hop") or "").startswith(h)
                for b, h in RIGHT_BUCKETS.get(endpoint, ()))
    assert v["bucket"] in ("inconclusive", base.report["verdict"]["bucket"]) or v["confidence"] != "high" \
        or right, v


def test_dns_drop(run_pool, validate_report):
    """The DNS responder answers nothing: the dns probe says which hosts timed out, the rest is intact."""
    base = run_pool.get(case_for("space", None))
    run = run_pool.get(Case(GRADIO, (("dns:*", "drop"),)))
    _common_guarantees(run, validate_report)
    dns = run.probe("dns")
    facts = run.facts_of({"dns"})
    if dns["status"] == "ok":  # every lookup timed out within the probe's time: each host says so
        assert facts.get("dns.failing_hosts"), facts
        assert all(v == "timeout" for k, v in facts.items() if k.startswith("dns.outcome.")), facts
    else:  # the lookups outlived the deadline: a timeout that says where it stopped
        assert dns["status"] == "timeout" and "deadline" in dns["error"], dns
    others = {"space", "auth", "logs", "route", "status"}
    want, got = comparable(base, others, {"dns"}), comparable(run, others, {"dns"})
    assert got == want
    v = run.report["verdict"]
    assert v["bucket"] in ("inconclusive", "egress", base.report["verdict"]["bucket"]) or v["confidence"] != "high"
