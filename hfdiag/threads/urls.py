"""Which service a thread URL names, and where its API lives.

- Hub discussion: `https://huggingface.co/spaces/OWNER/NAME/discussions/N` (also models and datasets); the API
  is read from the Hub endpoint (`--endpoint` / `HF_ENDPOINT`), whatever host the URL shows.
- GitHub issue: `https://github.com/OWNER/REPO/issues/N` (or the host of `GITHUB_SERVER_URL`); the API base is
  `GITHUB_API_URL`, else https://api.github.com.
- Discourse topic: `/t/SLUG/ID[/POST]`, `/t/ID` or `/raw/ID` on whatever host the URL names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from hfdiag.errors import UsageError

HUB_HOSTS = {"huggingface.co", "www.huggingface.co", "hf.co"}
PUBLIC_GITHUB_API = "https://api.github.com"
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
_HUB_PATH = re.compile(rf"^/(?:(spaces|datasets|models)/)?({_NAME})/({_NAME})/discussions/(\d{{1,9}})/?$")
_GITHUB_PATH = re.compile(rf"^/({_NAME})/({_NAME})/issues/(\d{{1,9}})/?$")
_DISCOURSE_PATH = re.compile(r"^/(?:t/(?:[^/]{1,200}/)?(\d{1,12})(?:/\d{1,9})?(?:\.json)?|raw/(\d{1,12}))/?$")


@dataclass(frozen=True)
class ThreadRef:
    kind: str  # hub | github | discourse
    url: str  # as given (without the fragment)
    repo_type: str = ""  # hub: spaces | models | datasets
    repo: str = ""  # OWNER/NAME
    number: int = 0  # discussion, issue or topic number
    origin: str = ""  # discourse: scheme://host[:port]
    raw: bool = False  # discourse: the /raw/ID text form


def looks_like_url(name: str) -> bool:
    return name.startswith(("http://", "https://"))


def github_api_base(environ) -> str:
    base = (environ.get("GITHUB_API_URL") or PUBLIC_GITHUB_API).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise UsageError(f"GITHUB_API_URL {base!r}: expected an http(s) URL")
    return base


def _github_hosts(environ) -> set[str]:
    hosts = {"github.com", "www.github.com"}
    server = environ.get("GITHUB_SERVER_URL")
    if server:
        hosts.add((urlsplit(server).hostname or "").lower())
    return hosts


def parse_thread_url(url: str, hub_endpoint: str, environ) -> ThreadRef:
    """The thread a URL names; a one-line UsageError for anything else."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise UsageError(f"{url!r}: expected an http(s) URL")
    clean = parts._replace(fragment="").geturl()
    hub_host = (urlsplit(hub_endpoint).hostname or "").lower()
    m = _HUB_PATH.match(parts.path)
    if m and (host in HUB_HOSTS or host == hub_host):
        return ThreadRef("hub", clean, repo_type=m.group(1) or "models", repo=f"{m.group(2)}/{m.group(3)}",
                         number=int(m.group(4)))
    m = _GITHUB_PATH.match(parts.path)
    if m and host in _github_hosts(environ):
        return ThreadRef("github", clean, repo=f"{m.group(1)}/{m.group(2)}", number=int(m.group(3)))
    m = _DISCOURSE_PATH.match(parts.path)
    if m:
        return ThreadRef("discourse", clean, number=int(m.group(1) or m.group(2)),
                         origin=f"{parts.scheme}://{parts.netloc}", raw=m.group(2) is not None)
    raise UsageError(f"{_short(url)}: not a Hub discussion (/spaces/OWNER/NAME/discussions/N), a Discourse topic "
                     "(/t/SLUG/ID, /raw/ID) or a GitHub issue (/OWNER/REPO/issues/N)")


def _short(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}{p.path}"[:200]
