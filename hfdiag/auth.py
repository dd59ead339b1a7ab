"""Finding the caller's Hub token the way huggingface_hub does, without importing it.

Order (huggingface_hub `utils/_auth.py`): HF_TOKEN, then HUGGING_FACE_HUB_TOKEN, then the token file at
HF_TOKEN_PATH, else $HF_HOME/token (HF_HOME defaults to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface).
`--token` beats them all. `\\r`/`\\n` are removed and the value stripped; empty means no token.
"""

from __future__ import annotations

import os
from pathlib import Path


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace("\r", "").replace("\n", "").strip()
    return value or None


def token_file(environ: dict) -> Path:
    if environ.get("HF_TOKEN_PATH"):
        return Path(environ["HF_TOKEN_PATH"]).expanduser()
    if environ.get("HF_HOME"):
        home = Path(environ["HF_HOME"]).expanduser()
    elif environ.get("XDG_CACHE_HOME"):
        home = Path(environ["XDG_CACHE_HOME"]).expanduser() / "huggingface"
    else:
        home = Path("~/.cache/huggingface").expanduser()
    return home / "token"


def env_flag(environ, name: str) -> bool:
    """huggingface_hub's booleans: 1, ON, YES, TRUE (any case) are true."""
    return str(environ.get(name, "")).strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_offline(environ) -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE): huggingface_hub makes no HTTP request at all."""
    return env_flag(environ, "HF_HUB_OFFLINE") or env_flag(environ, "TRANSFORMERS_OFFLINE")


IMPLICIT_TOKEN_OFF = "HF_HUB_DISABLE_IMPLICIT_TOKEN"


def find_token(cli_token: str | None = None, environ: dict | None = None) -> tuple[str | None, str | None]:
    """(token, where it came from) — the source never includes the value. With HF_HUB_DISABLE_IMPLICIT_TOKEN
    only an explicit --token is sent (huggingface_hub's `get_token_to_send`): (None, IMPLICIT_TOKEN_OFF)."""
    env = os.environ if environ is None else environ
    if _clean(cli_token):
        return _clean(cli_token), "--token"
    if env_flag(env, IMPLICIT_TOKEN_OFF):
        return None, IMPLICIT_TOKEN_OFF
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if _clean(env.get(var)):
            return _clean(env.get(var)), var
    path = token_file(env)
    try:
        value = _clean(path.read_text(encoding="utf-8", errors="replace")[:4096])
    except OSError:
        value = None
    if value:
        return value, "HF_TOKEN_PATH" if env.get("HF_TOKEN_PATH") else "token file"
    return None, None
