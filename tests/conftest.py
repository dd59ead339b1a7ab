"""Shared test helpers. Tests run offline: the CLI runs as a real subprocess, the network is loopback only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "hfdiag" / "schema" / "report-v1.schema.json"


def cli_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "GITHUB_"))}
    env.update({"NO_COLOR": "1", "COLUMNS": "100", "HF_HOME": str(ROOT / ".no-hf-home"), "PYTHONIOENCODING": "utf-8"})
    env.update(extra)
    return env


def run_cli(*args: str, input: str | bytes | None = None, env: dict | None = None, timeout: float = 60,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m hfdiag ARGS` as a user would; returns the completed process (text mode unless bytes in)."""
    text = not isinstance(input, bytes)
    return subprocess.run(
        [sys.executable, "-m", "hfdiag", *args], input=input, capture_output=True, text=text,
        env=env or cli_env(), timeout=timeout, cwd=cwd or ROOT,
    )


@pytest.fixture(scope="session")
def report_schema() -> dict:
    return json.loads(SCHEMA.read_text())


@pytest.fixture(scope="session")
def validate_report(report_schema):
    import jsonschema

    validator = jsonschema.Draft202012Validator(report_schema)

    def check(doc: dict) -> dict:
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
        return doc

    return check
