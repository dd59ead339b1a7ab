"""`hfdiag explain` end to end through the real CLI: formats, JSON Lines, --fact, exit codes, bad input."""

import json

import pytest
from conftest import run_cli

MODULE = "Traceback (most recent call last):\nModuleNotFoundError: No module named 'torch'\n"
SCHED = "Runtime error\nScheduling failure: not enough hardware capacity\n"


def test_json_output_validates_and_names_the_bucket(validate_report):
    proc = run_cli("explain", "-", "--format", "json", input=MODULE)
    report = validate_report(json.loads(proc.stdout))
    assert report["verdict"]["bucket"] == "app"
    assert report["verdict"]["rule"].startswith("HFD-APP-")
    assert proc.returncode == 1  # a finding at/above the default --fail-on any


def test_several_inputs_give_json_lines_in_input_order(tmp_path, validate_report):
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text(SCHED)
    b.write_text(MODULE)
    proc = run_cli("explain", str(a), str(b), "--format", "json")
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2
    reports = [validate_report(json.loads(line)) for line in lines]
    assert [r["target"] for r in reports] == [str(a), str(b)]
    assert [r["verdict"]["bucket"] for r in reports] == ["builder", "app"]


def test_fact_overrides_text_derived_facts(validate_report):
    proc = run_cli("explain", "-", "--format", "json", "--fact", "app.error_kind=pip_resolution", input=MODULE)
    report = validate_report(json.loads(proc.stdout))
    facts = {f["key"]: f for f in report["facts"]}
    assert facts["app.error_kind"]["value"] == "pip_resolution"
    assert facts["app.error_kind"]["source"] == "cli:--fact"


@pytest.mark.parametrize("kv,key,value", [("space.stage=PAUSED", "space.stage", "PAUSED"),
                                          ("route.status=503", "route.status", 503),
                                          ("build_log.lines=0", "build_log.lines", 0),
                                          ("route.reached_app=true", "route.reached_app", True),
                                          ("space.hardware=zero-a10g", "space.hardware", "zero-a10g")])
def test_design_fact_keys_are_accepted_and_typed(kv, key, value):
    proc = run_cli("explain", "-", "--format", "json", "--fact", kv, input="")
    facts = {f["key"]: f["value"] for f in json.loads(proc.stdout)["facts"]}
    assert facts[key] == value


def test_unrecognised_text_is_inconclusive_with_exit_3(validate_report):
    proc = run_cli("explain", "-", "--format", "json", input="my space does not work, please help\n")
    report = validate_report(json.loads(proc.stdout))
    assert report["verdict"]["bucket"] == "inconclusive"
    assert proc.returncode == 3


def test_fail_on_none_and_bucket_lists():
    assert run_cli("explain", "-", "--fail-on", "none", input=MODULE).returncode == 0
    assert run_cli("explain", "-", "--fail-on", "builder,proxy", input=MODULE).returncode == 0
    assert run_cli("explain", "-", "--fail-on", "app", input=MODULE).returncode == 1
    assert run_cli("explain", "-", "--fail-on", "platform", input=SCHED).returncode == 1


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["explain", "-", "--format", "yaml"], "--format 'yaml'"),
        (["explain", "-", "--fact", "novalue"], "expected KEY=VALUE"),
        (["explain", "-", "--fact", "build_log.lines=many"], "expected a whole number"),
        (["explain", "-", "--fail-on", "everything"], "--fail-on 'everything'"),
        (["explain", "/nonexistent/file.log"], "no such file"),
        (["explain", "-", "--markdown-flavor", "reddit"], "--markdown-flavor"),
        (["explain", "-", "--nonsense"], "No such option"),
        (["explain", "-", "--rules-dir", "/nonexistent"], "rules directory not found"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args, fragment):
    proc = run_cli(*args, input="")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_binary_and_invalid_utf8_input_gives_a_bounded_result():
    blob = bytes(range(256)) * 4096 + b"\xff\xfe\nModuleNotFoundError: No module named 'cv2'\n\xc3\x28"
    proc = run_cli("explain", "-", "--format", "json", input=blob)
    report = json.loads(proc.stdout)
    assert report["verdict"]["bucket"] == "app"
    assert proc.stderr == b""


def test_very_long_line_is_scanned_in_bounded_time_and_output():
    line = "x" * 5_000_000 + " ModuleNotFoundError: No module named 'numpy' " + "y" * 5_000_000 + "\n"
    proc = run_cli("explain", "-", "--format", "json", input=line)
    report = json.loads(proc.stdout)
    assert report["verdict"]["bucket"] == "app"
    assert len(proc.stdout) < 200_000


def test_markdown_flavors_fold_differently():
    gh = run_cli("explain", "-", "--format", "markdown", input=SCHED).stdout
    dc = run_cli("explain", "-", "--format", "markdown", "--markdown-flavor", "discourse", input=SCHED).stdout
    assert "<details><summary>" in gh and "[details=" not in gh
    assert '[details="' in dc and "[/details]" in dc
    assert gh.startswith("**hfdiag") and "builder" in gh.splitlines()[0]


def test_human_output_leads_with_the_verdict_and_keeps_facts_apart():
    out = run_cli("explain", "-", input=SCHED).stdout
    first = out.splitlines()[0]
    assert first.startswith("Verdict") and "builder" in first
    assert out.index("Observed") < out.index("Interpretation")
    assert "\x1b[" not in out  # NO_COLOR is respected


def test_stdin_twice_is_a_usage_error():
    proc = run_cli("explain", "-", "-", input=SCHED)
    assert proc.returncode == 2 and "only once" in proc.stderr
