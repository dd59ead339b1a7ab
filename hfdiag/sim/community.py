"""Where reports live, simulated: a Space's Community tab (Hub discussions API, on the `hub` role), a Discourse
forum topic (`forum` role) and GitHub issues (`github` role, the REST API). Threads come from community.yaml.

Wire shapes (checked against huggingface_hub's reader, Discourse's topic JSON and GitHub's REST API):
- GET /api/spaces/{id}/discussions?p=N[&status=open|closed][&type=discussion]: {discussions[], count, start,
  numClosedDiscussions}; each {num, title, status, isPullRequest, createdAt, author{name}, repo{name,type},
  numComments, pinned}. Page size 25 here (the Hub's own is not documented), so paging is exercised.
- GET /api/spaces/{id}/discussions/{num}: the same plus events[] ({id, type: comment|status-change, createdAt,
  author{name}, data{latest{raw, html, updatedAt, author}, edited, hidden, numEdits}}).
- GET /t/{id}.json: {id, title, slug, created_at, closed, posts_count, post_stream{posts[] (first 20), stream[]}};
  GET /t/{id}/posts.json?post_ids[]=..: {post_stream{posts[]}}; GET /raw/{id}: `USER | DATE | #N` blocks.
- GET /repos/{o}/{r}/issues[/{n}[/comments]]: per_page (max 100) and page, Link rel="next"/"last".
"""

from __future__ import annotations

import html
import json
import re
import zlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .logs import iso_z

if TYPE_CHECKING:  # pragma: no cover
    from .state import SimState

DATA = Path(__file__).with_name("community.yaml")
HUB_PAGE = 25
DISCOURSE_CHUNK = 20
DAY = 86400


@lru_cache(maxsize=1)
def data() -> dict:
    import yaml

    return yaml.safe_load(DATA.read_text(encoding="utf-8"))


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status, media_type="application/json; charset=utf-8",
                    headers=headers)


# -- Hub discussions --------------------------------------------------------------------------------------------------
def _user(name: str) -> dict:
    return {"_id": f"{zlib.crc32(name.encode()):024x}", "avatarUrl": f"/avatars/{name}.svg", "fullname": name,
            "name": name, "type": "user", "isPro": False, "isHf": False, "isMod": False}


def _posts(d: dict) -> list[dict]:
    return [p if isinstance(p, dict) else {"author": d["author"], "text": p} for p in d["posts"]]


def _summary(sim: SimState, space_id: str, d: dict) -> dict:
    return {"num": d["num"], "title": d["title"], "status": d["status"], "isPullRequest": d.get("pr", False),
            "createdAt": iso_z(sim.started_at - d["age_days"] * DAY, ms=True), "author": _user(d["author"]),
            "repo": {"name": space_id, "type": "space"}, "numComments": len(d["posts"]), "pinned": False,
            "topReactions": []}


def _hub_threads() -> list[dict]:
    c = data()
    prs = [{"num": n, "title": f"Update requirements ({n})", "status": "open", "author": "bot-sim", "age_days": 3,
            "posts": ["Bumps a dependency."], "pr": True} for n in c.get("pull_requests", [])]
    return sorted(c["discussions"] + prs, key=lambda d: -d["num"])  # newest first


def hub_discussions(sim: SimState, request: Request, space_id: str, rest: str) -> Response | None:
    """The Community tab of the Space named in community.yaml (other Spaces have an empty one)."""
    c = data()
    threads = _hub_threads() if space_id == c["space"] else []
    if rest == "/discussions" and request.method == "GET":
        q = request.query_params
        status, kind = q.get("status", "all"), q.get("type", "all")
        items = [d for d in threads if status in ("all", d["status"])
                 and kind in ("all", "pull_request" if d.get("pr") else "discussion")]
        try:
            page = max(0, int(q.get("p") or 0))
        except ValueError:
            return _json({"error": "Invalid page"}, 400)
        chunk = items[page * HUB_PAGE:(page + 1) * HUB_PAGE]
        return _json({"discussions": [_summary(sim, space_id, d) for d in chunk], "count": len(items),
                      "start": page * HUB_PAGE, "numClosedDiscussions": sum(d["status"] == "closed" for d in threads)})
    m = re.fullmatch(r"/discussions/(\d+)", rest)
    if m and request.method == "GET":
        d = next((t for t in threads if t["num"] == int(m.group(1))), None)
        if d is None:
            return _json({"error": "Discussion not found"}, 404, {"x-error-message": "Discussion not found"})
        created = sim.started_at - d["age_days"] * DAY
        events = []
        for i, p in enumerate(_posts(d)):
            ts = iso_z(created + i * 3600, ms=True)
            events.append({"id": f"{d['num']:04x}{i:020x}", "type": "comment", "createdAt": ts, "author": _user(p["author"]),
                           "data": {"edited": False, "hidden": bool(p.get("hidden")), "numEdits": 0,
                                    "latest": {"raw": p["text"], "html": f"<p>{html.escape(p['text'])}</p>",
                                               "updatedAt": ts, "author": _user(p["author"])}}})
        if d["status"] == "closed":
            events.append({"id": f"{d['num']:04x}{99:020x}", "type": "status-change", "author": _user(c["owner"]),
                           "createdAt": iso_z(created + 86400, ms=True), "data": {"status": "closed"}})
        return _json({**_summary(sim, space_id, d), "events": events, "diffUrl": None})
    return None


# -- Discourse ----------------------------------------------------------------------------------------------------
def _forum_posts(sim: SimState) -> list[dict]:
    t = data()["discourse"]
    created = sim.started_at - t["created_days"] * DAY
    bodies = [("reporter-sim", t["report"], False)]
    bodies += [(f"helper{i:02d}", t["filler"], False) for i in range(t["fillers"])]
    bodies += [("forum-staff", t["staff"], True)]
    return [{"id": 9000 + n, "post_number": n, "username": user, "cooked": cooked, "staff": staff,
             "moderator": staff, "admin": False, "created_at": iso_z(created + n * 600, ms=True), "topic_id": t["id"]}
            for n, (user, cooked, staff) in enumerate(bodies, start=1)]


def _raw_text(sim: SimState) -> str:
    out = []
    for p in _forum_posts(sim):
        text = re.sub(r"<[^>]+>", "", p["cooked"])  # a stand-in for the markdown the forum keeps
        out.append(f"{p['username']} | {p['created_at']} | #{p['post_number']}\n\n{html.unescape(text)}\n\n"
                   "-------------------------\n")
    return "\n".join(out)


async def handle_forum(sim: SimState, scope, receive, send) -> None:
    request = Request(scope, receive)
    t = data()["discourse"]
    path = request.url.path
    posts = _forum_posts(sim)
    tid = str(t["id"])
    if re.fullmatch(rf"/t/(?:[^/]+/)?{tid}\.json", path):
        body = {"id": t["id"], "title": t["title"], "fancy_title": html.escape(t["title"]), "slug": t["slug"],
                "posts_count": len(posts), "created_at": posts[0]["created_at"], "closed": False, "archived": False,
                "post_stream": {"posts": posts[:DISCOURSE_CHUNK], "stream": [p["id"] for p in posts]}}
        resp = _json(body)
    elif path == f"/t/{tid}/posts.json":
        wanted = {int(x) for x in request.query_params.getlist("post_ids[]") if x.isdigit()}
        resp = _json({"post_stream": {"posts": [p for p in posts if p["id"] in wanted]}, "id": t["id"]})
    elif path == f"/raw/{tid}":
        resp = PlainTextResponse(_raw_text(sim))
    else:
        resp = _json({"errors": ["The requested URL or resource could not be found."], "error_type": "not_found"}, 404)
    await resp(scope, receive, send)


# -- GitHub REST ----------------------------------------------------------------------------------------------------
def _gh_user(login: str) -> dict:
    return {"login": login, "id": zlib.crc32(login.encode()) % 10**8, "type": "User", "html_url": f"https://github.com/{login}"}


def _issue(sim: SimState, base: str, repo: str, i: dict) -> dict:
    n = i["number"]
    out = {"url": f"{base}/repos/{repo}/issues/{n}", "html_url": f"https://github.com/{repo}/issues/{n}",
           "number": n, "title": i["title"], "state": i.get("state", "open"), "user": _gh_user(i["author"]),
           "author_association": i["association"], "body": i["body"], "comments": len(_comments(i)),
           "created_at": iso_z(sim.started_at - i["days"] * DAY), "updated_at": iso_z(sim.started_at - 3600),
           "labels": [], "locked": False}
    if i.get("pull"):
        out["pull_request"] = {"url": f"{base}/repos/{repo}/pulls/{n}", "html_url": f"https://github.com/{repo}/pull/{n}"}
    return out


def _comments(i: dict) -> list[tuple[str, str, str]]:
    out = [(f"visitor-{k:03d}", "NONE", "+1, same here") for k in range(i.get("plus_ones", 0))]
    if i.get("maintainer_reply"):
        out.append(("demo-maintainer", "MEMBER", i["maintainer_reply"]))
    return out


def _page(request: Request, items: list, base_url: str) -> tuple[list, dict]:
    q = request.query_params
    per = min(100, max(1, int(q.get("per_page") or 30))) if (q.get("per_page") or "30").isdigit() else 30
    page = max(1, int(q.get("page") or 1)) if (q.get("page") or "1").isdigit() else 1
    chunk = items[(page - 1) * per: page * per]
    headers = {}
    last = max(1, -(-len(items) // per))
    if page < last:
        keep = {k: v for k, v in q.items() if k not in ("page",)}
        nxt = base_url + "?" + urlencode({**keep, "page": page + 1})
        end = base_url + "?" + urlencode({**keep, "page": last})
        headers["link"] = f'<{nxt}>; rel="next", <{end}>; rel="last"'
    return chunk, headers


async def handle_github(sim: SimState, scope, receive, send) -> None:
    request = Request(scope, receive)
    g = data()["github"]
    repo = g["repo"]
    base = sim.url("github")
    issues = g["issues"] + [{"number": n, "title": f"Bump dependency ({n})", "author": "bot-sim",
                             "association": "NONE", "days": 1, "body": "Automated update.", "pull": True}
                            for n in g.get("pulls", [])]
    path = request.url.path
    resp: Response
    if path == f"/repos/{repo}/issues":
        state = request.query_params.get("state", "open")
        listed = sorted((i for i in issues if state in ("all", i.get("state", "open"))), key=lambda i: -i["number"])
        chunk, headers = _page(request, [_issue(sim, base, repo, i) for i in listed], f"{base}{path}")
        resp = _json(chunk, headers=headers)
    elif m := re.fullmatch(rf"/repos/{re.escape(repo)}/issues/(\d+)(/comments)?", path):
        i = next((x for x in issues if x["number"] == int(m.group(1))), None)
        if i is None:
            resp = _json({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)
        elif m.group(2):
            created = sim.started_at - i["days"] * DAY
            items = [{"id": 5000 + k, "user": _gh_user(login), "author_association": assoc, "body": body,
                      "created_at": iso_z(created + (k + 1) * 60), "html_url": f"https://github.com/{repo}/issues/"
                      f"{i['number']}#issuecomment-{5000 + k}"} for k, (login, assoc, body) in enumerate(_comments(i))]
            chunk, headers = _page(request, items, f"{base}{path}")
            resp = _json(chunk, headers=headers)
        else:
            resp = _json(_issue(sim, base, repo, i))
    else:
        resp = _json({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)
    await resp(scope, receive, send)
