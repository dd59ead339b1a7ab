"""Hub discussions (the Community tab): GET /api/{type}s/{id}/discussions?p=N and .../discussions/{num}.

Wire shape as huggingface_hub reads it: a page is {discussions[], count, start}; a discussion has num, title,
status, author.name, createdAt, isPullRequest and, in the details, events[] whose comments carry
data.latest.raw (the markdown) and data.hidden."""

from __future__ import annotations

from hfdiag.probes.http import Http
from hfdiag.threads.fetch import MAX_PAGES, get_json, int_of, text_of
from hfdiag.threads.model import MAX_POSTS, Post, Thread, clip


def _author(obj) -> dict:
    return obj if isinstance(obj, dict) else {}


def web_url(endpoint: str, repo_type: str, repo: str, num: int) -> str:
    prefix = "" if repo_type == "models" else f"/{repo_type}"
    return f"{endpoint}{prefix}/{repo}/discussions/{num}"


async def read_discussion(http: Http, repo_type: str, repo: str, num: int) -> Thread:
    what = f"discussion #{num} of {repo}"
    data, _ = await get_json(http, http.hub(f"/api/{repo_type}/{repo}/discussions/{num}"), what)
    if not isinstance(data, dict):
        from hfdiag.errors import InputError

        raise InputError(f"cannot read {what}: the answer is not a JSON object")
    owner = repo.split("/")[0].lower()
    thread = Thread("hub", web_url(http.endpoint, repo_type, repo, num), text_of(data.get("title"))[:300],
                    number=int_of(data.get("num")) or num, status=text_of(data.get("status")) or None,
                    author=text_of(_author(data.get("author")).get("name")) or None,
                    created_at=text_of(data.get("createdAt")) or None)
    events = data.get("events") if isinstance(data.get("events"), list) else []
    for event in events:
        if not isinstance(event, dict) or event.get("type") != "comment":
            continue
        body = event.get("data") if isinstance(event.get("data"), dict) else {}
        if body.get("hidden") is True:
            continue
        latest = body.get("latest") if isinstance(body.get("latest"), dict) else {}
        author = _author(event.get("author"))
        name = text_of(author.get("name")) or "deleted"
        maintainer = name.lower() == owner  # the Space's owner (an org's members are not told apart)
        if len(thread.posts) >= MAX_POSTS:
            thread.truncated = True
            break
        thread.posts.append(Post(len(thread.posts) + 1, name, clip(text_of(latest.get("raw"))), maintainer))
    return thread


async def list_discussions(http: Http, repo_type: str, repo: str, *, include_closed: bool) -> tuple[list[dict], bool]:
    """(discussion summaries, whether the page cap cut the list short); pull requests are left out."""
    url = http.hub(f"/api/{repo_type}/{repo}/discussions")
    params = {"type": "discussion"}
    if not include_closed:
        params["status"] = "open"
    out: list[dict] = []
    for page in range(MAX_PAGES):
        data, _ = await get_json(http, url, f"the discussions of {repo}", params={**params, "p": str(page)})
        items = data.get("discussions") if isinstance(data, dict) else None
        if not isinstance(items, list):
            break
        for d in items:
            if not isinstance(d, dict) or d.get("isPullRequest") is True or int_of(d.get("num")) is None:
                continue
            if not include_closed and d.get("status") not in (None, "open"):
                continue
            out.append({"num": d["num"], "title": text_of(d.get("title"))[:300],
                        "status": text_of(d.get("status")) or None, "created_at": text_of(d.get("createdAt")) or None})
        count, start = int_of(data.get("count")), int_of(data.get("start"))
        if not items or count is None or (start or 0) + len(items) >= count:
            return out, False
    return out, True
