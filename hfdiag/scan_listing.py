"""The Space infos of a scan from one listing per owner instead of one `GET /api/spaces/{id}` per Space.

`GET /api/spaces?author=OWNER&limit=500&expand=...` is how huggingface.js `listSpaces` reads an owner's Spaces
[OFFICIAL: HJS `packages/hub/src/lib/list-spaces.ts`]: a JSON array, the next page named by a
`Link: <...>; rel="next"` header, `runtime` among the expandable keys. What a listing item carries beyond the
expanded keys (`host` is not one) is not documented: an item that lacks a field the space probe reads is not
used, and that Space gets its own info call, as does every Space the listing does not show (private to another
token, renamed, missing: the per-Space answer is the evidence then).

An owner is listed only when at least two of its Spaces are scanned, and its pages are read only while that is
cheaper than the per-Space calls still missing, so a listing never costs more Hub calls than it saves. The listing
is read when the owner's first Space is checked, and again once it is older than MAX_AGE_S (a scan held by the
rate limit for minutes must not judge a Space on the stage it had when the scan started)."""

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
MAX_AGE_S = 60.0  # an owner's listing older than this is read again: a long scan judges each Space on fresh infos


@dataclass
class ListingStats:
    calls: int = 0
    owners: int = 0
    used: int = 0  # checks that took their info from a listing
    incomplete: int = 0  # listed items that lacked a field the space probe reads
    errors: list[str] = field(default_factory=list)

    def to_dict(self, spaces: int) -> dict:
        return {"owners_listed": self.owners, "listing_calls": self.calls, "from_listing": self.used,
                "own_calls": spaces - self.used, "incomplete_items": self.incomplete, "errors": self.errors[:5]}


class Listing:
    """The infos of a scan's Spaces, listed per owner when its first Space is checked (and again once older than
    MAX_AGE_S), awaited by that owner's other checks."""

    def __init__(self, http, space_ids: list[str], max_age_s: float = MAX_AGE_S):
        self.http = http
        self.owners = owners_to_list(space_ids)
        self.max_age_s = max_age_s
        self.stats = ListingStats(owners=len(self.owners))
        self._lists: dict[str, tuple[float, asyncio.Future]] = {}
        self._used: set[str] = set()

    async def info(self, space_id: str) -> dict | None:
        owner = space_id.split("/", 1)[0]
        if space_id not in self.owners.get(owner, ()):
            return None
        entry = self._lists.get(owner)
        now = time.monotonic()
        if entry is None or (entry[1].done() and now - entry[0] > self.max_age_s):
            entry = (now, asyncio.ensure_future(list_owner(self.http, owner, self.owners[owner], self.stats)))
            self._lists[owner] = entry
        infos = await asyncio.shield(entry[1])  # one check's deadline must not cancel the others' listing
        found = infos.get(space_id)
        if found is not None:
            self._used.add(space_id)  # a re-check of the same Space is not counted twice
            self.stats.used = len(self._used)
        return found

    async def aclose(self) -> None:
        tasks = [f for _, f in self._lists.values()]
        for f in tasks:
            f.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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


async def list_owner(http, owner: str, wanted: set[str], stats: ListingStats) -> dict[str, dict]:
    """{space id: info} of the `wanted` Spaces the owner's listing shows completely; a failed listing gives {}."""
    url: str | None = http.hub("/api/spaces?" + urlencode([("author", owner), ("limit", PAGE)] +
                                                          [("expand", e) for e in EXPAND]))
    found: dict[str, dict] = {}
    missing = set(wanted)
    pages = 0
    while url and missing and pages < len(missing):  # never more pages than the per-Space calls they replace
        pages += 1
        stats.calls += 1
        try:
            res = await http.request("GET", url, max_body=16 * 1024 * 1024)
            items = res.json() if res.status == 200 else None
        except HttpFailure as e:
            stats.errors.append(f"{owner}: {e}"[:200])
            break
        if not isinstance(items, list):
            stats.errors.append(f"{owner}: the listing answered {res.status}" + (", not a JSON array"
                                                                              if res.status == 200 else ""))
            break
        for item in items:
            sid = item.get("id") if isinstance(item, dict) else None
            if sid not in missing:
                continue
            if all(k in item for k in NEEDS) and isinstance(item["runtime"], dict):
                found[sid] = item
                missing.discard(sid)
            else:
                stats.incomplete += 1
        url = next_page(res.headers.get("link"), http.endpoint)
    return found
