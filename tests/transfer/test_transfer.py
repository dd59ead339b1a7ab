"""Transfer probe, client environment and DNS probe against the in-process simulator (real HTTP and DNS over
loopback) and through the real CLI. Expected verdicts come from the scenario files' `expect`."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import cli_env, run_cli

from hfdiag.check import check_space
from hfdiag.clientenv import ClientEnv, inspect, problems
from hfdiag.engine.knowledge import load_knowledge
from hfdiag.probes.base import CheckOptions
from hfdiag.probes.dns import DnsProbe, system_lookup
from hfdiag.sim import Simulator, load_scenario

MIB = 1024 * 1024
FAST = {"HFDIAG_TRANSFER_STALL_S": "1", "HFDIAG_TRANSFER_MAX_S": "1.5"}
MODEL_FILE = "simuser/sim-model:model.safetensors"
TRANSFER_SCENARIOS = ["transfer-xet-stall", "transfer-cdn-throttled", "transfer-signed-range-403",
                      "transfer-mid-body-close", "transfer-cdn-ignores-range"]


def facts_of(report: dict) -> dict:
    return {f["key"]: f["value"] for f in report["facts"]}


def probe(report: dict, name: str) -> dict:
    return next(p for p in report["probes"] if p["probe"] == name)


def check(sim: Simulator, transfer_file: str | None = None, **extra):
    opts = CheckOptions(endpoint=sim.endpoint, token=sim.tokens["owner"], dns_server=sim.dns_server,
                        status_url=sim.status_url, trust_env=False, timeout=20, route_requests=1, log_wait_s=0.3,
                        transfer_file=transfer_file, extra=extra)
    return asyncio.run(check_space(sim.space_ids[0], opts, load_knowledge()))


@pytest.mark.parametrize("name", TRANSFER_SCENARIOS)
def test_transfer_scenario_verdict_through_the_cli(name, validate_report):
    expect = load_scenario(name).expect
    proc = run_cli("check", "--sim", name, "--transfer-file", MODEL_FILE, "--format", "json", "--quiet",
                   "--timeout", "20", env=cli_env(**FAST))
    report = validate_report(json.loads(proc.stdout))
    v = report["verdict"]
    assert (v["bucket"], v["first_missing_hop"], v["knowledge"]) == \
        (expect["bucket"], expect["first_missing_hop"], expect["knowledge"]), (v, proc.stderr)
    assert proc.returncode == 1
    f = facts_of(report)
    assert f["transfer.resolve_status"] == 302 and len(f["transfer.repo_commit"]) == 40
    assert f["transfer.redirect_host"] == "localhost" and f["transfer.size"] == 64 * MIB
    t = probe(report, "transfer")["detail"]
    assert {"dns_ms", "connect_ms", "tls_ms", "headers_ms", "first_byte_ms", "elapsed_ms"} <= set(t["timings"])
    assert t["decision"]["xet_headers_present"] is (name in ("transfer-xet-stall", "transfer-signed-range-403"))
    assert f["transfer.bytes_read"] <= t["limits"]["max_bytes"]
    if name == "transfer-xet-stall":
        assert f["transfer.stalled"] is True and f["transfer.stalled_at_bytes"] == MIB
        assert f["transfer.token_status"] == 200 and f["transfer.reconstruction_status"] == 200
        assert f["transfer.first_byte_ms"] >= 0
    elif name == "transfer-cdn-throttled":
        assert f["transfer.throttled"] is True and f["transfer.throughput_bps"] < 2 * 65536
    elif name == "transfer-signed-range-403":
        assert f["transfer.signed_range_403"] is True and "transfer.first_byte_ms" not in f
    elif name == "transfer-mid-body-close":
        assert f["transfer.body_closed_early"] is True and f["transfer.bytes_read"] == 100000
    else:
        assert f["transfer.range_ignored"] is True and f["transfer.range_status"] == 200


@pytest.mark.parametrize("backend", ["lfs", "xet"])
def test_never_reads_more_than_the_byte_cap_of_a_10_gib_file(backend):
    cap = MIB
    knobs = {"transfer.backend": backend, "transfer.cdn_ignores_range": True}
    with Simulator("healthy-gradio", overrides=knobs) as sim:
        res = check(sim, "simuser/sim-model:big-10g.bin", transfer_max_bytes=cap, transfer_max_s=5)
        sent = dict(sim._st().__dict__.get("body_bytes_sent", {}))
    report = res.report
    f = facts_of(report)
    assert f["transfer.size"] == 10 * 1024 ** 3
    assert f["transfer.bytes_read"] == cap
    role = "cdn" if backend == "lfs" else "transfer"
    # what the simulator handed to the socket: the cap plus what kernel buffers held when the probe hung up
    assert cap <= sent[role] < cap + 24 * MIB, sent
    if backend == "lfs":  # the CDN ignored Range and started the whole 10 GiB body: the probe still stopped
        assert f["transfer.range_ignored"] is True and f["transfer.complete"] is False
    else:  # the exact signed url_range of the first xorb, read up to the cap
        assert f["transfer.range_status"] == 206 and f["transfer.complete"] is True
        assert f["transfer.reconstruction_status"] == 200
    timings = probe(report, "transfer")["detail"]["timings"]
    assert timings["first_byte_ms"] is not None and f["transfer.throughput_bps"] > 0


def test_default_path_is_the_largest_file_of_the_repo():
    with Simulator("healthy-gradio") as sim:
        res = check(sim, f"spaces/{sim.space_ids[0]}")
    detail = probe(res.report, "transfer")["detail"]
    assert detail["picked"]["path"] == "app.py" and detail["picked"]["files"] == 4
    f = facts_of(res.report)
    assert f["transfer.backend"] == "http" and f["transfer.range_status"] == 206 and f["transfer.complete"] is True
    assert f["transfer.bytes_read"] == 1873


def test_client_configuration_is_the_cause(tmp_path, validate_report):
    """An installed but unimportable hf_xet (a wrong-architecture wheel) and HF_HUB_ENABLE_HF_TRANSFER on hub 1.x."""
    site = tmp_path / "site"
    for name, version in (("hf_xet", "1.6.0"), ("huggingface_hub", "1.33.0")):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (site / "hf_xet.py").write_text("raise ImportError('hf_xet.abi3.so: wrong ELF class: ELFCLASS32')\n")
    env = cli_env(PYTHONPATH=str(site), HF_HUB_ENABLE_HF_TRANSFER="1", HF_XET_HIGH_PERFORMANCE="1", **FAST)
    proc = run_cli("check", "--sim", "healthy-gradio", "--transfer-file", MODEL_FILE, "--format", "json", "--quiet",
                   env=env)
    report = validate_report(json.loads(proc.stdout))
    f = facts_of(report)
    assert f["client.hf_xet_installed"] is True and f["client.hf_xet_importable"] is False
    assert f["client.hub_version"] == "1.33.0" and f["client.hf_transfer_ignored"] is True
    assert f["client.config_problem"] == "xet_unimportable" and "wrong ELF class" in f["client.config_detail"]
    assert f["transfer.client_backend"] == "xet" and f["transfer.complete"] is True  # the Hub side is fine
    decision = probe(report, "transfer")["detail"]["decision"]
    assert decision == {"xet_headers_present": True, "hf_xet_installed": True, "hf_xet_importable": False,
                        "HF_HUB_DISABLE_XET": False, "backend": "xet"}
    assert probe(report, "transfer")["detail"]["client"]["HF_XET_*"] == {"HF_XET_HIGH_PERFORMANCE": "1"}
    v = report["verdict"]
    assert v["bucket"] == "app" and v["knowledge"] == "explained", v


def test_http_path_for_a_file_over_50_gb_is_a_client_problem():
    c = inspect({"HF_HUB_DISABLE_XET": "1", "HF_HOME": "/nonexistent/hf"}, version_of=lambda n: "1.6.0"
                if n == "hf_xet" else None, importer=lambda n: (True, None))
    assert c.disable_xet and c.hf_xet_installed and c.backend_for(True) == "http"
    found = problems(c, 59 * 1000 ** 3, True)
    assert found[0][0] == "http_too_large" and "HF_HUB_DISABLE_XET=1 is set" in found[0][1]
    assert problems(ClientEnv(hf_xet_installed=True, hf_xet_version="1.6.0", hf_xet_importable=True),
                    59 * 1000 ** 3, True) == []


def test_dns_probe_names_each_failing_host_with_its_class():
    names = {"cdn-lfs.hf.co": "nxdomain", "cas-bridge.xethub.hf.co": "servfail", "transfer.xethub.hf.co": "drop",
             "status.huggingface.co": "refused",
             "hf.co": {"mode": "ok", "cname": ["d1.cloudfront.net."], "ttl": 42}}
    with Simulator("healthy-gradio", overrides={"dns.names": names}) as sim:
        res = check(sim, dns_timeout=0.5)
        queried = {q[1].rstrip(".") for q in sim.dns_queries}
    f = facts_of(res.report)
    assert f["dns.outcome.cdn-lfs.hf.co"] == "nxdomain"
    assert f["dns.outcome.cas-bridge.xethub.hf.co"] == "servfail"
    assert f["dns.outcome.transfer.xethub.hf.co"] == "timeout"
    assert f["dns.outcome.status.huggingface.co"] == "refused"
    assert f["dns.outcome.huggingface.co"] == "ok" and f["dns.hub_failing"] is False
    assert f["dns.cdn_failing"] is True
    assert set(f["dns.failing_hosts"]) == {"cdn-lfs.hf.co", "cas-bridge.xethub.hf.co", "transfer.xethub.hf.co",
                                          "status.huggingface.co"}
    detail = probe(res.report, "dns")["detail"]
    assert detail["resolvers"]["system"] is False  # simulator mode: only the loopback responder is asked
    hf = next(h for h in detail["hosts"] if h["host"] == "hf.co")["second"]
    assert hf["cnames"] == ["hf.co", "d1.cloudfront.net"] and hf["ttl"] == 42 and hf["latency_ms"] >= 0
    assert {"huggingface.co", "cdn-lfs.hf.co"} <= queried
    v = res.report["verdict"]
    assert (v["bucket"], v["first_missing_hop"], v["rule"]) == ("egress", "egress.dns", "HFD-EGR-050"), v
    assert "cdn-lfs.hf.co: nxdomain" in v["summary"]


def test_dns_probe_hub_failing_and_run_hosts_from_the_transfer_probe():
    with Simulator("healthy-gradio", overrides={"dns.names": {"huggingface.co": "servfail"}}) as sim:
        res = check(sim, MODEL_FILE.replace(":model.safetensors", ":config.json"))
    f = facts_of(res.report)
    assert f["dns.hub_failing"] is True and f["dns.outcome.huggingface.co"] == "servfail"
    assert res.report["verdict"]["bucket"] == "egress"
    assert res.report["verdict"]["first_missing_hop"] == "egress.dns"


def test_system_resolver_failures_are_evidence_not_crashes():
    async def go():
        return await asyncio.gather(system_lookup("localhost"), system_lookup("x" * 70 + ".invalid"))

    ok, bad = asyncio.run(go())
    assert ok.outcome == "ok" and ok.addresses
    assert bad.outcome == "error" and bad.error


def test_dns_probe_plan_never_asks_a_non_loopback_resolver_against_a_loopback_endpoint():
    from hfdiag.probes.base import ProbeContext

    def plan(**kw):
        opts = CheckOptions(**kw)
        return DnsProbe().plan(ProbeContext("a/b", opts, None, None, None))

    assert plan(endpoint="http://127.0.0.1:5000", trust_env=True)[:2] == (False, None)
    assert plan(endpoint="http://127.0.0.1:5000", trust_env=True, dns_server="127.0.0.1:5353")[:2] == \
        (False, "127.0.0.1:5353")
    assert plan(endpoint="http://127.0.0.1:5000", trust_env=False, dns_server="8.8.8.8")[:2] == (False, None)
    assert plan(endpoint="https://huggingface.co", trust_env=True)[:2] == (True, "conf")


def test_bad_transfer_file_is_a_probe_error_not_a_crash():
    with Simulator("healthy-gradio") as sim:
        res = check(sim, "not-a-repo")
    p = probe(res.report, "transfer")
    assert p["status"] == "error" and "expected [datasets/|spaces/]OWNER/NAME[:PATH]" in p["error"]

