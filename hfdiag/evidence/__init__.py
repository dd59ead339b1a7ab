from hfdiag.evidence.model import Fact, FactSet, ProbeResult, TextInput

__all__ = ["Bundle", "Fact", "FactSet", "ProbeResult", "TextInput", "looks_like_bundle"]


def __getattr__(name: str):
    # The bundle module (json, datetime) is imported on first use: `check` needs it only after its probes.
    if name in ("Bundle", "looks_like_bundle"):
        from hfdiag.evidence import bundle

        return getattr(bundle, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
