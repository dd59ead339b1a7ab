"""Locating and safely reading the rule data (rules/, shipped in the wheel as hfdiag/_rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hfdiag.errors import RuleError

MAX_RULE_FILE_BYTES = 256 * 1024
MAX_RULE_FILES = 2000

BUCKETS = (
    "builder", "proxy", "zerogpu-settlement", "zerogpu-identity", "zerogpu-quota",
    "transfer", "egress", "runtime", "app", "healthy", "inconclusive",
)
PLATFORM_BUCKETS = ("builder", "proxy", "zerogpu-settlement", "zerogpu-identity", "transfer", "egress", "runtime")


def default_rules_dir() -> Path:
    pkg = Path(__file__).resolve().parent.parent
    shipped = pkg / "_rules"
    if shipped.is_dir():
        return shipped
    return pkg.parent / "rules"  # source checkout / editable install


def read_yaml(path: Path, max_bytes: int = MAX_RULE_FILE_BYTES) -> Any:
    """yaml.safe_load with a size cap and one-line errors."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise RuleError(f"{path}: cannot read ({e.strerror})") from None
    if size > max_bytes:
        raise RuleError(f"{path}: larger than {max_bytes // 1024} KiB")
    import yaml  # here, not at import: `check` reads the rules while its first requests are in flight

    # libyaml's safe loader when present: the same safe subset (no python/* tags), ~10x faster
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with path.open("rb") as fh:
            return yaml.load(fh, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RuleError(f"{path}:{where} invalid YAML ({getattr(e, 'problem', None) or 'parse error'})") from None
    except (UnicodeDecodeError, RecursionError):
        raise RuleError(f"{path}: not readable as YAML text") from None
