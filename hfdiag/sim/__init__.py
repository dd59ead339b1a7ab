"""hfdiag.sim: a faithful simulated Hugging Face on loopback (Hub API, Spaces edge, Gradio + ZeroGPU, Xet/CDN,
status page, DNS), with named failure scenarios. Needs the `sim` extra (starlette, uvicorn) only for `Simulator`.
"""

from __future__ import annotations

from .scenario import Scenario, ScenarioError, list_scenarios, load_scenario

__all__ = ["Simulator", "Scenario", "ScenarioError", "list_scenarios", "load_scenario"]


def __getattr__(name: str):
    if name == "Simulator":  # imported lazily: starlette/uvicorn are an optional extra
        from .server import Simulator

        return Simulator
    raise AttributeError(name)
