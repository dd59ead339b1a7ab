"""JSON output (schema_version 1): one document, or one line per report with `jsonl`."""

from __future__ import annotations

import json
import re

from hfdiag.environment import Environment

_UNSAFE = re.compile("[\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def dumps(report: dict, lines: bool = False) -> str:
    if lines:
        text = json.dumps(report, ensure_ascii=False, separators=(",", ":"), default=str)
    else:
        text = json.dumps(report, ensure_ascii=False, indent=2, default=str)
    # JSON escapes C0 itself; DEL, C1 (a one-byte CSI) and the bidi/invisible format characters are escaped too,
    # so JSON printed on a terminal is as safe as the human format (the same data for a JSON reader)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def render(report: dict, env: Environment, lines: bool = False, **_) -> None:
    env.stdout.write(dumps(report, lines) + "\n")
    env.stdout.flush()
