from hfdiag.evidence.bundle import Bundle, looks_like_bundle
from hfdiag.evidence.model import Fact, FactSet, ProbeResult, TextInput

__all__ = ["Bundle", "Fact", "FactSet", "ProbeResult", "TextInput", "looks_like_bundle"]
