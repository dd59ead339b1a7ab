"""The one redactor. Every string that leaves the process (reports, bundles, logs, errors) passes through it.

Three mechanisms:
- patterns for secrets of a known shape (hf, GitHub, AWS, OpenAI-style, Slack and Google tokens, JWTs) and in
  a context that makes a value a secret (Authorization/cookie values, URL userinfo as in connection strings,
  signed-URL query strings, secret-named query parameters and `*_TOKEN=` / `*_KEY=` / `password:`
  assignments), plus e-mail addresses;
- exact values that the code producing a string declares sensitive (`Redactor.add_secret`), e.g. the token
  read from the environment, whatever its shape;
- the opposite declaration: the project's own text (rule titles, next steps, references: `Redactor.allow`)
  is never masked, so its advice ("write to website@huggingface.co") survives; a match found verbatim in it
  is kept.
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

# Names whose value is a secret in `NAME=value`, `"NAME": "value"`, `NAME: value`, `?NAME=value`.
_SECRET_NAME = (r"[\w.-]*?(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|"
                r"private[_-]?key|_key|-key|credentials?)")
# Unquoted `NAME: value` is prose as often as YAML: only names that cannot be a plain word ("token: expired").
_COLON_NAME = (r"(?:[\w.-]*?(?:password|passwd|passphrase|secret)|"
               r"[\w.-]*?[_.-](?:token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|key|credentials?))")
# A value worth masking: not a boolean/empty marker, not an existing mask.
_SECRET_VALUE = r"(?![\[<])(?!(?:true|false|none|null|yes|no|\*+)(?![^\s'\",;&<>)\]}]))[^\s'\",;&<>)\]}]{4,}"

_PATTERNS: list[tuple[str, str]] = [
    # Credentials in a URL's userinfo (`postgres://user:password@db`, `https://token@github.com`).
    ("url_credentials", r"(?i)(\b[a-z][a-z0-9+.-]{1,20}://)[^\s/?#@'\"<>]+@(?=[^\s/?#@'\"<>]*[\w\]])"),
    # Authorization / Proxy-Authorization values (header lines, curl -H, dict reprs).
    ("authorization", r"(?i)" + _HDR_START + r"((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:bearer|basic|token|digest)\s+)?[^\s'\",;]+"),
    # Cookie / Set-Cookie header values up to the end of the line.
    ("cookie", r"(?i)" + _HDR_START + r"((?:set-)?cookie['\"]?\s*[:=]\s*['\"]?)[^\r\n'\"]+"),
    # JSON Web Tokens (X-IP-Token, Xet access tokens, Space JWTs).
    ("jwt", _START + r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    # Hugging Face user/org/app tokens.
    ("hf_token", _START + r"(?:hf|api_org|hf_oauth)_[A-Za-z0-9]{8,}\b"),
    # GitHub (classic and fine-grained), AWS access key ids, OpenAI/Anthropic-style, Slack, Google, Stripe keys.
    ("github_token", _START + r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
    ("aws_key", _START + r"(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b"),
    # an AWS secret access key: 40 base64 characters mixing cases and digits (a git sha is lower-case hex)
    ("aws_secret", r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])"
                   r"(?=[A-Za-z0-9/+]{0,39}[0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
    ("api_key", _START + r"(?:sk-(?:proj-|ant-|live-)?[A-Za-z0-9_-]{20,}|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|"
                r"AIza[0-9A-Za-z_-]{35}|xox[abposre]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/services/[A-Za-z0-9/_-]+)"),
    # `NAME=value`, `"NAME": "value"`, `?NAME=value`: the value of a secret-named setting or parameter.
    ("secret_value", r"(?i)(" + _HDR_START + r"(?:[\"']" + _SECRET_NAME + r"[\"']\s*[:=]|" + _SECRET_NAME
                     + r"[\"']?\s*=|" + _COLON_NAME + r"[\"']?\s*:(?!//))\s*[\"']?)" + _SECRET_VALUE),
    # Query strings of signed URLs: keep the path, drop every parameter.
    ("signed_url", r"(?i)(" + _START + r"https?://[^\s?#'\"<>]+)\?(?=[^\s#'\"<>]*\b(?:" + _SIGNED_PARAMS + r")=)[^\s#'\"<>]*"),
    # E-mail addresses.
    ("email", r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b"),
]
_KEEP_PREFIX = {"authorization", "cookie", "signed_url", "url_credentials", "secret_value"}
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
        self._own = ""  # the project's own text: a match found in it is not a secret
        for s in secrets or []:
            self.add_secret(s)

    def add_secret(self, value: str | None) -> None:
        """Declare an exact value sensitive (e.g. the token in use), whatever its shape."""
        if value and len(value) >= 6 and value not in self._secrets:
            self._secrets.add(value)
            alts = sorted(self._secrets, key=len, reverse=True)
            self._secret_rx = re.compile("|".join(re.escape(a) for a in alts))

    def allow(self, own_texts) -> None:
        """Declare the project's own text (rule titles, next steps, references): what it holds is never masked."""
        self._own += "".join("\n" + t for t in own_texts if isinstance(t, str) and t)

    def _sub(self, m: re.Match) -> str:
        kind = m.lastgroup or "secret"
        if self._own and m.group(0) in self._own:
            return m.group(0)
        if kind == "secret_value":  # `HF_TOKEN=hf_…`: named by what the value is, when its shape says
            inner = _COMBINED.fullmatch(m.group(0)[len(m.group(_PREFIX_GROUP[kind]) or ""):])
            kind = inner.lastgroup if inner and inner.lastgroup not in (None, "secret_value") else kind
            prefix = m.group(_PREFIX_GROUP["secret_value"]) or ""
            self.counts[kind] += 1
            return prefix + mask(kind)
        self.counts[kind] += 1
        if kind in _PREFIX_GROUP:
            prefix = m.group(_PREFIX_GROUP[kind]) or ""
            if kind == "signed_url":
                return prefix + "?" + mask(kind)
            return prefix + mask(kind) + ("@" if kind == "url_credentials" else "")
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


def own_texts(findings) -> list[str]:
    """The project's own text in a report's findings (dicts) or rules: titles, next steps, references."""
    out: list[str] = []
    for f in findings or []:
        get = f.get if isinstance(f, dict) else lambda k, f=f: getattr(f, k, None)
        out += [get("title") or ""] + list(get("next_steps") or [])
        out += [str(r.get(k) or "") for r in get("references") or [] if isinstance(r, dict) for k in ("title", "url")]
    return out


def redact_output(text: str, report: dict) -> str:
    """The last pass over a rendered report (defence in depth), the report's own text exempt."""
    redactor = Redactor()
    redactor.allow(own_texts(report.get("findings")))
    return redactor.text(text)


def redact(value: str) -> str:
    """Pattern-only redaction of one string (no declared secrets)."""
    return Redactor().text(value)
