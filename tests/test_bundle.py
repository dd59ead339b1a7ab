"""Evidence bundles: exact round trip, and one-line errors on hostile or foreign bundles."""

import json

import pytest
from conftest import run_cli

from hfdiag.errors import InputError
from hfdiag.evidence import Bundle, Fact, ProbeResult, TextInput


def sample_bundle() -> Bundle:
    p = ProbeResult("space", "ok", 12.5, error=None, excerpts=["===== Application Startup at 2026-06-01 14:49:54 ====="],
                    detail={"stage_history": ["BUILDING", "RUNNING"]})
    p.fact("space.stage", "RUNNING")
    p.fact("space.replicas_current", 1)
    p.fact("route.replicas", ["uxm7fnh3-hqx78"], kind="inferred")
    denied = ProbeResult("logs", "denied", 3.0, error="401 from /logs/run: log access needs the owner's token")
    return Bundle(target="alice/demo", probes=[p, denied], inputs=[TextInput("stdin", "ünïcode ok\n")],
                  facts=[Fact("space.hardware", "zero-a10g", "cli:--fact")])


def test_round_trip_is_exact():
    b = sample_bundle()
    text = b.dumps()
    again = Bundle.loads(text)
    assert again.dumps() == text
    assert again.to_dict() == json.loads(text)


def test_fact_set_pins_cli_facts_over_probe_facts():
    b = sample_bundle()
    b.probes[0].fact("space.hardware", "cpu-basic")
    assert b.fact_set().get("space.hardware") == "zero-a10g"


@pytest.mark.parametrize(
    "doc,fragment",
    [
        ([], "top level must be a JSON object"),
        ({"kind": "something-else", "schema_version": 1}, "'kind' must be"),
        ({"kind": "hfdiag-evidence-bundle", "schema_version": 99}, "unsupported schema_version 99"),
        ({"kind": "hfdiag-evidence-bundle", "schema_version": 1, "probes": {}}, "'probes' must be a list"),
        ({"kind": "hfdiag-evidence-bundle", "schema_version": 1, "probes": [{"probe": 3}]}, "string 'probe'"),
        ({"kind": "hfdiag-evidence-bundle", "schema_version": 1, "probes": [{"probe": "x", "status": "weird"}]},
         "unknown status"),
        ({"kind": "hfdiag-evidence-bundle", "schema_version": 1, "facts": [{"key": "a", "value": {"x": 1}}]},
         "scalar or a flat list"),
    ],
)
def test_hostile_bundles_are_rejected_with_one_line(doc, fragment):
    with pytest.raises(InputError) as e:
        Bundle.loads(json.dumps(doc))
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_deeply_nested_bundle_is_rejected():
    nested = {"kind": "hfdiag-evidence-bundle", "schema_version": 1, "probes": [], "x": None}
    cur = nested
    for _ in range(200):
        cur["x"] = {"x": None}
        cur = cur["x"]
    with pytest.raises(InputError, match="nested deeper"):
        Bundle.loads(json.dumps(nested))


def test_explain_replays_a_bundle_offline(tmp_path, validate_report):
    path = tmp_path / "b.json"
    sample_bundle().write(path)
    proc = run_cli("explain", str(path), "--format", "json")
    assert proc.returncode in (0, 1, 3), proc.stderr
    report = validate_report(json.loads(proc.stdout))
    assert report["target"] == "alice/demo"
    facts = {f["key"]: f for f in report["facts"]}
    assert facts["space.stage"]["value"] == "RUNNING" and facts["space.stage"]["source"] == "probe:space"
    assert [p["status"] for p in report["probes"]] == ["ok", "denied"]


def test_cli_error_for_unknown_schema_version_is_one_line(tmp_path):
    path = tmp_path / "future.json"
    path.write_text(json.dumps({"kind": "hfdiag-evidence-bundle", "schema_version": 7}))
    proc = run_cli("explain", str(path))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unsupported schema_version 7" in proc.stderr
    assert "Traceback" not in proc.stderr
