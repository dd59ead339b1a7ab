"""Pieces of text shared by the human, Markdown and GitHub renderers."""

from __future__ import annotations

SYMBOLS = {"seen": "✔", "missing": "✘", "unknown": "?"}
ASCII_SYMBOLS = {"seen": "+", "missing": "x", "unknown": "?"}


def chain_line(chain: dict, ascii_only: bool = False, labels: bool = False) -> str:
    sym = ASCII_SYMBOLS if ascii_only else SYMBOLS
    arrow = " -> " if ascii_only else " → "
    return arrow.join(f"{sym[h['status']]} {h['label'] if labels else h['id']}" for h in chain["hops"])


def grouped_facts(facts: list[dict]) -> list[tuple[str, str]]:
    """Facts grouped by family (`space`, `route`, ...) as `key=value` runs: compact for a terminal."""
    groups: dict[str, list[str]] = {}
    for f in facts:
        family, _, rest = f["key"].partition(".")
        groups.setdefault(family, []).append(f"{rest or family}={fact_value(f['value'])}")
    return [(family, "  ".join(items)) for family, items in groups.items()]


def fact_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value[:10]) + (" …" if len(value) > 10 else "")
        return f"[{text}]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def observed_facts(report: dict) -> list[dict]:
    """Observed facts, those the matching rules looked at first (winner first), then the rest by key."""
    used: dict[str, int] = {}
    for f in report["findings"]:
        if f["status"] == "match":
            for leaf in f.get("trace") or []:
                used.setdefault(leaf["fact"], len(used))
    facts = [f for f in report["facts"] if f["kind"] == "observed"]
    return sorted(facts, key=lambda f: (used.get(f["key"], len(used)), f["key"]))


def inferred_facts(report: dict) -> list[dict]:
    return [f for f in report["facts"] if f["kind"] == "inferred"]


def matched(report: dict) -> list[dict]:
    return [f for f in report["findings"] if f["status"] == "match"]


def near_misses(report: dict) -> list[dict]:
    return [f for f in report["findings"] if f["status"] == "inconclusive"]


def needs_lines(report: dict) -> list[str]:
    """What would decide an inconclusive verdict, one line per source (token, flag, probe), facts after it."""
    from hfdiag.engine.verdict import need_label

    groups: dict[str, list[str]] = {}
    for n in report["verdict"].get("needs", []):
        groups.setdefault(need_label(n.get("needs"), n.get("probe")), []).append(n["fact"])
    text_only = need_label(None, None)
    order = sorted(groups, key=lambda k: k == text_only)
    return [f"{how}: {', '.join(groups[how])}" for how in order]


def cue_lines(report: dict, most: int = 6) -> list[str]:
    """The text cues that fired, strongest first: weight, bucket, what the cue means, and the words it saw."""
    hits = (report.get("cues") or {}).get("hits") or []
    out = []
    for h in hits[:most]:
        sign = "+" if h["weight"] > 0 else "-"
        out.append(f"{sign}{abs(h['weight']):g} {h['bucket']}: {h['means']} (\"{h['excerpt']}\", {h['source']})")
    if len(hits) > most:
        out.append(f"… and {len(hits) - most} more (--format json lists them all)")
    return out


def raise_lines(report: dict) -> list[str]:
    """What would decide the verdict, or make a text-only verdict firmer."""
    return list(report["verdict"].get("raise_confidence") or [])
