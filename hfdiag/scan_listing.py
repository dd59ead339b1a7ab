"""The Space infos of a scan from one listing per owner instead of one `GET /api/spaces/{id}` per Space.

`GET /api/spaces?author=OWNER&limit=500&expand=...` is how huggingface.js `listSpaces` reads an owner's Spaces
[OFFICIAL: HJS `packages/hub/src/lib/list-spaces.ts`]: a JSON array, the next page named by a
`Link: <...>; rel="next"` header, `runtime` among the expandable keys. What a listing item carries beyond the
expanded keys (`host` is not one) is not documented: an item that lacks a field the space probe reads is not
used, and that Space gets its own info call, as does every Space the listing does not show (private to another
token, renamed, missing: the per-Space answer is the evidence then).

An owner is listed only when at least two of its Spaces are scanned, and its pages are read only while that is
cheaper than the per-Space calls still missing, so a listing never costs more Hub calls than it saves."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from hfdiag.probes.http import HttpFailure, origin

PAGE = 500  # the page huggingface.js asks for
# what the space probe reads from an info (hfdiag/probes/space.py); `host` comes unasked, or the item is not used
EXPAND = ("runtime", "sdk", "sha", "private", "cardData", "models", "subdomain")
NEEDS = ("host", "runtime", "sdk", "sha", "private", "cardData", "models")
NEXT_RX = re.compile(r'<([^<>\s]{1,4096})>\s*;[^,]*?\brel="?next"?', re.I)


@dataclass
class Listing:
    """Space id -> its info as listed, with what it cost."""
    infos: dict[str, dict] = field(default_factory=dict)
    listed_at: float = 0.0  # monotonic time the listings were read (the infos' age in a long scan)
    calls: int = 0
    owners: int = 0
    incomplete: int = 0  # listed items that lacked a field the space probe reads
    errors: list[str] = field(default_factory=list)

    def to_dict(self, wanted: int) -> dict:
        return {"owners_listed": self.owners, "listing_calls": self.calls, "from_listing": len(self.infos),
                "per_space_calls": wanted - len(self.infos), "incomplete_items": self.incomplete,
                "errors": self.errors[:5]}


def owners_to_list(space_ids: list[str]) -> dict[str, set[str]]:
    by_owner: dict[str, set[str]] = {}
    for sid in space_ids:
        by_owner.setdefault(sid.split("/", 1)[0], set()).add(sid)
    return {o: ids for o, ids in by_owner.items() if len(ids) >= 2}


def next_page(link: str | None, endpoint: str) -> str | None:
    """The `rel="next"` URL of a Link header, only on the endpoint's own origin (an answer names no other host)."""
    m = NEXT_RX.search(link or "")
    if not m or origin(m.group(1)) != origin(endpoint):
        return None
    return m.group(1)


async def list_owner(http, owner: str, wanted: set[str], out: Listing) -> None:
    url: str | None = http.hub("/api/spaces?" + urlencode([("author", owner), ("limit", PAGE)] +
                                                          [("expand", e) for e in EXPAND]))
    missing = set(wanted)
    pages = 0
    while url and missing and pages < len(missing):  # never more pages than the per-Space calls they replace
        pages += 1
        out.calls += 1
        try:
            res = await http.request("GET", url, max_body=16 * 1024 * 1024)
        except HttpFailure as e:
            out.errors.append(f"{owner}: {e}"[:200])
            return
        if res.status != 200:
            out.errors.append(f"{owner}: the listing answered {res.status}")
            return
        try:
            items = res.json()
        except HttpFailure as e:
            out.errors.append(f"{owner}: {e}"[:200])
            return
        if not isinstance(items, list):
            out.errors.append(f"{owner}: the listing is not a JSON array")
            return
        for item in items:
            sid = item.get("id") if isinstance(item, dict) else None
            if sid not in missing:
                continue
            if all(k in item for k in NEEDS) and isinstance(item["runtime"], dict):
                out.infos[sid] = item
                missing.discard(sid)
            else:
                out.incomplete += 1
        url = next_page(res.headers.get("link"), http.endpoint)


async def list_spaces(http, space_ids: list[str], concurrency: int = 8) -> Listing:
    """The listed infos of `space_ids` (one listing per owner with two or more of them, owners concurrently)."""
    owners = owners_to_list(space_ids)
    out = Listing(owners=len(owners))
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(owner: str, wanted: set[str]) -> None:
        async with sem:
            await list_owner(http, owner, wanted, out)

    await asyncio.gather(*(one(o, w) for o, w in owners.items()))
    out.listed_at = time.monotonic()
    return out
