"""`hfdiag check` against the simulator's ZeroGPU scenarios, through the real CLI as subprocesses (a few at a
time, so the module stays fast without starving the runs on a busy machine), over loopback HTTP; the simulator
runs in this process so the test can count the requests it received and read its quota ledger."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ROOT, cli_env

from hfdiag.sim import Simulator, load_scenario

CALL = ("--zerogpu-call", "predict", "--zerogpu-data", '["hi"]')
QUEUE_PATHS = ("queue/join", "queue/data", "/call/")
PARALLEL = 3  # CLI runs in flight at once: each is mostly waiting, but 17 interpreters starting at once starve a
# 2-core machine, and the settle waits below are measured against the simulator's clock

# name: (scenario, overrides, token role or None, extra CLI args)
CASES = {
    "charged-markers": ("zerogpu-no-gpu-charged", {"app.request_markers": True}, "owner",
                        CALL + ("--settle-wait", "0.5")),
    "charged": ("zerogpu-no-gpu-charged", {"zerogpu.markers": False}, "owner", CALL + ("--settle-wait", "0.5")),
    "charged-no-settle": ("zerogpu-no-gpu-charged", {"zerogpu.markers": False}, "owner", CALL),
    # the refund lands 2 s after the failed call: the read right after the call comes well before it and the
    # settled read (4 s) well after it, even on a busy machine
    "refunded": ("zerogpu-no-gpu-refunded", {"zerogpu.refund_after_s": 2.0, "app.request_markers": True}, "owner",
                 CALL + ("--settle-wait", "4")),
    "quota": ("zerogpu-quota-exceeded", None, "owner", CALL),
    "quota-free": ("zerogpu-quota-exceeded-free", None, "owner", CALL),
    "quota-pro": ("zerogpu-quota-exceeded-pro", None, "pro", CALL),
    "quota-anon": ("zerogpu-quota-exceeded-anonymous", None, None, CALL),
    "runs": ("zerogpu-runs-limit", None, "owner", CALL),
    "xlarge": ("zerogpu-xlarge-2x", None, "owner", CALL),
    "no-ip-token": ("zerogpu-identity-missing-ip-token", None, "owner", CALL),
    "worker-sm120": ("zerogpu-worker-error-sm120", None, "owner", CALL),
    "worker-sm120-other": ("zerogpu-worker-error-sm120", None, "other", CALL),
    "healthy-call": ("healthy-zerogpu", None, "owner", CALL + ("--settle-wait", "0.2")),
    "passive": ("healthy-zerogpu", None, "owner", ()),
    "passive-anon-gradio4": ("healthy-zerogpu", {"gradio.version": "4.44.1"}, None, ()),
    "not-zerogpu": ("healthy-gradio", None, "owner", CALL),
}


class Run:
    def __init__(self, sim, proc, report):
        self.sim, self.proc, self.report = sim, proc, report
        self.facts = report["facts"] if isinstance(report["facts"], dict) else {
            f["key"]: f["value"] for f in report["facts"]}
        self.verdict = report["verdict"]
        self.probe = next(p for p in report["probes"] if p["probe"] == "zerogpu")

    def pool(self, name: str) -> dict:
        return self.sim.ledger[name]


@pytest.fixture(scope="module")
def runs():
    sims = {}
    # the simulator refunds within a second: a 0.5 s settle wait is long enough to observe the settlement here
    env = cli_env(NO_PROXY="*", no_proxy="*", HFDIAG_NO_PROGRESS="1", HFDIAG_SETTLE_MIN_S="0.5")

    def run(name: str) -> Run:
        scenario, overrides, who, extra = CASES[name]
        sim = sims[name]
        args = [sys.executable, "-m", "hfdiag", "check", sim.space_ids[0], "--endpoint", sim.endpoint,
                "--dns-server", sim.dns_server, "--status-url", sim.status_url, "--format", "json", "--quiet",
                "--timeout", "60", "--route-requests", "1", *extra]
        if who:
            args += ["--token", sim.tokens[who]]
        proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)
        assert proc.stdout, f"{name}: {proc.stderr}"
        assert "Traceback" not in proc.stderr, proc.stderr
        return Run(sim, proc, json.loads(proc.stdout))

    try:
        for name, (scenario, overrides, _, _) in CASES.items():
            sims[name] = Simulator(scenario, overrides=overrides).start()
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            yield dict(zip(CASES, pool.map(run, CASES), strict=True))
    finally:
        for s in sims.values():
            s.stop()


def assert_verdict(run: Run, exp: dict) -> None:
    v = run.verdict
    ids = [(f["id"], f["status"]) for f in run.report["findings"]][:8]
    assert v["bucket"] == exp["bucket"], (v, ids)
    assert v["knowledge"] == exp.get("knowledge"), (v, ids)
    if exp.get("first_missing_hop"):
        assert v["first_missing_hop"] == exp["first_missing_hop"], v


@pytest.mark.parametrize("name", ["charged-markers", "charged", "refunded", "quota", "quota-free", "quota-pro",
                                  "runs", "xlarge", "no-ip-token", "worker-sm120"])
def test_scenario_bucket_and_knowledge(runs, name):
    run = runs[name]
    assert_verdict(run, load_scenario(CASES[name][0]).expect)
    assert run.proc.returncode == 1
    assert run.probe["status"] == "ok", run.probe["error"]


def test_anonymous_caller_over_the_anonymous_pool_is_explained_quota(runs):
    assert_verdict(runs["quota-anon"], load_scenario("zerogpu-quota-exceeded-anonymous").expect_without_token)
    assert runs["quota-anon"].facts["zerogpu.quota_variant"] == "anonymous"


def test_no_gpu_charged_observes_the_function_was_never_entered(runs):
    run = runs["charged-markers"]
    f = run.facts
    assert run.verdict["rule"] == "HFD-ZGS-050"
    assert f["zerogpu.markers_present"] is True and f["zerogpu.function_entered"] is False
    assert f["zerogpu.waiting_seen"] is True and f["zerogpu.acquired"] is False
    assert f["zerogpu.error_title"] == "ZeroGPU queue timeout"
    assert f["zerogpu.reservation_s"] == 90 and f["zerogpu.charged_reservation"] is True
    assert f["zerogpu.refunded"] is False and f["zerogpu.settled_ok"] is False
    because = run.verdict["summary"]
    assert "from 300s to 210s" in because and "charged 90s" in because and "reservation of 90s" in because


def test_without_markers_the_never_entered_is_inferred_with_lower_confidence(runs):
    run = runs["charged"]
    assert run.verdict["rule"] == "HFD-ZGS-051"
    assert "zerogpu.function_entered" not in run.facts
    kinds = {f["key"]: f["kind"] for f in run.probe["facts"]}
    assert kinds["zerogpu.reservation_s"] == "inferred"


def test_without_settle_wait_the_settlement_question_stays_open(runs):
    run = runs["charged-no-settle"]
    f = run.facts
    assert f["zerogpu.charged_s"] == 90 and "zerogpu.charged_settled_s" not in f and "zerogpu.settled_ok" not in f
    findings = {x["id"]: x for x in run.report["findings"]}
    assert findings["HFD-ZGS-051"]["status"] == "inconclusive"
    assert "zerogpu.settled_ok" in findings["HFD-ZGS-051"]["missing_facts"]


def test_refund_after_the_settle_delay_is_reserve_and_settle(runs):
    run = runs["refunded"]
    f = run.facts
    assert run.verdict["rule"] == "HFD-ZGS-052"
    assert f["zerogpu.charged_s"] == 90 and f["zerogpu.charged_settled_s"] == 0
    assert f["zerogpu.refunded"] is True and f["zerogpu.settled_ok"] is True
    assert f["zerogpu.function_entered"] is False


@pytest.mark.parametrize("name", ["charged-markers", "charged", "refunded", "quota", "quota-pro", "runs", "xlarge",
                                  "healthy-call"])
def test_quota_numbers_equal_the_simulator_ledger(runs, name):
    run = runs[name]
    user = {"pro": "prouser"}.get(CASES[name][2], "simuser")
    pool = run.pool(f"user:{user}")
    f = run.facts
    quota = run.probe["detail"]["quota"]
    # before: the base minus what was used before this call (the scenario's prior usage)
    prior = sum(c["seconds"] for c in pool["charges"] if c["task"] is None)
    assert f["zerogpu.quota_base_s"] == pool["base"]
    assert f["zerogpu.quota_current_s"] == pool["base"] - prior == quota["before"]["current"]
    # after: exactly what the ledger held when the probe read it (the second quota read; refunds scheduled for
    # later had not landed yet)
    reads = run.sim.requests.find(role="hub", path_contains="zero-gpu/quota")
    late = sum(r["seconds"] for r in pool["refunds"] if r["ts"] > reads[1].ts)
    assert f["zerogpu.quota_after_s"] == pool["current"] - late
    charges = sum(c["seconds"] for c in pool["charges"] if c["task"] is not None)
    refunds_now = sum(r["seconds"] for r in pool["refunds"]) - late
    assert f["zerogpu.charged_s"] == charges - refunds_now
    if "zerogpu.quota_settled_s" in f:
        assert f["zerogpu.quota_settled_s"] == pool["current"]
        assert f["zerogpu.charged_settled_s"] == charges - sum(r["seconds"] for r in pool["refunds"])


def test_quota_variants_and_suffixes(runs):
    assert runs["quota-pro"].facts["zerogpu.quota_variant"] == "pro"
    assert runs["quota-pro"].facts["zerogpu.caller_pool"] == "pro"
    assert runs["quota-free"].facts["zerogpu.quota_variant"] == "free"
    assert runs["quota"].facts["zerogpu.requested_s"] == 90 and runs["quota"].facts["zerogpu.left_s"] == 20
    x = runs["xlarge"].facts
    assert x["zerogpu.requested_s"] == 120 and x["zerogpu.reservation_s"] == 120 and x["zerogpu.left_s"] == 100
    assert x["zerogpu.charged_s"] == 0
    r = runs["runs"].facts
    assert r["zerogpu.error_kind"] == "runs_limit" and r["zerogpu.runs_remaining"] == 0


def test_missing_ip_token_is_observed_on_the_api_path(runs):
    run = runs["no-ip-token"]
    f = run.facts
    assert f["zerogpu.ip_token_sent"] is False and f["zerogpu.caller_path"] == "api"
    assert f["zerogpu.error_kind"] == "space_limit"
    assert run.pool("space:simuser/zero-no-token")["charges"][0]["task"] is None  # only the scenario's prior usage
    join = run.sim.requests.find(role="space", path_contains="queue/join")
    assert len(join) == 1 and join[0].has_authorization  # the token travelled to the Space origin, the IP token not
    assert set(run.probe["detail"]["caller_paths"]) == {"browser", "direct", "api", "custom-frontend",
                                                        "space-to-space"}


def test_worker_error_traceback_is_found_in_the_run_log_and_classified(runs):
    run = runs["worker-sm120"]
    f = run.facts
    assert f["zerogpu.worker_error_class"] == "RuntimeError"
    assert f["zerogpu.worker_error_origin"] == "runtime"
    assert f["runtime.error_kind"] in ("no_kernel_image", "sm_incompatible")
    assert "no kernel image" in f["zerogpu.worker_exception_line"]
    assert "only in the Space's run log" in run.probe["detail"]["worker_error"]
    assert f["zerogpu.function_entered"] is True


def test_worker_error_without_the_owner_token_says_where_the_traceback_is(runs):
    run = runs["worker-sm120-other"]
    assert "zerogpu.worker_error_origin" not in run.facts
    assert "only in the Space's run log" in run.probe["detail"]["worker_error"]
    finding = {x["id"]: x for x in run.report["findings"]}["HFD-RT-050"]
    assert finding["status"] == "inconclusive" and finding["missing_facts"] == ["zerogpu.worker_error_origin"]


def test_healthy_call_timeline(runs):
    run = runs["healthy-call"]
    timeline = run.probe["detail"]["timeline"]
    events = [e["event"] for e in timeline]
    order = ["joined", "estimation", "process_starts", "gpu_waiting", "gpu_acquired", "completed", "close_stream",
             "settle_wait"]
    for a, b in zip(order, order[1:], strict=False):
        assert events.index(a) < events.index(b), events
    assert all(isinstance(e["t"], float) and e["at"].endswith("Z") for e in timeline)
    f = run.facts
    assert f["zerogpu.completed_ok"] is True and f["zerogpu.function_entered"] is True
    assert f["zerogpu.settled_ok"] is True and f["zerogpu.charged_settled_s"] == 2
    assert run.probe["detail"]["call"]["event_id"] == timeline[0]["event_id"]


@pytest.mark.parametrize("name", ["passive", "passive-anon-gradio4"])
def test_no_queue_call_without_the_opt_in_flag(runs, name):
    run = runs[name]
    space = [r for r in run.sim.requests if r.role == "space"]
    assert space, "the check talked to the Space"
    assert not [r for r in space if any(p in r.path for p in QUEUE_PATHS)], [r.path for r in space]
    assert "zerogpu.queue_joined" not in run.facts and "timeline" not in run.probe["detail"]
    for pool in run.sim.ledger.snapshot().values():
        assert [c for c in pool["charges"] if c["task"]] == []
    assert run.probe["status"] == "ok"
    assert run.facts["zerogpu.endpoints"] == ["/predict"]


def test_passive_facts(runs):
    f = runs["passive"].facts
    assert f["zerogpu.gradio_version"] == "5.49.1" and f["zerogpu.api_prefix"] == "/gradio_api"
    assert f["zerogpu.caller_pool"] == "free" and f["zerogpu.caller_path"] == "api"
    assert f["zerogpu.quota_current_s"] == 300 and f["zerogpu.quota_base_s"] == 300
    g4 = runs["passive-anon-gradio4"]
    assert g4.facts["zerogpu.gradio_version"] == "4.44.1" and "zerogpu.api_prefix" not in g4.facts
    assert g4.sim.requests.find(role="space", path_contains="/info") and not g4.sim.requests.find(
        role="space", path_contains="/gradio_api")
    assert g4.facts["zerogpu.caller_pool"] == "anonymous" and "zerogpu.quota_current_s" not in g4.facts
    assert not g4.sim.requests.find(role="hub", path_contains="zero-gpu/quota")


def test_not_a_zerogpu_space_is_skipped_with_a_reason(runs):
    run = runs["not-zerogpu"]
    assert run.probe["status"] == "skipped" and "not a ZeroGPU Space" in run.probe["error"]
    assert not run.sim.requests.find(role="space", path_contains="queue/join")
