"""The probes `hfdiag check` runs, in the order they are reported. Add a probe here (module:Class)."""

from __future__ import annotations

from importlib import import_module

PROBES = (
    "hfdiag.probes.space:SpaceProbe",
    "hfdiag.probes.auth:AuthProbe",
    "hfdiag.probes.logs:LogsProbe",
    "hfdiag.probes.route:RouteProbe",
    "hfdiag.probes.status:StatusProbe",
    "hfdiag.probes.zerogpu:ZeroGpuProbe",
    "hfdiag.probes.transfer:TransferProbe",
    "hfdiag.probes.dns:DnsProbe",
)


def load_probes() -> list:
    out = []
    for spec in PROBES:
        module, _, cls = spec.partition(":")
        out.append(getattr(import_module(module), cls)())
    return out
