"""Metrics for a scan of many Spaces, in two expositions of the same families:

- the Prometheus text format 0.0.4 (`--format prometheus`): what node_exporter's textfile collector and the
  Pushgateway parse (neither accepts OpenMetrics' `info` type, `# UNIT` or `# EOF`), so the info family is a
  gauge named `..._info` and a counter's family carries its `_total` name;
- OpenMetrics 1.0 (`--format openmetrics`, https://prometheus.io/docs/specs/om/open_metrics_spec/) for
  scrapers that negotiate it.

Families:

- `hfdiag_space_verdict{space,bucket}` gauge: 1 for the verdict bucket of the Space, 0 for every other bucket
  (so `hfdiag_space_verdict{bucket="healthy"} == 0` alerts on any Space that is not healthy);
- `hfdiag_space_failing{space}` gauge: 1 when the Space has a finding at/above `--fail-on`;
- `hfdiag_probe_duration_seconds{space,probe,status}` gauge: how long each probe took;
- `hfdiag_route_success_ratio{space}` gauge: share of route requests that succeeded (absent if not probed);
- `hfdiag_scan_*`: the scan itself (duration, Spaces, 429 answers seen, re-checks).

Label values are escaped (`\\`, `"`, newline); the OpenMetrics exposition ends with `# EOF`.
"""

from __future__ import annotations

import math

from hfdiag.engine.data import BUCKETS

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _esc(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items()) + "}"


def _num(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _fact(report: dict, key: str):
    for f in report.get("facts") or []:
        if f["key"] == key:
            return f["value"]
    return None


class _Family:
    def __init__(self, name: str, mtype: str, help_text: str, unit: str | None = None):
        self.name, self.type, self.help, self.unit = name, mtype, help_text, unit
        self.samples: list[str] = []

    @property
    def suffix(self) -> str:
        return {"info": "_info", "counter": "_total"}.get(self.type, "")

    def add(self, value, **labels) -> None:
        self.samples.append(f"{self.name}{self.suffix}{_labels(**labels)} {_num(value)}")

    def lines(self, openmetrics: bool) -> list[str]:
        if openmetrics:
            out = [f"# TYPE {self.name} {self.type}"]
            if self.unit:
                out.append(f"# UNIT {self.name} {self.unit}")
            return out + [f"# HELP {self.name} {_esc(self.help)}"] + self.samples
        # text format 0.0.4: the family is named like its samples, info is a gauge, HELP escapes no quotes
        name = self.name + self.suffix
        kind = "gauge" if self.type == "info" else self.type
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"] + self.samples


def to_openmetrics(reports: list[dict], failing: list[bool] | None = None, scan: dict | None = None) -> str:
    return _expose(reports, failing, scan, openmetrics=True)


def to_prometheus(reports: list[dict], failing: list[bool] | None = None, scan: dict | None = None) -> str:
    """The Prometheus text format 0.0.4: for node_exporter's textfile collector and the Pushgateway."""
    return _expose(reports, failing, scan, openmetrics=False)


def _expose(reports: list[dict], failing: list[bool] | None, scan: dict | None, *, openmetrics: bool) -> str:
    verdict = _Family("hfdiag_space_verdict", "gauge", "1 for the verdict bucket of the Space, 0 for the others.")
    fail = _Family("hfdiag_space_failing", "gauge", "1 when the Space has a finding at or above --fail-on.")
    conf = _Family("hfdiag_space_verdict_details", "info", "Verdict details of the Space (rule, confidence, knowledge).")
    dur = _Family("hfdiag_probe_duration_seconds", "gauge", "Duration of each probe of the Space's check.", "seconds")
    ratio = _Family("hfdiag_route_success_ratio", "gauge",
                    "Share of route requests to the Space origin that succeeded (not 5xx, timeout or reset).")
    buckets = [b for b in BUCKETS]
    for n, r in enumerate(reports):
        space = r.get("target") or f"input-{n}"
        v = r["verdict"]
        for b in buckets:
            verdict.add(1 if v["bucket"] == b else 0, space=space, bucket=b)
        if failing is not None:
            fail.add(1 if failing[n] else 0, space=space)
        conf.add(1, space=space, rule=v.get("rule") or "", confidence=v.get("confidence") or "",
                 knowledge=v.get("knowledge") or "")
        for p in r.get("probes") or []:
            dur.add(float(p.get("duration_ms") or 0.0) / 1000.0, space=space, probe=p["probe"], status=p["status"])
        fr = _fact(r, "route.fail_ratio")
        if isinstance(fr, (int, float)) and not isinstance(fr, bool):
            ratio.add(max(0.0, min(1.0, 1.0 - float(fr))), space=space)
    families = [verdict] + ([fail] if failing is not None else []) + [conf, dur, ratio]
    if scan:
        rate = scan.get("rate_limit") or {}
        for name, mtype, help_text, unit, value in (
            ("hfdiag_scan_duration_seconds", "gauge", "Wall time of the scan.", "seconds", scan.get("wall_s", 0.0)),
            ("hfdiag_scan_spaces", "gauge", "Spaces in the scan.", None, scan.get("spaces", len(reports))),
            ("hfdiag_scan_concurrency", "gauge", "Spaces checked at once (--concurrency).", None,
             scan.get("concurrency", 0)),
            ("hfdiag_scan_hub_rate_limited", "counter", "429 answers from the Hub during the scan.", None,
             rate.get("throttled", 0)),
            ("hfdiag_scan_rechecked", "counter", "Spaces checked again because rate limiting damaged their evidence.",
             None, scan.get("rechecked", 0)),
        ):
            fam = _Family(name, mtype, help_text, unit)
            fam.add(value)
            families.append(fam)
    lines: list[str] = []
    for fam in families:
        if fam.samples:
            lines += fam.lines(openmetrics)
    if openmetrics:
        lines.append("# EOF")
    return "\n".join(lines) + "\n"
