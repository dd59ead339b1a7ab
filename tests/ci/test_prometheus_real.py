"""`hfdiag scan --format prometheus` against the real consumers: Debian's node_exporter (textfile collector),
Pushgateway and promtool, each started here on 127.0.0.1 with port 0 and stopped afterwards.

`.ci/run` installs the packages (prometheus-node-exporter, prometheus-pushgateway, prometheus); a test skips,
naming the package, only where the binary is not installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import urllib.request
from contextlib import contextmanager

import pytest

from hfdiag.sim import Simulator
from tests.ci.conftest import scan_fleet_to_file

NODE_EXPORTER = ("prometheus-node-exporter", "prometheus-node-exporter")
PUSHGATEWAY = ("prometheus-pushgateway", "prometheus-pushgateway")
PROMTOOL = ("promtool", "prometheus")
START_TIMEOUT_S = 30


def _binary(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin")
    if path is None:
        pytest.skip(f"{name} not installed (Debian package {package}; .ci/run installs it)")
    return path


@contextmanager
def _daemon(argv: list[str]):
    """Start a Prometheus-style daemon listening on 127.0.0.1:0; yield its base URL once its log names the
    address it bound (the log line is the synchronisation, not a sleep); stop it."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found: dict[str, str] = {}
    ready = threading.Event()
    log: list[str] = []

    def read() -> None:  # keeps draining the log so the daemon never blocks on a full pipe
        for line in proc.stderr:
            log.append(line)
            m = re.search(r'msg="Listening on" address=(127\.0\.0\.1:\d+)', line)
            if m and not ready.is_set():
                found["address"] = m.group(1)
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        ready.wait(START_TIMEOUT_S)
        assert "address" in found, f"{argv[0]} did not start: {''.join(log)[-2000:]}"
        yield f"http://{found['address']}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(5)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 - loopback URL built above
        return r.read().decode("utf-8")


@pytest.fixture(scope="module")
def fleet_metrics(tmp_path_factory):
    """One scan of a small simulated fleet written as a textfile-collector file, plus the Spaces it names."""
    textdir = tmp_path_factory.mktemp("textfile")
    with Simulator("fleet", overrides={"fleet.count": 4, "fleet.mix": {"healthy": 0.5, "runtime_error": 0.5}}) as sim:
        out = textdir / "hfdiag.prom"
        ids = scan_fleet_to_file(sim, "prometheus", out)
    return {"dir": textdir, "file": out, "text": out.read_text(encoding="utf-8"), "ids": ids}


def _verdict_spaces(exposition: str) -> set[str]:
    return set(re.findall(r'^hfdiag_space_verdict\{[^}]*space="([^"]+)"', exposition, re.M))


def test_node_exporter_textfile_collector_accepts_the_scan(fleet_metrics):
    binary = _binary(*NODE_EXPORTER)
    argv = [binary, "--web.listen-address=127.0.0.1:0", "--collector.disable-defaults", "--collector.textfile",
            f"--collector.textfile.directory={fleet_metrics['dir']}"]
    with _daemon(argv) as url:
        scraped = _get(url + "/metrics")
    assert re.search(r"^node_textfile_scrape_error 0$", scraped, re.M), scraped[-3000:]
    assert _verdict_spaces(scraped) == set(fleet_metrics["ids"])
    for family in ("hfdiag_space_failing", "hfdiag_space_verdict_details_info", "hfdiag_probe_duration_seconds",
                   "hfdiag_scan_spaces", "hfdiag_scan_hub_rate_limited_total"):
        assert re.search(rf"^{family}[{{ ]", scraped, re.M), family
    assert re.search(r'^# TYPE hfdiag_space_verdict_details_info gauge$', scraped, re.M)


def test_pushgateway_accepts_the_push_and_serves_it(fleet_metrics):
    binary = _binary(*PUSHGATEWAY)
    with _daemon([binary, "--web.listen-address=127.0.0.1:0"]) as url:
        body = fleet_metrics["file"].read_bytes()  # what `curl --data-binary @- .../metrics/job/hfdiag` sends
        req = urllib.request.Request(url + "/metrics/job/hfdiag", data=body, method="POST",
                                     headers={"Content-Type": "text/plain; version=0.0.4"})
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - loopback
            assert r.status in (200, 202)
        scraped = _get(url + "/metrics")
    assert _verdict_spaces(scraped) == set(fleet_metrics["ids"])
    n = len(fleet_metrics["ids"])
    assert re.search(rf'^hfdiag_scan_spaces\{{[^}}]*job="hfdiag"[^}}]*\}} {n}$', scraped, re.M), scraped[-3000:]
    assert re.search(r'^push_failure_time_seconds\{[^}]*job="hfdiag"[^}]*\} 0$', scraped, re.M)


def test_promtool_check_metrics_is_clean(fleet_metrics):
    binary = _binary(*PROMTOOL)
    p = subprocess.run([binary, "check", "metrics"], input=fleet_metrics["text"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", (p.stdout, p.stderr)


def test_openmetrics_stays_available_and_differs_where_the_formats_differ(fleet_metrics):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    from prometheus_client.parser import text_string_to_metric_families as prom_families

    from hfdiag.render.openmetrics import to_openmetrics, to_prometheus

    report = {"target": "o/s", "verdict": {"bucket": "healthy", "rule": None, "confidence": "high", "knowledge": None},
              "probes": [{"probe": "space", "status": "ok", "duration_ms": 5.0}], "facts": []}
    om, prom = to_openmetrics([report], scan={"spaces": 1}), to_prometheus([report], scan={"spaces": 1})
    assert om.endswith("# EOF\n") and "# EOF" not in prom and "# UNIT" not in prom
    assert {f.name: f.type for f in text_string_to_metric_families(om)}["hfdiag_space_verdict_details"] == "info"
    prom_types = {f.name: f.type for f in prom_families(prom)}
    assert prom_types["hfdiag_space_verdict_details_info"] == "gauge"
    assert prom_types["hfdiag_scan_hub_rate_limited"] == "counter"
