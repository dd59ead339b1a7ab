"""The environment facts a helper asks for first (`hfdiag env`), and the version line of every paste.

Versions come from distribution metadata (importlib.metadata): huggingface_hub, gradio, hf_xet ... are never
imported. Variables are shown by name; values only when they are not sensitive, and every value passes the
redactor. The token itself is never shown: only whether one is present, where it came from, and whose it is
(one whoami-v2 call, through the same Http client as the probes, to --endpoint).
"""

from __future__ import annotations

import platform
import re
import sys
from typing import Mapping

from hfdiag import __version__
from hfdiag.clientenv import CA_VARS, PROXY_VARS, dist_version
from hfdiag.redact import Redactor

#: libraries whose versions matter for a Spaces / Hub problem, in the order they are shown
LIBRARIES = ("huggingface_hub", "hf_xet", "hf_transfer", "gradio", "gradio_client", "spaces", "torch",
             "transformers", "diffusers", "accelerate", "httpx", "requests")
#: always listed, even when not installed
KEY_LIBRARIES = ("huggingface_hub", "gradio", "hf_xet")
_SENSITIVE_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|COOKIE|AUTH", re.I)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
NO_PROXY_VARS = ("NO_PROXY", "no_proxy")
SPACE_VARS = ("SPACE_ID", "SPACE_HOST", "SPACE_AUTHOR_NAME", "SPACE_REPO_NAME", "SPACE_TITLE", "SYSTEM",
              "SPACES_ZERO_GPU")


def library_versions(names: tuple[str, ...] = LIBRARIES, always: tuple[str, ...] = KEY_LIBRARIES) -> dict:
    out: dict[str, str | None] = {}
    for name in names:
        v = dist_version(name) or (dist_version(name.replace("_", "-")) if "_" in name else None)
        if v is not None or name in always:
            out[name] = v
    return out


def versions_line(libs: dict | None = None) -> str:
    """`hfdiag 0.1.0 · Python 3.11.7 · Linux-x86_64 · huggingface_hub 1.2.3 · gradio not installed ...`"""
    libs = library_versions() if libs is None else libs
    parts = [f"hfdiag {__version__}", f"Python {platform.python_version()}", f"{platform.system()}-{platform.machine()}"]
    parts += [f"{k} {v or 'not installed'}" for k, v in libs.items()]
    return " · ".join(parts)


def _safe_value(name: str, value: str, redactor: Redactor) -> str:
    if _SENSITIVE_NAME.search(name):
        redactor.counts["secret"] += 1
        return "[set, redacted]"
    value, n = _URL_USERINFO.subn(lambda m: m.group(1) + "[REDACTED:userinfo]@", value)
    if n:
        redactor.counts["url_credentials"] += n
    return redactor.text(value)


def gather(environ: Mapping[str, str], *, token: str | None, token_source: str | None, whoami: dict | None,
           endpoint: str, redactor: Redactor) -> dict:
    """The environment document (already redacted). `whoami` is the outcome of the whoami call, or None."""
    from hfdiag.auth import IMPLICIT_TOKEN_OFF, env_flag, hub_offline, token_file
    from hfdiag.clientenv import cache_dir, free_bytes

    token_path = token_file(environ)

    hub_vars = {}
    for k in sorted(environ):
        if k.startswith(("HF_", "HUGGING_FACE_", "HUGGINGFACE_")):
            hub_vars[k] = _safe_value(k, environ[k], redactor)
    proxies = {}
    for k in PROXY_VARS + NO_PROXY_VARS:
        if environ.get(k):
            proxies[k] = _safe_value(k, environ[k], redactor)
    cdir = cache_dir(environ)
    doc = {
        "schema_version": 1,
        "tool": {"name": "hfdiag", "version": __version__},
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                   "executable": "venv" if sys.prefix != sys.base_prefix else "system"},
        "platform": {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
                     "platform": platform.platform(terse=True)},
        "libraries": library_versions(),
        "hub": {"endpoint": redactor.text(endpoint), "token_present": bool(token), "token_source": token_source,
                # as `hf env` shows them: where the stored token lives, whether there is one, the two switches
                "token_path": redactor.text(str(token_path)), "saved_token": token_path.is_file(),
                "offline": hub_offline(environ), "implicit_token": not env_flag(environ, IMPLICIT_TOKEN_OFF),
                **(whoami or {})},
        "hub_variables": hub_vars,
        "proxies": proxies,
        "ca_bundle_variables": [k for k in CA_VARS if environ.get(k)],
        "cache": {"dir": redactor.text(str(cdir)), "free_bytes": free_bytes(cdir)},
        "space": {k: redactor.text(environ[k]) for k in SPACE_VARS if environ.get(k)},
    }
    doc = _redact_values(doc, redactor)  # keys are ours (names like hf_transfer must stay readable)
    doc["redaction"] = {"summary": _summary(redactor), "counts": dict(sorted(redactor.counts.items()))}
    return doc


def _redact_values(value, redactor: Redactor):
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, dict):
        return {k: _redact_values(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_values(v, redactor) for v in value]
    return value


def _summary(redactor: Redactor) -> str:
    base = redactor.summary()
    return base + "; the token itself is never shown (only present yes/no and its owner)"


async def whoami(endpoint: str, token: str, trust_env: bool = True, timeout: float = 10.0) -> dict:
    """One GET /api/whoami-v2: {token_valid, user, token_role, orgs} or {whoami_error}."""
    from hfdiag.probes.http import Http, HttpFailure

    http = Http(endpoint, token, trust_env=trust_env, request_timeout=timeout)
    try:
        res = await http.request("GET", http.hub("/api/whoami-v2"))
        if res.status in (401, 403):
            return {"token_valid": False, "whoami_error": f"{res.status}: the Hub refused the token"}
        if res.status >= 400:
            return {"whoami_error": f"HTTP {res.status} from /api/whoami-v2"}
        data = res.json()
        if not isinstance(data, dict):
            return {"whoami_error": "unexpected whoami-v2 answer"}
        auth = data.get("auth") if isinstance(data.get("auth"), dict) else {}
        token_info = auth.get("accessToken") if isinstance(auth.get("accessToken"), dict) else {}
        out = {"token_valid": True, "user": data.get("name"), "user_type": data.get("type")}
        if token_info.get("role"):
            out["token_role"] = token_info["role"]
        if isinstance(data.get("isPro"), bool):
            out["is_pro"] = data["isPro"]
        orgs = [o.get("name") for o in data.get("orgs") or [] if isinstance(o, dict) and o.get("name")]
        if orgs:
            out["orgs"] = orgs[:20]
        return out
    except HttpFailure as e:
        return {"whoami_error": str(e)}
    finally:
        await http.aclose()
