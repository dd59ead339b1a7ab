"""The one redactor. Every string that leaves the process (reports, bundles, logs, errors) passes through it.

Two mechanisms:
- patterns for secrets of a known shape (hf tokens, JWTs, Authorization/cookie values, signed-URL query
  strings, e-mail addresses);
- exact values that the code producing a string declares sensitive (`Redactor.add_secret`), e.g. the token
  read from the environment, whatever its shape.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

# Query parameters that make a URL a bearer credential (CloudFront, S3 SigV4, Azure SAS, Xet signed ranges).
_SIGNED_PARAMS = (
    r"signature|x-amz-[a-z-]+|policy|key-pair-id|expires|x-xet-[a-z-]+|token|access_token|sig|se|sp|sv|"
    r"credential|auth|api_key|apikey|key|code|state"
)

# Where a token starts: a word boundary, or right after an escape sequence of JSON-escaped or repr'd text
# ("...\\nhf_abc..." has no word boundary between the escape's `n` and the token).
_START = r"(?:\b|(?<=\\[nrt]))"
_HDR_START = r"(?:(?<![\w-])|(?<=\\[nrt]))"

_PATTERNS: list[tuple[str, str]] = [
    # Authorization / Proxy-Authorization values (header lines, curl -H, dict reprs).
    ("authorization", r"(?i)" + _HDR_START + r"((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:bearer|basic|token|digest)\s+)?[^\s'\",;]+"),
    # Cookie / Set-Cookie header values up to the end of the line.
    ("cookie", r"(?i)" + _HDR_START + r"((?:set-)?cookie['\"]?\s*[:=]\s*['\"]?)[^\r\n'\"]+"),
    # JSON Web Tokens (X-IP-Token, Xet access tokens, Space JWTs).
    ("jwt", _START + r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    # Hugging Face user/org/app tokens.
    ("hf_token", _START + r"(?:hf|api_org|hf_oauth)_[A-Za-z0-9]{8,}\b"),
    # Query strings of signed URLs: keep the path, drop every parameter.
    ("signed_url", r"(?i)(" + _START + r"https?://[^\s?#'\"<>]+)\?(?=[^\s#'\"<>]*\b(?:" + _SIGNED_PARAMS + r")=)[^\s#'\"<>]*"),
    # E-mail addresses.
    ("email", r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b"),
]
_KEEP_PREFIX = {"authorization", "cookie", "signed_url"}
_COMBINED = re.compile(
    "|".join(f"(?P<{name}>(?i:{rx[4:]}))" if rx.startswith("(?i)") else f"(?P<{name}>{rx})" for name, rx in _PATTERNS)
)
# Group number of the "prefix to keep" inside each named alternative.
_PREFIX_GROUP = {}
for _name in _KEEP_PREFIX:
    _idx = _COMBINED.groupindex[_name]
    _PREFIX_GROUP[_name] = _idx + 1


def mask(kind: str) -> str:
    return f"[REDACTED:{kind}]"


class Redactor:
    """Redacts strings and JSON-like objects; counts what it removed, by kind."""

    def __init__(self, secrets: list[str] | None = None):
        self.counts: Counter[str] = Counter()
        self._secrets: set[str] = set()
        self._secret_rx: re.Pattern | None = None
        for s in secrets or []:
            self.add_secret(s)

    def add_secret(self, value: str | None) -> None:
        """Declare an exact value sensitive (e.g. the token in use), whatever its shape."""
        if value and len(value) >= 6 and value not in self._secrets:
            self._secrets.add(value)
            alts = sorted(self._secrets, key=len, reverse=True)
            self._secret_rx = re.compile("|".join(re.escape(a) for a in alts))

    def _sub(self, m: re.Match) -> str:
        kind = m.lastgroup or "secret"
        self.counts[kind] += 1
        if kind in _PREFIX_GROUP:
            return (m.group(_PREFIX_GROUP[kind]) or "") + (mask(kind) if kind != "signed_url" else "?" + mask(kind))
        return mask(kind)

    def text(self, value: str) -> str:
        if not value:
            return value
        if self._secret_rx is not None:
            value, n = self._secret_rx.subn(mask("secret"), value)
            if n:
                self.counts["secret"] += n
        return _COMBINED.sub(self._sub, value)

    def obj(self, value: Any) -> Any:
        """Redact every string (keys included) of a JSON-like structure; returns a new structure."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.obj(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.obj(v) for v in value]
        return value

    def summary(self) -> str:
        if not self.counts:
            return "nothing needed redacting"
        parts = [f"{n} {kind.replace('_', ' ')}{'s' if n > 1 else ''}" for kind, n in sorted(self.counts.items())]
        return "redacted: " + ", ".join(parts)


def redact(value: str) -> str:
    """Pattern-only redaction of one string (no declared secrets)."""
    return Redactor().text(value)
