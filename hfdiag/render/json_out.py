"""JSON output (schema_version 1): one document, or one line per report with `jsonl`."""

from __future__ import annotations

import json

from hfdiag.environment import Environment


def dumps(report: dict, lines: bool = False) -> str:
    if lines:
        return json.dumps(report, ensure_ascii=False, separators=(",", ":"), default=str)
    return json.dumps(report, ensure_ascii=False, indent=2, default=str)


def render(report: dict, env: Environment, lines: bool = False, **_) -> None:
    env.stdout.write(dumps(report, lines) + "\n")
    env.stdout.flush()
