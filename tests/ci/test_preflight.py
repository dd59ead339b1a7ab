"""`hfdiag preflight`: one fixture checkout per finding (fixtures/preflight/), run through the real CLI."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import ROOT, run_cli

FIX = ROOT / "fixtures" / "preflight"

CASES = {
    "front-matter-invalid": ("HFD-APP-060", "app", "README.md"),
    "sdk-unknown": ("HFD-APP-061", "app", "README.md"),
    "app-file-missing": ("HFD-APP-062", "app", "README.md"),
    "docker-port": ("HFD-APP-063", "app", "README.md"),
    "sdk-version-missing": ("HFD-APP-064", "app", "README.md"),
    "zerogpu-gradio3": ("HFD-APP-065", "app", "README.md"),
    "git-unpinned": ("HFD-APP-066", "app", "requirements.txt"),
    "zerogpu-torch-old": ("HFD-RT-060", "runtime", "requirements.txt"),
    "zerogpu-kernels-old": ("HFD-RT-061", "runtime", "requirements.txt"),
    "spaces-after-cuda": ("HFD-RT-062", "runtime", "app.py"),
    "big-blob": ("HFD-XFR-060", "transfer", "model.bin"),
    "huge-file": ("HFD-XFR-061", "transfer", "weights.bin"),
}


def checkout(name: str, tmp_path):
    dst = tmp_path / name
    shutil.copytree(FIX / name, dst)
    if name == "big-blob":  # 12 MB, not matched by .gitattributes (*.safetensors only); sparse
        with open(dst / "model.bin", "wb") as fh:
            fh.truncate(12 * 1024 * 1024)
    if name == "huge-file":  # 51 GB, LFS-tracked but over the per-file limit; sparse: no disk used
        with open(dst / "weights.bin", "wb") as fh:
            fh.truncate(51 * 1000 ** 3)
    return dst


def matched(report):
    return [f["id"] for f in report["findings"] if f["status"] == "match"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_finding_has_a_fixture(name, tmp_path, validate_report):
    rule, bucket, file = CASES[name]
    path = checkout(name, tmp_path)
    p = run_cli("preflight", str(path), "--format", "json")
    assert p.returncode == 1, p.stderr
    report = validate_report(json.loads(p.stdout))
    assert report["mode"] == "preflight"
    assert matched(report) == [rule], matched(report)
    assert report["verdict"]["bucket"] == bucket and report["verdict"]["rule"] == rule
    finding = report["findings"][0]
    assert finding["references"] and all(r["url"].startswith("https://") for r in finding["references"])
    assert finding["locations"][0]["file"] == file
    assert not any(f["bucket"] == "healthy" for f in report["findings"])


def test_clean_checkout_is_healthy(validate_report):
    p = run_cli("preflight", str(FIX / "clean"), "--format", "json")
    assert p.returncode == 0, p.stderr
    report = validate_report(json.loads(p.stdout))
    assert report["verdict"]["bucket"] == "healthy" and report["verdict"]["rule"] == "HFD-OK-060"


def test_default_path_is_the_current_directory():
    p = run_cli("preflight", "--format", "json", cwd=FIX / "zerogpu-torch-old")
    assert p.returncode == 1 and json.loads(p.stdout)["verdict"]["rule"] == "HFD-RT-060"


def test_formats_and_fail_on(tmp_path):
    path = str(FIX / "zerogpu-torch-old")
    gh = run_cli("preflight", path, "--format", "github")
    assert gh.returncode == 1
    assert gh.stdout.startswith("::error title=") and ",file=requirements.txt,line=1::" in gh.stdout
    md = run_cli("preflight", path, "--format", "markdown")
    assert md.returncode == 1 and md.stdout.startswith("**hfdiag preflight ")
    human = run_cli("preflight", path)
    assert human.returncode == 1 and "HFD-RT-060" in human.stdout
    assert run_cli("preflight", path, "--fail-on", "app").returncode == 0
    assert run_cli("preflight", path, "--fail-on", "platform").returncode == 1  # runtime is a platform bucket
    # --no-zerogpu: the same pins are fine on other hardware
    assert run_cli("preflight", path, "--no-zerogpu", "--format", "json").returncode == 0


def test_preflight_rules_never_fire_in_explain():
    p = run_cli("explain", "-", "--format", "json", "--fact", "space.stage=RUNTIME_ERROR", "--fact", "space.zerogpu=true",
                input="RuntimeError: CUDA error: no kernel image is available for execution on the device\n")
    report = json.loads(p.stdout)
    ids = [f["id"] for f in report["findings"]]
    assert not [i for i in ids if i.split("-")[-1] >= "060"], ids


def test_preflight_rules_are_linted_and_tested():
    p = run_cli("rules", "test")
    assert p.returncode == 0, p.stdout + p.stderr
    p = run_cli("rules", "lint")
    assert p.returncode == 0, p.stdout + p.stderr
    listing = run_cli("rules", "list").stdout
    for rule, _, _ in CASES.values():
        assert rule in listing
    assert os.path.exists(ROOT / "rules" / "healthy" / "HFD-OK-060.yaml")
