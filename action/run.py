"""The Action's check step: inputs (HFDIAG_* environment variables) -> `hfdiag check ... --format github` ->
step outputs (exit-code, bucket, rule, confidence, summary, report-path) in $GITHUB_OUTPUT.

`args` is one argument per line, or a JSON/YAML list: nothing is word-split or glob-expanded, so
`--zerogpu-data=["a prompt"]` arrives as one argument. A usage error (ours or hfdiag's, exit 2) is also an
`::error` annotation, so it shows on the run's summary page and not only in the log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

USAGE = 2


def parse_args_input(text: str) -> list[str]:
    """`args`: a JSON/YAML list (`["--timeout", "60"]`, or lines starting with `- `), else one argument per
    line (blank lines skipped, surrounding whitespace trimmed)."""
    stripped = text.strip()
    if not stripped:
        return []
    if stripped.startswith("[") or stripped.startswith("- "):
        import yaml

        try:
            value = yaml.safe_load(stripped)
        except yaml.YAMLError as e:
            raise ValueError(f"args looks like a list but does not parse: {str(e).splitlines()[0]}") from None
        if not isinstance(value, list) or not all(isinstance(x, (str, int, float)) for x in value):
            raise ValueError("args as a list must hold strings (one argument each)")
        return [x if isinstance(x, str) else json.dumps(x) for x in value]
    return [line.strip() for line in stripped.splitlines() if line.strip()]


def _annotation(level: str, message: str) -> str:
    from hfdiag.render.github import command

    return command(level, message, title="hfdiag action")


def set_outputs(values: dict[str, str]) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        for name, value in values.items():
            delimiter = f"hfdiag_{uuid.uuid4().hex}"  # a value can never contain it
            fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def command_line(environ: dict, report_path: Path) -> list[str]:
    space = environ.get("HFDIAG_SPACE", "").strip()
    if not space or any(c.isspace() for c in space):
        raise ValueError(f"space must be one Space id (owner/name), got {space!r}")
    fail_on = environ.get("HFDIAG_FAIL_ON", "").strip()
    if not fail_on:
        raise ValueError("fail-on is empty: name buckets, 'platform', 'any', or 'none' to never fail")
    wait = environ.get("HFDIAG_WAIT", "").strip() or "0"
    try:
        if float(wait) < 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"wait must be a number of seconds, got {wait!r}") from None
    args = parse_args_input(environ.get("HFDIAG_ARGS", ""))
    legacy = environ.get("HFDIAG_EXTRA_ARGS", "").strip()
    if legacy:  # v1's single-line input: split by shell quoting rules (shlex), never by bare whitespace
        import shlex

        try:
            args = shlex.split(legacy) + args
        except ValueError as e:
            raise ValueError(f"extra-args: {e} (use args: one argument per line)") from None
    return [sys.executable, "-m", "hfdiag", "check", space, "--format", "github", "--fail-on", fail_on,
            "--wait", wait, "--report", str(report_path), *args]


def main() -> int:
    environ = dict(os.environ)
    report_path = Path(environ.get("RUNNER_TEMP") or ".") / f"hfdiag-report-{uuid.uuid4().hex[:8]}.json"
    try:
        argv = command_line(environ, report_path)
    except ValueError as e:
        print(_annotation("error", f"hfdiag action: {e}"), flush=True)
        set_outputs({"exit-code": str(USAGE)})
        return USAGE
    p = subprocess.run(argv, stderr=subprocess.PIPE, text=True, errors="replace")
    sys.stderr.write(p.stderr)
    outputs = {"exit-code": str(p.returncode)}
    if p.returncode == USAGE:
        said = [x for x in p.stderr.splitlines() if x.strip()]
        print(_annotation("error", said[-1] if said else "hfdiag check: usage or configuration error (exit 2)"))
    if report_path.is_file():
        report = json.loads(report_path.read_text(encoding="utf-8"))
        v = report["verdict"]
        from hfdiag.redact import Redactor

        outputs.update({"bucket": v["bucket"], "rule": v.get("rule") or "", "confidence": v["confidence"],
                        "summary": Redactor().text(" ".join(str(v.get("summary") or "").split())),
                        "report-path": str(report_path)})
    set_outputs(outputs)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
