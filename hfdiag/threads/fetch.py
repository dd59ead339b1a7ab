"""Reading a service's JSON through the project's HTTP client: bounded, one-line errors, paging with a cap."""

from __future__ import annotations

import re
from typing import Any

from hfdiag.errors import InputError
from hfdiag.probes.http import Http, HttpFailure, origin

MAX_PAGE_BYTES = 4 * 1024 * 1024  # one API answer
MAX_PAGES = 20  # pages of one listing or comment stream
REQUEST_TIMEOUT = 20.0
_NEXT = re.compile(r'<([^<>\s]{1,2000})>\s*;\s*rel="?next"?')


def client(base: str, token: str | None, trust_env: bool, limiter=None) -> Http:
    """An HTTP client whose token goes to `base`'s origin only (and never across a redirect)."""
    return Http(base, token, trust_env=trust_env, request_timeout=REQUEST_TIMEOUT, limiter=limiter)


async def get_json(http: Http, url: str, what: str, *, params: dict | None = None,
                   headers: dict | None = None) -> tuple[Any, Any]:
    """(JSON, response headers); a one-line InputError for a transport failure or an error status."""
    try:
        res = await http.request("GET", url, params=params, headers=headers, max_body=MAX_PAGE_BYTES)
    except HttpFailure as e:
        raise InputError(f"cannot read {what}: {e}") from None
    if res.status >= 400:
        raise InputError(f"cannot read {what}: {url_path(url)} answered {res.status}"
                         + (" (a token may be needed)" if res.status in (401, 403) else ""))
    try:
        return res.json(), res.headers
    except HttpFailure as e:
        raise InputError(f"cannot read {what}: {e}") from None


async def get_text(http: Http, url: str, what: str) -> str:
    try:
        res = await http.request("GET", url, max_body=MAX_PAGE_BYTES)
    except HttpFailure as e:
        raise InputError(f"cannot read {what}: {e}") from None
    if res.status >= 400 or 300 <= res.status < 400:
        raise InputError(f"cannot read {what}: {url_path(url)} answered {res.status}")
    return res.body.decode("utf-8", errors="replace")


def next_link(headers, base: str) -> str | None:
    """The `rel="next"` URL of a Link header, only when it stays on the API's own origin."""
    m = _NEXT.search(headers.get("link", "") if headers is not None else "")
    if not m or origin(m.group(1)) != origin(base):
        return None
    return m.group(1)


def url_path(url: str) -> str:
    from urllib.parse import urlsplit

    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}{p.path}"


def text_of(value: Any) -> str:
    """A string field of hostile JSON: anything else is empty."""
    return value if isinstance(value, str) else ""


def int_of(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
