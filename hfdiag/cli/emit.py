"""Emitting reports: one place that picks the renderer, so every command renders the same way."""

from __future__ import annotations

from hfdiag.environment import Environment


def emit(report: dict, env: Environment, fmt: str, **options) -> None:
    from hfdiag.render import get_renderer

    if options.get("lines") and fmt == "json":
        get_renderer("json")(report, env, lines=True)
        return
    get_renderer(fmt)(report, env, **options)
