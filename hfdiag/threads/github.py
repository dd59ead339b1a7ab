"""GitHub issues over the REST API: /repos/{o}/{r}/issues/{n}, its /comments (paged by Link headers) and the
issue list (which also returns pull requests: those carry a `pull_request` key and are skipped).

A maintainer is an author whose `author_association` is OWNER, MEMBER or COLLABORATOR."""

from __future__ import annotations

from hfdiag.probes.http import Http
from hfdiag.threads.fetch import MAX_PAGES, get_json, int_of, next_link, text_of
from hfdiag.threads.model import MAX_POSTS, Post, Thread, clip

HEADERS = {"accept": "application/vnd.github+json", "x-github-api-version": "2022-11-28"}
MAINTAINERS = {"OWNER", "MEMBER", "COLLABORATOR"}
PER_PAGE = "100"


def _login(obj) -> str:
    user = obj.get("user") if isinstance(obj, dict) else None
    return text_of(user.get("login")) if isinstance(user, dict) else ""


def _is_maintainer(obj: dict) -> bool:
    return text_of(obj.get("author_association")).upper() in MAINTAINERS


def _web_url(issue: dict, fallback: str) -> str:
    url = text_of(issue.get("html_url"))
    return url if url.startswith(("https://", "http://")) else fallback


def thread_of(issue: dict, fallback_url: str) -> Thread:
    """The issue itself as post 1 (comments are added by `read_comments`)."""
    number = int_of(issue.get("number"))
    thread = Thread("github", _web_url(issue, fallback_url), text_of(issue.get("title"))[:300], number=number,
                    status=text_of(issue.get("state")) or None, author=_login(issue) or None,
                    created_at=text_of(issue.get("created_at")) or None)
    thread.posts.append(Post(1, _login(issue) or "ghost", clip(text_of(issue.get("body"))), _is_maintainer(issue)))
    return thread


async def read_comments(http: Http, repo: str, thread: Thread) -> None:
    url: str | None = http.hub(f"/repos/{repo}/issues/{thread.number}/comments")
    params: dict | None = {"per_page": PER_PAGE}
    for _ in range(MAX_PAGES):
        if url is None:
            return
        data, headers = await get_json(http, url, f"the comments of {repo}#{thread.number}", params=params,
                                       headers=HEADERS)
        for c in data if isinstance(data, list) else []:
            if not isinstance(c, dict):
                continue
            if len(thread.posts) >= MAX_POSTS:
                thread.truncated = True
                return
            thread.posts.append(Post(len(thread.posts) + 1, _login(c) or "ghost", clip(text_of(c.get("body"))),
                                     _is_maintainer(c)))
        url, params = next_link(headers, http.endpoint), None  # the next link carries its own query
    thread.truncated = thread.truncated or url is not None


async def read_issue(http: Http, repo: str, number: int, web_url: str) -> Thread:
    what = f"issue {repo}#{number}"
    data, _ = await get_json(http, http.hub(f"/repos/{repo}/issues/{number}"), what, headers=HEADERS)
    if not isinstance(data, dict):
        from hfdiag.errors import InputError

        raise InputError(f"cannot read {what}: the answer is not a JSON object")
    if int_of(data.get("number")) is None:
        data = {**data, "number": number}
    thread = thread_of(data, web_url)
    await read_comments(http, repo, thread)
    return thread


async def list_issues(http: Http, repo: str, *, include_closed: bool, since: str | None) -> tuple[list[dict], bool]:
    """(issues, whether the page cap cut the list short); pull requests are left out."""
    url: str | None = http.hub(f"/repos/{repo}/issues")
    params: dict | None = {"state": "all" if include_closed else "open", "per_page": PER_PAGE}
    if since:
        params["since"] = since  # GitHub filters on the update time: the creation time is checked by the caller
    out: list[dict] = []
    for _ in range(MAX_PAGES):
        if url is None:
            return out, False
        data, headers = await get_json(http, url, f"the issues of {repo}", params=params, headers=HEADERS)
        out += [i for i in (data if isinstance(data, list) else [])
                if isinstance(i, dict) and "pull_request" not in i and int_of(i.get("number")) is not None]
        url, params = next_link(headers, http.endpoint), None
    return out, url is not None
