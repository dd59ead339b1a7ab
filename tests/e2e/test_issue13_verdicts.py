"""No confident wrong verdict: pasted reports and checks where a weak fact used to win over stronger evidence,
through the real CLI (explain for pasted text, check against the simulator for live evidence)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from conftest import ROOT, cli_env, run_cli


def explain(text: str, *facts: str) -> dict:
    args = ["explain", "-", "--format", "json"]
    for f in facts:
        args += ["--fact", f]
    proc = run_cli(*args, input=text)
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def statuses(report: dict) -> dict:
    return {f["id"]: f["status"] for f in report["findings"]}


def test_a_504_from_queue_join_on_a_running_space_is_not_the_builder():
    text = ("POST https://owner-space.hf.space/gradio_api/queue/join 504 (Gateway Time-out)\n"
            "This Space has been paused by its owner.\nRequest ID: Root=1-6745a1b2-0123456789abcdef01234567\n")
    report = explain(text, "space.stage=RUNNING")
    assert report["verdict"]["bucket"] != "builder", report["verdict"]
    assert statuses(report)["HFD-BLD-007"] == "vetoed"
    paused = explain(text, "space.stage=PAUSED")  # the same text about a PAUSED Space is the builder's
    assert paused["verdict"]["bucket"] == "builder"


def test_a_403_from_a_signed_cas_bridge_url_is_transfer_not_the_app():
    report = explain("requests.exceptions.HTTPError: 403 Client Error: Forbidden for url: "
                     "https://cas-bridge.xethub.hf.co/xet-bridge-us/6523/abc?X-Amz-Signature=deadbeef\n")
    assert report["verdict"]["bucket"] == "transfer", report["verdict"]
    finding = next(f for f in report["findings"] if f["id"] == "HFD-APP-010")
    assert finding["status"] == "vetoed" and "signed" in finding["vetoed_because"]
    outside = explain("requests.exceptions.HTTPError: 403 Client Error: Forbidden for url: https://api.example.org/v1\n")
    assert outside["verdict"]["bucket"] == "app"  # an outside API's 403 stays the app's


def test_invalid_kernel_image_from_a_flash_attention_wheel_is_runtime():
    text = textwrap.dedent("""\
        Traceback (most recent call last):
          File "/home/user/app/app.py", line 30, in generate
            out = model.generate(**inputs)
          File "/usr/local/lib/python3.10/site-packages/flash_attn/flash_attn_interface.py", line 90, in _flash_attn_forward
            out, softmax_lse = flash_attn_cuda.fwd(
        RuntimeError: CUDA error: device kernel image is invalid
        """)
    report = explain(text, "space.stage=RUNTIME_ERROR")
    assert report["verdict"]["bucket"] == "runtime", report["verdict"]


def test_gpu_task_aborted_before_the_function_with_the_charge_kept_is_settlement():
    text = "gradio.exceptions.Error: 'GPU task aborted'\n"
    report = explain(text, "space.hardware=zero-a10g", "zerogpu.function_entered=false",
                     "zerogpu.charged_reservation=true")
    assert (report["verdict"]["bucket"], report["verdict"]["rule"]) == ("zerogpu-settlement", "HFD-ZGS-008")
    assert statuses(report)["HFD-ZGQ-007"] != "match"
    # even with a claim that the run was too long, a function that never ran vetoes the quota explanation
    long = explain(text, "space.hardware=zero-a10g", "zerogpu.function_entered=false",
                   "zerogpu.charged_reservation=true", "zerogpu.gpu_time_exceeded=true")
    assert long["verdict"]["bucket"] == "zerogpu-settlement" and statuses(long)["HFD-ZGQ-007"] == "vetoed"
    ran = explain(text, "space.hardware=zero-a10g", "zerogpu.function_entered=true", "zerogpu.acquired=true",
                  "zerogpu.gpu_time_exceeded=true")
    assert ran["verdict"]["bucket"] == "zerogpu-quota"  # the documented kill of a running task stays quota


def test_a_misspelled_space_gets_its_own_verdict_line():
    proc = run_cli("check", "--sim", "healthy-gradio", "simuser/hello-gradoi", "--quiet", "--timeout", "20")
    first = " ".join(proc.stdout.split("\n\n")[0].split())
    assert "simuser/hello-gradoi was not found (404 RepoNotFound)" in first, proc.stdout[:400]
    assert "misspelled" in first and proc.returncode == 3
    anon = run_cli("check", "--sim", "healthy-gradio", "simuser/hello-gradoi", "--sim-as", "anonymous", "--quiet",
                   "--format", "json", "--timeout", "20")
    assert "not visible without a token (401)" in json.loads(anon.stdout)["verdict"]["summary"]


def test_healthy_says_which_chains_it_did_not_exercise(validate_report, tmp_path):
    bundle = tmp_path / "zero.json"
    proc = run_cli("check", "--sim", "healthy-zerogpu", "--quiet", "--format", "json", "--timeout", "20",
                   "--bundle", str(bundle))
    live = validate_report(json.loads(proc.stdout))
    replayed = validate_report(json.loads(run_cli("explain", str(bundle), "--format", "json").stdout))
    for report in (live, replayed):  # the replay of the bundle says what the live check said
        assert report["verdict"]["bucket"] == "healthy"
        assert "ZeroGPU queue not exercised: add --zerogpu-call API" in report["verdict"]["summary"]
        assert "--transfer-file" in report["verdict"]["summary"]
        rows = {r["chain"]: r for r in report["coverage"]}
        assert rows["request"]["exercised"] and not rows["zerogpu"]["exercised"] and not rows["transfer"]["exercised"]
    assert proc.returncode == 0
    assert replayed["verdict"]["summary"] == live["verdict"]["summary"]
    called = run_cli("check", "--sim", "healthy-zerogpu", "--zerogpu-call", "predict", "--zerogpu-data", '["hi"]',
                     "--quiet", "--format", "json", "--timeout", "20")
    rows = {r["chain"]: r for r in json.loads(called.stdout)["coverage"]}
    assert rows["zerogpu"]["exercised"]
    human = run_cli("check", "--sim", "healthy-gradio", "--quiet").stdout
    assert "Exercised / not exercised" in human and "hfdiag egress HOST:PORT" in human
    assert "--zerogpu-call" not in human  # a cpu-basic Space without models gets no ZeroGPU or transfer hint


def test_sim_prints_the_pro_callers_token_and_the_scenarios_flags():
    server = subprocess.Popen([sys.executable, "-m", "hfdiag", "sim", "zerogpu-quota-exceeded-pro"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT)
    try:
        lines = []
        for line in server.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
    finally:
        server.terminate()
        server.wait(timeout=20)
    tokens = dict(kv.split("=", 1) for kv in next(ln for ln in lines if "tokens:" in ln).split("tokens:")[1].split())
    run = next(ln.strip() for ln in lines if "hfdiag check prouser/" in ln)
    assert run.startswith(f"HF_TOKEN={tokens['pro']} ") and "--zerogpu-call predict" in run and "--sim-as" not in run
    embedded = next(ln.strip() for ln in lines if ln.strip().startswith("hfdiag check --sim"))
    assert embedded.endswith("--sim-as pro")


def test_dns_without_free_file_descriptors_is_a_local_error_not_servfail():
    script = textwrap.dedent("""\
        import asyncio, os, resource
        import dns._asyncio_backend, dns.asyncresolver  # imported before the descriptors run out
        from hfdiag.probes.dnsutil import resolve_with

        async def main():
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
            held = []
            try:
                while True:
                    held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                pass
            try:
                return await resolve_with("127.0.0.1:9", "huggingface.co", timeout=1.0)
            finally:
                for fd in held:
                    os.close(fd)

        print(asyncio.run(main()).outcome)
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.stdout.strip() == "error", proc.stderr


def test_a_space_with_a_model_gets_the_transfer_hint():
    report = json.loads(run_cli("check", "--sim", "healthy-large-model", "--quiet", "--format", "json").stdout)
    assert report["verdict"]["bucket"] == "healthy"
    assert "--transfer-file simuser/sim-model" in report["verdict"]["summary"]


def test_outbound_failures_in_a_running_spaces_log_name_the_host_and_the_egress_command():
    proc = run_cli("check", "--sim", "egress-run-log-connect-timeout", "--quiet", "--format", "json")
    report = json.loads(proc.stdout)
    assert (report["verdict"]["bucket"], report["verdict"]["rule"]) == ("egress", "HFD-EGR-007")
    assert "api.telegram.org:443" in report["verdict"]["summary"]
    steps = next(f for f in report["findings"] if f["id"] == "HFD-EGR-007")["next_steps"]
    assert any("hfdiag egress api.telegram.org:443" in s for s in steps)
    assert proc.returncode == 1


def test_a_stalled_build_names_its_last_step():
    report = json.loads(run_cli("check", "--sim", "builder-stalled-build-log", "--quiet", "--format", "json").stdout)
    v = report["verdict"]
    assert (v["bucket"], v["rule"]) == ("builder", "HFD-BLD-013")
    assert "pip install --no-cache-dir -r requirements.txt" in v["summary"]


def test_another_callers_gpu_enter_in_the_run_log_does_not_veto_a_real_quota_refusal():
    """A busy Space: a PRO visitor's call ran (its gpu.enter marker is in the run log), then the owner's own call is
    refused for quota. The marker is about another call, so it is no counter-evidence: the verdict is quota, not a
    vetoed quota rule and a 'healthy' Space. (No access lines, so hfdiag cannot see the log catch up with its call.)"""
    from hfdiag.sim import Simulator

    call = ("--zerogpu-call", "predict", "--zerogpu-data", '["hi"]', "--format", "json", "--quiet")
    with Simulator("zerogpu-quota-exceeded", overrides={"app.access_log": False, "zerogpu.markers": True}) as sim:
        space = sim.space_ids[0]
        args = (space, "--endpoint", sim.endpoint, "--dns-server", sim.dns_server, "--status-url", sim.status_url)
        visitor = json.loads(run_cli("check", *args, *call, env=cli_env(HF_TOKEN=sim.tokens["pro"])).stdout)
        assert visitor["verdict"]["bucket"] == "healthy"
        owner = json.loads(run_cli("check", *args, *call, env=cli_env(HF_TOKEN=sim.tokens["owner"])).stdout)
    facts = {f["key"]: f["value"] for f in owner["facts"]}
    assert facts["zerogpu.error_kind"] == "quota_exceeded" and facts.get("zerogpu.function_entered") is not True
    assert owner["verdict"]["bucket"] == "zerogpu-quota", owner["verdict"]
    assert "vetoed" not in statuses(owner).values()


def test_a_finding_vetoed_on_a_chain_healthy_does_not_cover_keeps_healthy_at_low_confidence(tmp_path):
    """The Hub's DNS name fails while the Hub API and the Space answer: the egress finding is vetoed by evidence from
    the request chain, which says nothing about the egress chain. Healthy, but low, naming the vetoed finding and
    what would settle it; the bundle replays to the same line."""
    bundle = tmp_path / "dns.json"
    proc = run_cli("check", "--sim", "healthy-hub-dns-fails-api-answers", "--quiet", "--format", "json",
                   "--bundle", str(bundle))
    report = json.loads(proc.stdout)
    v = report["verdict"]
    vetoed = [f for f in report["findings"] if f["status"] == "vetoed" and f["chain"] == "egress"]
    assert vetoed and v["bucket"] == "healthy" and v["confidence"] == "low", v
    assert f"Set aside, not settled: {vetoed[0]['id']} (egress, on the egress chain)" in v["summary"]
    assert any("hfdiag egress HOST:PORT" in r for r in v["raise_confidence"]), v
    assert proc.returncode == 0
    replayed = json.loads(run_cli("explain", str(bundle), "--format", "json").stdout)["verdict"]
    assert (replayed["confidence"], replayed["summary"]) == ("low", v["summary"])
    human = run_cli("check", "--sim", "healthy-hub-dns-fails-api-answers", "--quiet").stdout
    assert "healthy (low confidence)" in human.splitlines()[0]


def test_a_vetoed_finding_on_the_chain_healthy_covers_leaves_it_confident():
    """A proxy story (edge time-outs) vetoed by the nonce in the run log is settled on the request chain, the one
    the healthy finding covers: no caveat."""
    report = explain("", "space.stage=RUNNING", "route.app_ok=1", "route.fail_ratio=0", "route.nonce_in_run_log=true",
                     "route.timeouts=1", "route.app_made=0", "run_log.lines=12")
    assert statuses(report)["HFD-PRX-006"] == "vetoed"
    assert (report["verdict"]["bucket"], report["verdict"]["confidence"]) == ("healthy", "high"), report["verdict"]
    assert "Set aside" not in report["verdict"]["summary"]


def test_other_visitors_zerogpu_calls_in_the_run_log_are_not_this_checks():
    """A passive check of a busy ZeroGPU Space: another visitor's quota refusal in the run log must not become this
    caller's zerogpu-quota verdict, nor their gpu.enter a veto. Without the visitors the same Space is plainly
    healthy; with them, healthy at low confidence, the visitors' outcomes listed and never a rule's input."""
    from hfdiag.sim import Simulator

    def check(overrides):
        with Simulator("zerogpu-other-visitors-passive", overrides=overrides) as sim:
            args = (sim.space_ids[0], "--endpoint", sim.endpoint, "--dns-server", sim.dns_server,
                    "--status-url", sim.status_url, "--format", "json", "--quiet")
            proc = run_cli("check", *args, env=cli_env(HF_TOKEN=sim.tokens["owner"]))
        return proc, json.loads(proc.stdout)

    quiet_proc, quiet = check({"app.other_visitors": []})
    assert (quiet["verdict"]["bucket"], quiet["verdict"]["confidence"]) == ("healthy", "high")
    busy_proc, busy = check({"app.other_visitors": ["quota_exceeded"]})  # a visitor's refusal alone
    v = busy["verdict"]
    assert (v["bucket"], v["confidence"], busy_proc.returncode) == ("healthy", "low", 0), v
    facts = {f["key"]: f["value"] for f in busy["facts"]}
    assert "error_kind=quota_exceeded" in facts["zerogpu.visitor_evidence"]
    assert "zerogpu.error_kind" not in facts and "zerogpu.function_entered" not in facts
    assert "possibly other visitors' calls" in v["summary"] and "--zerogpu-call API" in v["summary"]
    assert all(f["bucket"] in ("healthy", "app") for f in busy["findings"] if f["status"] == "match")


def test_outside_a_zerogpu_space_a_zerogpu_message_in_the_run_log_is_the_spaces_own_call():
    """On a cpu Space, a quota message in the run log comes from the Space's own call to a ZeroGPU Space
    (Space-to-Space): it is the Space's evidence and stays a fact."""
    from hfdiag.attribution import set_aside_visitor_calls
    from hfdiag.evidence.model import Fact, ProbeResult

    space = ProbeResult("space", facts=[Fact("space.zerogpu", False, "probe:space")])
    logs = ProbeResult("logs", facts=[Fact("zerogpu.error_kind", "quota_exceeded", "probe:logs")])
    set_aside_visitor_calls([space, logs])
    assert [f.key for f in logs.facts] == ["zerogpu.error_kind"]
    space.facts = [Fact("space.zerogpu", True, "probe:space")]
    set_aside_visitor_calls([space, logs])
    assert [(f.key, f.value) for f in logs.facts] == [("zerogpu.visitor_evidence", ["error_kind=quota_exceeded"])]


def test_file_descriptors_running_out_under_load_never_yield_another_boundary():
    """`ulimit -n` too small for 30 Spaces checked at once: sockets, log streams and DNS queries fail with EMFILE.
    The run still ends with one report per Space (no internal error), and each verdict is the one the Space gets
    with descriptors to spare, or inconclusive: never egress, never a DNS fault read as SERVFAIL."""
    import resource

    from hfdiag.sim import Simulator

    def run(sim, spaces, limit):
        def cap():
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        proc = subprocess.run(
            [sys.executable, "-m", "hfdiag", "check", *spaces, "--endpoint", sim.endpoint, "--dns-server",
             sim.dns_server, "--status-url", sim.status_url, "--concurrency", "30", "--format", "json", "--quiet"],
            capture_output=True, text=True, env=cli_env(HF_TOKEN=sim.tokens["owner"]), cwd=ROOT, timeout=600,
            preexec_fn=cap)
        assert proc.returncode in (0, 1, 3) and "Traceback" not in proc.stderr, proc.stderr[-600:]
        reports = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [r["target"] for r in reports] == spaces
        return reports

    with Simulator("fleet", overrides={"fleet.count": 30, "hub.rate_limit": 1_000_000}) as sim:
        spaces = [s for s in sim.space_ids if s.startswith("fleetuser/space-")]
        spare = {r["target"]: r["verdict"]["bucket"] for r in run(sim, spaces, 4096)}
        starved = run(sim, spaces, 64)
    assert "egress" not in spare.values()
    for r in starved:
        assert r["verdict"]["bucket"] in (spare[r["target"]], "inconclusive"), (r["target"], r["verdict"])
        outcomes = {f["value"] for f in r["facts"] if f["key"].startswith("dns.outcome.")}
        assert "servfail" not in outcomes, outcomes
    assert any(r["verdict"]["bucket"] == "inconclusive" for r in starved)  # the limit did bite


def test_a_requested_zerogpu_call_that_did_not_happen_leaves_healthy_unconfident():
    """--zerogpu-call on a Space where the call cannot be made (not ZeroGPU): the healthy verdict must not read as
    if the queue had been exercised."""
    proc = run_cli("check", "--sim", "healthy-gradio", "--zerogpu-call", "predict", "--zerogpu-data", '["hi"]',
                   "--quiet", "--format", "json", "--timeout", "20")
    report = json.loads(proc.stdout)
    assert report["verdict"]["bucket"] == "healthy" and report["verdict"]["confidence"] == "low"
    assert "--zerogpu-call did not complete (not a ZeroGPU Space" in report["verdict"]["summary"]
    assert proc.returncode == 0
