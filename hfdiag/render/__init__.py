"""Renderers: one small module per output format, each `render(report, env, **options) -> None`.

Every renderer draws an already redacted report; human-readable formats also pass their final text through
the redactor once more (defence in depth)."""

from __future__ import annotations

from importlib import import_module
from typing import Protocol

from hfdiag.environment import Environment

FORMATS = ("human", "json", "markdown", "github")


class Renderer(Protocol):
    def __call__(self, report: dict, env: Environment, **options) -> None: ...


def get_renderer(fmt: str) -> Renderer:
    module = {"human": "human", "json": "json_out", "markdown": "markdown", "github": "github"}[fmt]
    return import_module(f"hfdiag.render.{module}").render
