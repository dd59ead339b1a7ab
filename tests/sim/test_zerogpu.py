"""ZeroGPU behaviour against gradio-zerogpu.md §3: exact titles/messages, markers, identity and the quota ledger."""

from __future__ import annotations

import json

from .conftest import auth, run_gradio

JOIN_LINK = ('<a style="white-space: nowrap;text-underline-offset: 2px;color: var(--body-text-color)" '
             'href="https://huggingface.co/join">Create a free account</a>')
SUFFIX_ANON = "Authenticate with a Hugging Face token for more quota - https://huggingface.co/settings/tokens"
SUFFIX_FREE = ("Subscribe to Hugging Face PRO to get 40 min of ZeroGPU quota a day - "
               "https://huggingface.co/subscribe/pro?from=ZeroGPU")
SUFFIX_PRO = ("Add credits to keep using ZeroGPU. $1 for 10 minutes of ZeroGPU inference - "
              "https://huggingface.co/settings/billing?add-credits=true")


def _markers(sim):
    """GPU markers (the start-up `markers.enabled` announcement aside)."""
    found = [json.loads(line[len("hfdiag-marker "):]) for line in sim.run_log() if line.startswith("hfdiag-marker ")]
    return [m for m in found if m["event"] != "markers.enabled"]


def test_success_sequence_markers_and_settlement(sim_factory, client):
    sim = sim_factory("healthy-zerogpu")
    msgs = run_gradio(client, sim, headers=auth(sim), gradio_user="app")
    assert [m["msg"] for m in msgs] == ["estimation", "process_starts", "log", "log", "process_completed",
                                        "close_stream"]
    wait, ok = msgs[2], msgs[3]
    assert wait == {"msg": "log", "event_id": msgs[0]["event_id"], "log": "Waiting for a GPU to become available",
                    "level": "info", "duration": 10, "visible": True, "title": "ZeroGPU queue"}
    assert ok["log"] == "Successfully acquired a GPU" and ok["level"] == "success" and ok["title"] == "ZeroGPU queue"
    assert msgs[4]["success"] is True
    enter, exit_ = _markers(sim)
    assert enter == {"event": "gpu.enter", "fn": "predict", "id": msgs[0]["event_id"]}
    assert exit_ == {"event": "gpu.exit", "fn": "predict", "id": msgs[0]["event_id"], "ok": True}
    # reserve 90 s (60 s x 1.5 on Blackwell), settle to the 2 s really used
    pool = sim.ledger["user:simuser"]
    assert [c["seconds"] for c in pool["charges"]] == [90]
    assert [r["seconds"] for r in pool["refunds"]] == [88]
    q = client.get(f"{sim.endpoint}/api/spaces/zero-gpu/quota", headers=auth(sim)).json()
    assert q["base"] == 300 and q["current"] == 298 and q["overquotaUsed"] == 0 and q["resetsAt"].endswith("Z")
    rec = [r for r in sim.requests.find(role="space", path_contains="queue/join")][-1]
    assert rec.has_x_ip_token is False  # the client sent none: the edge injected it


def test_level_and_titles_by_gradio_version(sim_factory, client):
    old = sim_factory("healthy-zerogpu", {"gradio.version": "5.5.0"})
    logs = [m for m in run_gradio(client, old, headers=auth(old)) if m["msg"] == "log"]
    assert logs[1]["level"] == "info" and logs[1]["title"] == "ZeroGPU queue"
    v4 = sim_factory("healthy-zerogpu", {"gradio.version": "4.44.1"})
    logs = [m for m in run_gradio(client, v4, headers=auth(v4)) if m["msg"] == "log"]
    assert all("title" not in m for m in logs)


def test_queue_timeout_charged_never_refunded(sim_factory, client):
    sim = sim_factory("zerogpu-no-gpu-charged")
    msgs = run_gradio(client, sim, headers=auth(sim), gradio_user="app")
    assert [m["msg"] for m in msgs] == ["estimation", "process_starts", "log", "process_completed", "close_stream"]
    done = msgs[3]
    text = "No GPU was available after 60s. <a style=\"white-space: nowrap;text-underline-offset: 2px;color: " \
           "var(--body-text-color)\" href=\"https://huggingface.co/subscribe/pro?from=ZeroGPU\">Subscribe to Pro</a>" \
           " to get the highest priority in ZeroGPU queues."
    assert done["success"] is False and done["title"] == "ZeroGPU queue timeout"
    assert done["output"] == {"error": text, "duration": 10, "visible": True, "title": "ZeroGPU queue timeout"}
    assert _markers(sim) == []  # never entered user code
    pool = sim.ledger["user:simuser"]
    assert pool["refunds"] == [] and pool["current"] == 300 - 90
    assert client.get(f"{sim.endpoint}/api/spaces/zero-gpu/quota", headers=auth(sim)).json()["current"] == 210


def test_queue_timeout_anonymous_and_no_token_variants(sim_factory, client):
    sim = sim_factory("zerogpu-no-gpu-charged")
    done = run_gradio(client, sim)[-2]  # anonymous: the edge injects an IP token
    assert done["title"] == "ZeroGPU queue timeout"
    assert done["output"]["error"] == f"No GPU was available after 60s. {JOIN_LINK} to get a higher priority in " \
                                      f"ZeroGPU queues."
    pro = sim_factory("zerogpu-no-gpu-charged")
    assert run_gradio(client, pro, headers=auth(pro, "pro"))[-2]["output"]["error"] == \
        "No GPU was available after 60s. Retry later"
    strip = sim_factory("zerogpu-no-gpu-charged", {"edge.ip_token": "strip"})
    done = run_gradio(client, strip, headers={"x-ip-token": "x.y.z"})[-2]
    assert done["title"] == "ZeroGPU quota exceeded"
    assert done["output"]["error"] == ("No GPU was available after 60s. Try re-running outside of examples if it "
                                       "happened after clicking one")


def test_queue_timeout_refunded_after_n_seconds(sim_factory, client):
    sim = sim_factory("zerogpu-no-gpu-refunded", {"zerogpu.refund_after_s": 30})
    run_gradio(client, sim, headers=auth(sim))
    pool = sim.ledger["user:simuser"]
    (charge,) = pool["charges"]
    (refund,) = pool["refunds"]
    assert charge["seconds"] == refund["seconds"] == 90
    assert abs(refund["ts"] - charge["ts"] - 30) < 1.0  # scheduled 30 s after the reservation
    assert pool["current"] == 210  # not yet refunded
    now = sim_factory("zerogpu-no-gpu-refunded", {"zerogpu.refund_after_s": 0})
    run_gradio(client, now, headers=auth(now))
    assert client.get(f"{now.endpoint}/api/spaces/zero-gpu/quota", headers=auth(now)).json()["current"] == 300


def test_quota_exceeded_free_with_and_without_api_suffix(sim_factory, client):
    sim = sim_factory("zerogpu-quota-exceeded")
    done = run_gradio(client, sim, headers=auth(sim), gradio_user="app")[-2]
    assert done["title"] == "ZeroGPU quota exceeded"
    assert done["output"]["error"] == ("You have exceeded your free ZeroGPU quota (90s requested vs. 20s left). "
                                       "Try again in 0:01:23. ")
    api = run_gradio(client, sim, headers=auth(sim), gradio_user="api")[-2]
    assert api["output"]["error"].endswith("Try again in 0:01:23. " + SUFFIX_FREE)
    none = run_gradio(client, sim, headers=auth(sim))[-2]  # old client, no x-gradio-user: also an API caller
    assert none["output"]["error"].endswith(SUFFIX_FREE)
    assert _markers(sim) == []
    assert sim.ledger["user:simuser"]["current"] == 20  # nothing reserved
    free = sim_factory("zerogpu-quota-exceeded-free")
    assert run_gradio(client, free, headers=auth(free), gradio_user="app")[-2]["output"]["error"] == (
        "You have exceeded your free ZeroGPU quota (90s requested vs. 0s left). Try again in 1:02:03. ")


def test_quota_exceeded_pro_and_anonymous(sim_factory, client):
    pro = sim_factory("zerogpu-quota-exceeded-pro")
    err = run_gradio(client, pro, headers=auth(pro, "pro"), gradio_user="api")[-2]["output"]["error"]
    assert err == ("You have exceeded your Pro ZeroGPU quota (90s requested vs. 30s left). Try again in 0:01:23. "
                   + SUFFIX_PRO)
    anon = sim_factory("zerogpu-quota-exceeded-anonymous")
    err = run_gradio(client, anon, gradio_user="api")[-2]["output"]["error"]
    assert err == ("You have exceeded your ZeroGPU quota (90s requested vs. 10s left). Try again in 0:01:23. "
                   + SUFFIX_ANON)
    assert run_gradio(client, anon, headers=auth(anon))[-2]["success"] is True  # the owner's token has quota


def test_runs_limit_and_quota_endpoint_runs(sim_factory, client):
    sim = sim_factory("zerogpu-runs-limit")
    done = run_gradio(client, sim, headers=auth(sim), gradio_user="app")[-2]
    assert done["title"] == "ZeroGPU quota exceeded"
    assert done["output"]["error"] == "You have exceeded your ZeroGPU runs limit. "
    q = client.get(f"{sim.endpoint}/api/spaces/zero-gpu/quota", headers=auth(sim)).json()
    assert q["current"] == 300 and q["runs"]["used"] == 20 and q["runs"]["limit"] == 20 and \
        q["runs"]["remaining"] == 0
    assert client.get(f"{sim.endpoint}/api/spaces/zero-gpu/quota").status_code == 401


def test_xlarge_and_duration_factor(sim_factory, client):
    sim = sim_factory("zerogpu-xlarge-2x")
    err = run_gradio(client, sim, headers=auth(sim), gradio_user="app")[-2]["output"]["error"]
    assert "(120s requested vs. 100s left)" in err
    h200 = sim_factory("zerogpu-quota-exceeded", {"zerogpu.gpu": "h200"})
    assert "(60s requested vs. 20s left)" in run_gradio(client, h200, headers=auth(h200))[-2]["output"]["error"]
    d180 = sim_factory("zerogpu-quota-exceeded", {"zerogpu.duration_s": 180})
    assert "(270s requested vs. 20s left)" in run_gradio(client, d180, headers=auth(d180))[-2]["output"]["error"]


def test_illegal_duration_and_other_errors(sim_factory, client):
    sim = sim_factory("healthy-zerogpu", {"zerogpu.duration_s": 600})
    done = run_gradio(client, sim, headers=auth(sim), gradio_user="api")[-2]
    assert done["title"] == "ZeroGPU illegal duration"
    assert done["output"]["error"] == ("The requested GPU duration (900s) is larger than the maximum allowed"
                                       "Subscribe to Hugging Face PRO to allow GPU tasks up to 40 min - "
                                       "https://huggingface.co/subscribe/pro?from=ZeroGPU")
    cases = {"pending_credits": ("ZeroGPU pending credits exceeded", "You have too many ZeroGPU credits allocated "
                                 "to running tasks. Try again once some of those tasks have completed."),
             "scheduler_503": ("ZeroGPU client error", "No GPU was available"),
             "expired_token": ("ZeroGPU client error", "Expired ZeroGPU proxy token"),
             "worker_aborted": ("ZeroGPU worker error", "GPU task aborted")}
    for outcome, (title, text) in cases.items():
        s = sim_factory("healthy-zerogpu", {"zerogpu.outcome": outcome})
        done = run_gradio(client, s, headers=auth(s))[-2]
        assert (done["title"], done["output"]["error"]) == (title, text), outcome
    raw = sim_factory("healthy-zerogpu", {"zerogpu.outcome": "raw_runtime_error"})
    assert run_gradio(client, raw, headers=auth(raw))[-2]["output"] == {"error": None}


def test_worker_error_sm120(sim_factory, client):
    sim = sim_factory("zerogpu-worker-error-sm120")
    done = run_gradio(client, sim, headers=auth(sim))[-2]
    assert done["title"] == "ZeroGPU worker error" and done["output"]["error"] == "RuntimeError"
    log = sim.run_log()
    assert any("with CUDA capability sm_120 is not compatible with the current PyTorch installation" in line
               for line in log)
    assert "RuntimeError: CUDA error: no kernel image is available for execution on the device" in log
    marks = _markers(sim)
    assert [m["event"] for m in marks] == ["gpu.enter", "gpu.exit"]
    assert marks[1]["ok"] is False and marks[1]["error"] == "RuntimeError"


def test_identity_missing_ip_token(sim_factory, client):
    sim = sim_factory("zerogpu-identity-missing-ip-token")
    done = run_gradio(client, sim, headers={**auth(sim), "x-ip-token": "forwarded.by.client"}, gradio_user="app")[-2]
    assert done["title"] == "ZeroGPU quota exceeded"
    assert done["output"]["error"] == ("Space app has reached its GPU limit. Try re-running outside of examples if "
                                       "it happened after clicking one")
    rec = sim.requests.find(role="space", path_contains="queue/join")[-1]
    assert rec.has_x_ip_token is True  # it arrived at the edge and was stripped before the app
    assert "space:simuser/zero-no-token" in sim.ledger
    # forward mode: a client-forwarded token is honoured, none is injected
    fwd = sim_factory("healthy-zerogpu", {"edge.ip_token": "forward"})
    assert run_gradio(client, fwd, headers=auth(fwd))[-2]["success"] is True
    assert "space:simuser/zero-demo" in fwd.ledger and "user:simuser" not in fwd.ledger


def test_ip_fallback_warning(sim_factory, client):
    sim = sim_factory("healthy-zerogpu", {"edge.ip_token_error": "InvalidToken"})
    logs = [m for m in run_gradio(client, sim, headers=auth(sim)) if m["msg"] == "log"]
    assert logs[0]["log"] == "Falling back to IP-based quotas (InvalidToken)"
    assert logs[0]["level"] == "warning" and logs[0]["title"] == "ZeroGPU client warning"
