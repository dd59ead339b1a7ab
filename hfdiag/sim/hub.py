"""The Hub API server role (hub-spaces-api.md): Space info/runtime/logs, whoami, quota, lifecycle, errors."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from . import status as status_page
from . import transfer
from .logs import banner_time, iso_z
from .state import USERS, hexid

if TYPE_CHECKING:  # pragma: no cover
    from .state import SimState, SpaceState

EXPOSE = ("X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,"
          "Content-Range,X-Xet-Access-Token,X-Xet-Token-Expiration,X-Xet-Refresh-Route,X-Xet-Cas-Url,X-Xet-Hash")
ANON_MSG = "Invalid username or password."
INVALID_MSG = "Invalid credentials in Authorization header"


def jresp(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data, separators=(",", ":"), ensure_ascii=False), status_code=status,
                    media_type="application/json; charset=utf-8", headers=headers)


def error(status: int, msg: str, code: str | None = None) -> Response:
    h = {"x-error-message": msg}
    if code:
        h["x-error-code"] = code
    return jresp({"error": msg}, status, h)


def _rate(sim: SimState, scope, headers, bucket: str) -> tuple[int, int, int, int]:
    """(quota, remaining, reset_in, window) after counting this request."""
    role, _ = sim.auth_role(headers)
    caller = role or (scope.get("client") or ("?",))[0]
    window = int(sim.knob("hub.rate_window_s"))
    quota = int(sim.knob("hub.resolvers_rate_limit" if bucket == "resolvers" else "hub.rate_limit"))
    now = time.time()
    key = (caller, bucket)
    slot = sim.rate.get(key)
    if slot is None or now >= slot[0] + window:
        slot = [now, 0]
        sim.rate[key] = slot
    slot[1] += 1
    remaining = quota - slot[1]
    return quota, remaining, max(1, int(slot[0] + window - now)), window


async def handle(sim: SimState, scope, receive, send) -> None:
    lat = float(sim.knob("hub.latency_ms"))
    if lat and await sim.nap(lat / 1000):
        return
    request = Request(scope, receive)
    headers = request.headers
    path = scope["path"]
    bucket = "resolvers" if "/resolve/" in path else "api"
    quota, remaining, reset_in, window = _rate(sim, scope, headers, bucket)
    trace = headers.get("x-amzn-trace-id")
    rid = f"Root=1-{int(time.time()):08x}-{hexid(sim.rng, 24)}" + (f";{trace}" if trace else "")
    common = [(b"x-request-id", rid.encode()),
              (b"ratelimit", f'"{bucket}";r={max(0, remaining)};t={reset_in}'.encode()),
              (b"ratelimit-policy", f'"fixed window";"{bucket}";q={quota};w={window}'.encode()),
              (b"x-powered-by", b"huggingface-moon"),
              (b"access-control-allow-origin", b"https://huggingface.co"),
              (b"access-control-expose-headers", EXPOSE.encode()),
              (b"vary", b"Origin"), (b"referrer-policy", b"strict-origin-when-cross-origin"),
              (b"via", f"1.1 {hexid(sim.rng, 32)}.cloudfront.net (CloudFront)".encode()),
              (b"x-cache", b"Miss from cloudfront"), (b"x-amz-cf-pop", b"CDG52-P4"),
              (b"x-amz-cf-id", hexid(sim.rng, 40).encode()), (b"cross-origin-opener-policy", b"same-origin")]

    async def hub_send(message):
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = list(message.get("headers", [])) + common
        await send(message)

    if remaining < 0:
        resp = error(429, f"you have reached your '{bucket}' rate limit")
    else:
        resp = await route(sim, request)
    await resp(scope, receive, hub_send)


async def route(sim: SimState, request: Request) -> Response:
    path = request.url.path
    m = request.method
    role, invalid = sim.auth_role(request.headers)
    if path == "/status/index.json":
        return jresp(status_page.index_json(sim))
    if invalid and path.startswith("/api/"):
        return error(401, INVALID_MSG)
    if path == "/api/whoami-v2":
        return whoami(role) if role else error(401, ANON_MSG)
    if path == "/api/spaces/zero-gpu/quota":
        if not role:
            return error(int(sim.knob("hub.quota_anon_status")), ANON_MSG)
        u = USERS[role]
        return jresp(sim.ledger.quota_json(f"user:{u['name']}", u["tier"]))
    if path == "/api/spaces" and m == "GET":
        return list_spaces(sim, request, role)
    mt = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)/xet-read-token/([^/]+)", path)
    if mt:
        return transfer.xet_read_token(sim, request, mt.group(1), mt.group(2), mt.group(3), role)
    ms = re.fullmatch(r"/api/spaces/([^/]+/[^/]+)(/.*)?", path)
    if ms:
        return await space_route(sim, request, ms.group(1), ms.group(2) or "", role)
    mr = re.fullmatch(r"/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
    if mr and m in ("GET", "HEAD"):
        return transfer.resolve(sim, request, mr.group(1) or "models", mr.group(2), mr.group(3), mr.group(4), role)
    return error(404, "Sorry, we can't find the page you are looking for.")


def whoami(role: str) -> Response:
    u = USERS[role]
    return jresp({"type": "user", "id": hexid(__import__("random").Random(u["name"]), 24), "name": u["name"],
                  "fullname": u["fullname"], "email": f"{u['name']}@example.com", "emailVerified": True,
                  "canPay": u["isPro"], "isPro": u["isPro"], "periodEnd": None,
                  "avatarUrl": f"/avatars/{u['name']}.svg", "billingMode": "postpaid", "orgs": [],
                  "auth": {"type": "access_token", "accessToken": {"displayName": f"{u['name']}-sim", "role": "read",
                                                                   "createdAt": "2026-01-01T00:00:00.000Z"}}})


def _visible(space: SpaceState | None, role: str | None) -> bool:
    return space is not None and (not space.spec.private or role == space.owner_role)


def _not_found(role: str | None) -> Response:
    if role is None:
        return error(401, ANON_MSG)
    return error(404, "Repository not found", "RepoNotFound")


def _siblings(space: SpaceState, blobs: bool) -> list[dict]:
    files = space.spec.files or [{"path": ".gitattributes", "size": 1519}, {"path": "README.md", "size": 312},
                                 {"path": "app.py", "size": 1873}, {"path": "requirements.txt", "size": 42}]
    out = []
    for f in files:
        f = f if isinstance(f, dict) else {"path": str(f), "size": 100}
        e = {"rfilename": f["path"]}
        if blobs:
            import hashlib
            e["size"] = int(f.get("size", 100))
            e["blobId"] = hashlib.sha1(f"{space.id}/{f['path']}".encode()).hexdigest()
            if e["size"] > 10 * 1024 * 1024:
                e["lfs"] = {"size": e["size"], "sha256": hashlib.sha256(f["path"].encode()).hexdigest(),
                            "pointerSize": 134}
        out.append(e)
    return out


def space_info(sim: SimState, space: SpaceState, request: Request) -> dict:
    spec = space.spec
    created = iso_z(sim.started_at - 86400 * 30, ms=True)
    info = {"_id": hexid(__import__("random").Random(space.id), 24), "id": space.id, "author": space.id.split("/")[0],
            "sha": space.sha, "lastModified": iso_z(sim.started_at - spec.stage_minutes * 60 - 120, ms=True),
            "createdAt": created, "private": spec.private, "gated": False, "disabled": False,
            "subdomain": space.subdomain, "host": space.host_url, "likes": 3, "sdk": spec.sdk,
            "tags": [spec.sdk, "region:us"] + (["zerogpu"] if spec.is_zerogpu else []),
            "cardData": {"title": spec.title or space.id.split("/")[1], "emoji": spec.emoji, "colorFrom": "blue",
                         "colorTo": "red", "sdk": spec.sdk,
                         "sdk_version": spec.sdk_version or (space.knob("gradio.version") if spec.sdk == "gradio"
                                                             else None),
                         "app_file": "app.py", "pinned": False},
            "siblings": _siblings(space, request.query_params.get("blobs") == "true"),
            "runtime": space.runtime(), "models": list(space.spec.models), "datasets": [], "usedStorage": 15234, "trendingScore": 0}
    if info["cardData"]["sdk_version"] is None:
        del info["cardData"]["sdk_version"]
    expand = request.query_params.getlist("expand")
    if expand:
        info = {k: v for k, v in info.items() if k in ("_id", "id") or k in expand}
    return info


# `expand` values the Hub accepts (hub-spaces-api.md §2, HH ExpandSpaceProperty_T, plus xetEnabled [RECORDED])
EXPANDABLE = frozenset("author cardData createdAt datasets disabled lastModified likes models private region "
                       "resourceGroup runtime sdk sha siblings subdomain tags trendingScore usedStorage "
                       "xetEnabled".split())


def list_spaces(sim: SimState, request: Request, role: str | None) -> Response:
    """`GET /api/spaces?author=&expand=&limit=` as huggingface.js `listSpaces` calls it: a JSON array, the next
    page named by a `Link: <...>; rel="next"` header carrying the same query (with a cursor). Each `expand`
    narrows an item to `_id`, `id` and the expanded fields, as on a single Space's info."""
    q = request.query_params
    author = q.get("author")
    expand = q.getlist("expand")
    bad = [e for e in expand if e not in EXPANDABLE]
    if bad:  # nested expands return 400 [OBSERVED]; any unknown one is taken to do the same [UNVERIFIED]
        return error(400, f"Invalid expand value: {bad[0][:64]}")
    try:
        limit = int(q.get("limit") or sim.knob("hub.list_page_max"))
        cursor = int(q.get("cursor") or 0)
    except ValueError:
        return error(400, "limit and cursor must be integers")
    limit = max(1, min(limit, int(sim.knob("hub.list_page_max"))))
    items = [s for s in sim.spaces.values() if _visible(s, role) and (author is None or s.id.split("/")[0] == author)]
    page = items[cursor:cursor + limit]
    if expand:
        body = [space_info(sim, s, request) for s in page]
        if sim.knob("hub.list_host"):
            for item, s in zip(body, page, strict=True):
                item["host"] = s.host_url
    else:
        body = [{"_id": hexid(__import__("random").Random(s.id), 24), "id": s.id, "author": s.id.split("/")[0],
                 "likes": 3, "private": s.spec.private, "sdk": s.spec.sdk, "tags": [s.spec.sdk],
                 "createdAt": iso_z(sim.started_at - 86400 * 30, ms=True), "trendingScore": 0} for s in page]
    headers = {}
    if cursor + limit < len(items):
        from urllib.parse import urlencode

        nxt = [(k, v) for k, v in q.multi_items() if k != "cursor"] + [("cursor", str(cursor + limit))]
        headers["link"] = f'<{sim.url("hub")}/api/spaces?{urlencode(nxt)}>; rel="next"'
    return jresp(body, headers=headers)


async def space_route(sim: SimState, request: Request, space_id: str, rest: str, role: str | None) -> Response:
    space = sim.spaces.get(space_id)
    m = request.method
    if not _visible(space, role):
        return _not_found(role)
    if rest.startswith("/discussions"):
        from .community import hub_discussions

        found = hub_discussions(sim, request, space_id, rest)
        if found is not None:
            return found
    if m == "GET" and (rest == "" or re.fullmatch(r"/revision/[^/]+", rest)):
        return jresp(space_info(sim, space, request))
    if m == "GET" and rest == "/host":
        return jresp({"subdomain": space.subdomain, "host": space.host_url})
    if m == "GET" and rest == "/runtime":
        return jresp(space.runtime())
    ml = re.fullmatch(r"/logs/(build|run)", rest)
    if ml and m == "GET":
        if role is None:
            st = int(sim.knob("hub.logs_anon_status", space))
            return error(st, ANON_MSG) if st == 401 else (error(st, "Repository not found", "RepoNotFound")
                                                           if st == 404 else error(st, "Forbidden"))
        if role != space.owner_role:
            st = int(sim.knob("hub.logs_non_owner_status", space))
            if st == 404:
                return error(404, "Repository not found", "RepoNotFound")
            return error(403, "You don't have access to this Space's logs")
        return log_stream(sim, space, ml.group(1), request)
    if m == "POST" and rest in ("/restart", "/pause"):
        if role is None:
            return error(401, ANON_MSG)
        if role != space.owner_role:
            return error(403, "Only the owner of a Space can " + rest[1:] + " it")
        if space.spec.sdk == "static":
            return error(400, "Static Spaces are always running")
        if rest == "/pause":
            space.stage = "PAUSED"
            return jresp(space.runtime())
        st = int(sim.knob("hub.restart_paused_status")) if space.stage == "PAUSED" else int(
            sim.knob("hub.restart_status"))
        if st != 200:
            body = sim.knob("hub.restart_error_body")
            return jresp(body, st, {"x-error-message": str(body.get("error", ""))})
        space.restarts += 1
        space.stage = "BUILDING"
        space.build_log.append(f"===== Build Queued at {banner_time(time.time())} / Commit SHA: {space.sha[:7]} =====")
        return jresp(space.runtime())
    return error(404, "Sorry, we can't find the page you are looking for.")


def log_stream(sim: SimState, space: SpaceState, kind: str, request: Request) -> Response:
    buf = space.build_log if kind == "build" else space.run_log
    keepalive = float(sim.knob("logs.keepalive_s", space))
    stay = bool(sim.knob("logs.stream_open", space))
    tail = request.query_params.get("tail")

    def frame(ts: float, line: str) -> str:
        return "data: " + json.dumps({"data": line + "\n", "timestamp": iso_z(ts, ms=True)},
                                     separators=(",", ":"), ensure_ascii=False) + "\n\n"

    lag = float(sim.knob("logs.delivery_lag_s", space))

    async def stream():
        entries = buf.entries()
        if lag:  # what the pipeline has not delivered yet comes later, as live lines
            now = time.time()
            entries = entries[:next((i for i, e in enumerate(entries) if e[0] + lag > now), len(entries))]
        shown = entries[-int(tail):] if tail and tail.isdigit() else entries
        if tail == "0":
            shown = []
        pause_after = sim.knob("logs.replay_pause_after", space)
        for n, (ts, line) in enumerate(shown):
            if n == pause_after:  # a replay that stalls mid-event (a slow server or a congested link)
                text = frame(ts, line)
                yield text[:len(text) // 2]
                if await sim.nap(float(sim.knob("logs.replay_pause_s", space))):
                    return
                yield text[len(text) // 2:]
                continue
            yield frame(ts, line)
        idx = len(entries)
        while stay and not sim.closing.is_set():
            import asyncio
            waiter = asyncio.ensure_future(buf.wait_new(idx))
            closer = asyncio.ensure_future(sim.closing.wait())
            done, _ = await asyncio.wait({waiter, closer}, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            closer.cancel()
            if closer in done:
                return
            if waiter in done:
                for ts, line in buf.entries(idx):
                    if lag and ts + lag > time.time() and await sim.nap(ts + lag - time.time()):
                        return
                    yield frame(ts, line)
                    idx += 1
            else:
                yield "data:\n\n"

    from email.utils import formatdate

    # a Date header like the Hub's (the log probe compares the lines' timestamps with the server's clock)
    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no",
                                      "date": formatdate(usegmt=True)})
