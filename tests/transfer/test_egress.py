"""`hfdiag egress` through the real CLI against loopback targets (names resolved by the simulator's DNS
responder), its markers read back by the run-log probe, and the egress scenarios' expected verdicts."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import cli_env, run_cli

from hfdiag.check import check_space
from hfdiag.egress import facts_from_markers, parse_target
from hfdiag.engine.knowledge import load_knowledge
from hfdiag.probes.base import CheckOptions
from hfdiag.sim import Simulator, load_scenario

CHALLENGE = (b'<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title></head><body>'
             b'<script src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1"></script></body></html>')
EGRESS_SCENARIOS = ["egress-dns-nxdomain", "egress-dns-servfail", "egress-dns-timeout", "egress-port-blocked",
                    "egress-challenge-page"]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path.startswith("/ok"):
            body, status, extra = b'{"object":"list","data":[]}', 200, {"content-type": "application/json"}
        else:
            body, status, extra = CHALLENGE, 403, {"content-type": "text/html", "cf-mitigated": "challenge",
                                                   "server": "cloudflare"}
        self.send_response(status)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def web():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)  # listening once constructed
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def sim():
    with Simulator("healthy-gradio", overrides={"dns.extra_names": ["api.openai.com", "smtp.gmail.com"],
                                                "dns.names": {"cdn-lfs.hf.co": "nxdomain"}}) as s:
        yield s


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def egress(sim, *targets, fmt="json", space=True):
    env = cli_env(SPACE_ID="simuser/egress-app") if space else cli_env()
    return run_cli("egress", "--no-defaults", "--dns-server", sim.dns_server, "--timeout", "3", "--format", fmt,
                   *targets, env=env)


def markers(text: str) -> list[dict]:
    return [json.loads(line.split(" ", 1)[1]) for line in text.splitlines() if line.startswith("hfdiag-marker ")]


def test_challenge_page_is_recognised(sim, web, validate_report):
    proc = egress(sim, f"http://api.openai.com:{web}/v1/models", f"http://api.openai.com:{web}/ok")
    report = validate_report(json.loads(proc.stdout))
    assert proc.returncode == 1, proc.stderr
    v = report["verdict"]
    assert (v["bucket"], v["first_missing_hop"]) == ("egress", "egress.http_answer"), v
    facts = {f["key"]: f["value"] for f in report["facts"]}
    assert facts["egress.challenge_page"] is True and facts["egress.http_status"] == 403
    assert facts["egress.dns_ok"] is True and facts["egress.tcp_ok"] is True and facts["egress.in_space"] is True
    got = markers(proc.stderr)  # with --format json the markers go to stderr (also in the Space's run log)
    assert [m["challenge"] for m in got] == [True, False] and [m["http"] for m in got] == [403, 200]
    assert set(got[0]) == {"event", "target", "port", "dns", "tcp", "tls", "http", "challenge", "error"}
    detail = report["probes"][0]["detail"]["targets"][0]
    assert detail["title"] == "Just a moment..." and detail["timings"]["connect_ms"] is not None


def test_blocked_port_markers_round_trip_through_the_run_log(sim):
    port = closed_port()
    proc = egress(sim, f"smtp.gmail.com:{port}", "cdn-lfs.hf.co:443", fmt="human")
    assert proc.returncode == 1, proc.stderr
    got = markers(proc.stdout)  # human format: markers on stdout
    assert got[0]["target"] == "smtp.gmail.com" and got[0]["dns"] is True and got[0]["tcp"] is False
    assert got[1]["target"] == "cdn-lfs.hf.co" and got[1]["dns"] is False and "nxdomain" in got[1]["error"]
    assert "egress" in proc.stdout and "tcp_connect" in proc.stdout
    sim.append_log(next(line for line in proc.stdout.splitlines() if '"smtp.gmail.com"' in line))
    opts = CheckOptions(endpoint=sim.endpoint, token=sim.tokens["owner"], dns_server=sim.dns_server,
                        status_url=sim.status_url, trust_env=False, timeout=20, route_requests=1, log_wait_s=0.3)
    res = asyncio.run(check_space(sim.space_ids[0], opts, load_knowledge()))
    facts = {f["key"]: f["value"] for f in res.report["facts"]}
    assert facts["egress.port_blocked"] is True and facts["egress.port"] == port
    assert facts["egress.connect_error"] == "refused"
    assert facts["egress.targets_failing"] == [f"smtp.gmail.com:{port}"]
    v = res.report["verdict"]
    assert (v["bucket"], v["first_missing_hop"], v["knowledge"]) == ("egress", "egress.tcp_connect", "explained")
    # both failures in one run log: the earliest hop (DNS of the CDN host) is the evidence
    sim.append_log(next(line for line in proc.stdout.splitlines() if '"cdn-lfs.hf.co"' in line))
    res = asyncio.run(check_space(sim.space_ids[0], opts, load_knowledge()))
    facts = {f["key"]: f["value"] for f in res.report["facts"]}
    assert facts["egress.host"] == "cdn-lfs.hf.co" and facts["egress.dns_error"] == "nxdomain"
    assert res.report["verdict"]["first_missing_hop"] == "egress.dns"


def test_outside_a_space_a_refused_port_is_not_called_blocked(sim):
    proc = egress(sim, f"smtp.gmail.com:{closed_port()}", space=False, fmt="json")
    facts = {f["key"]: f["value"] for f in json.loads(proc.stdout)["facts"]}
    assert facts["egress.tcp_ok"] is False and facts["egress.in_space"] is False
    assert facts["egress.port_blocked"] is False


def test_no_markers_and_usage_errors(sim, web):
    proc = run_cli("egress", "--no-defaults", "--no-markers", "--dns-server", sim.dns_server, "--format", "json",
                   f"http://api.openai.com:{web}/ok")
    assert "hfdiag-marker" not in proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["mode"] == "egress" and report["verdict"]["bucket"] in ("healthy", "inconclusive")
    assert proc.returncode in (0, 3)
    assert any(f["id"] == "HFD-OK-050" and f["status"] == "match" for f in report["findings"])
    bad = run_cli("egress", "host:99999")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "bad port" in bad.stderr
    assert run_cli("egress", "--no-defaults").returncode == 2


def test_target_parsing_and_marker_mapping():
    assert parse_target("huggingface.co").label == "huggingface.co:443"
    assert parse_target("example.org:8080").scheme == "http"
    assert parse_target("https://[::1]:8443/x").host == "::1"
    f = facts_from_markers([{"event": "egress", "target": "api.telegram.org", "port": 443, "dns": True, "tcp": True,
                             "tls": True, "http": 200, "challenge": False, "error": None}])
    assert f["egress.http_ok"] is True and f["egress.targets_failing"] == []


@pytest.mark.parametrize("name", EGRESS_SCENARIOS)
def test_egress_scenario_verdicts(name):
    expect = load_scenario(name).expect
    with Simulator(name) as s:
        opts = CheckOptions(endpoint=s.endpoint, token=s.tokens["owner"], dns_server=s.dns_server,
                            status_url=s.status_url, trust_env=False, timeout=20, route_requests=1, log_wait_s=0.3,
                            extra={"dns_timeout": 0.5})
        res = asyncio.run(check_space(s.space_ids[0], opts, load_knowledge()))
    v = res.report["verdict"]
    assert (v["bucket"], v["first_missing_hop"], v["knowledge"]) == \
        (expect["bucket"], expect["first_missing_hop"], expect["knowledge"]), v
    facts = {f["key"]: f["value"] for f in res.report["facts"]}
    if name.startswith("egress-dns-"):  # the DNS probe names the same host from here, with its class
        cls = {"egress-dns-nxdomain": "nxdomain", "egress-dns-servfail": "servfail", "egress-dns-timeout": "timeout"}
        assert facts["dns.outcome.cdn-lfs.hf.co"] == cls[name] and facts["dns.cdn_failing"] is True
