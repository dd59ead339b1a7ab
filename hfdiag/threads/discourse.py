"""Discourse topics: /t/{id}.json (post_stream.posts[] with `cooked` HTML, username, post_number and the
staff/moderator/admin flags; post_stream.stream lists every post id, and the posts beyond the first chunk come
from /t/{id}/posts.json?post_ids[]=...), and the plain-text /raw/{id}. No token is ever sent to a forum."""

from __future__ import annotations

import re

from hfdiag.errors import InputError
from hfdiag.probes.http import Http
from hfdiag.threads.fetch import get_json, get_text, int_of, text_of
from hfdiag.threads.html_text import html_to_text
from hfdiag.threads.model import MAX_POSTS, Post, Thread, clip

CHUNK = 20  # post ids per posts.json request
_RAW_HEADER = re.compile(r"^(?P<user>[^\s|]{1,60}) \| (?P<date>[^|\n]{1,60}) \| #(?P<num>\d{1,9})$", re.M)
_RAW_RULE = "\n-------------------------\n"


def _post(p: dict, fallback_number: int) -> Post:
    maintainer = any(p.get(flag) is True for flag in ("staff", "moderator", "admin"))
    return Post(int_of(p.get("post_number")) or fallback_number, text_of(p.get("username")) or "unknown",
                clip(html_to_text(text_of(p.get("cooked")))), maintainer)


async def read_topic(http: Http, topic_id: int, web_url: str) -> Thread:
    what = f"topic {topic_id}"
    data, _ = await get_json(http, http.hub(f"/t/{topic_id}.json"), what)
    if not isinstance(data, dict) or not isinstance(data.get("post_stream"), dict):
        raise InputError(f"cannot read {what}: not a Discourse topic (no post_stream)")
    stream = data["post_stream"]
    posts = [p for p in stream.get("posts") or [] if isinstance(p, dict)] if isinstance(stream.get("posts"), list) else []
    ids = [i for i in stream.get("stream") or [] if int_of(i) is not None] if isinstance(stream.get("stream"), list) else []
    have = {p.get("id") for p in posts}
    missing = [i for i in ids if i not in have][: max(0, MAX_POSTS - len(posts))]
    for start in range(0, len(missing), CHUNK):
        chunk = missing[start:start + CHUNK]
        more, _ = await get_json(http, http.hub(f"/t/{topic_id}/posts.json"), what,
                                 params={"post_ids[]": [str(i) for i in chunk]})
        more_stream = more.get("post_stream") if isinstance(more, dict) else None
        got = more_stream.get("posts") if isinstance(more_stream, dict) else None
        posts += [p for p in got or [] if isinstance(p, dict)]
    posts.sort(key=lambda p: int_of(p.get("post_number")) or 0)
    thread = Thread("discourse", web_url, text_of(data.get("title"))[:300], number=topic_id,
                    status="closed" if data.get("closed") is True else "open",
                    created_at=text_of(data.get("created_at")) or None)
    thread.posts = [_post(p, i + 1) for i, p in enumerate(posts[:MAX_POSTS])]
    thread.truncated = len(ids) > len(thread.posts) or len(posts) > MAX_POSTS
    thread.author = thread.posts[0].author if thread.posts else None
    return thread


async def read_raw(http: Http, topic_id: int, web_url: str) -> Thread:
    """The /raw/{id} text: posts as `USER | DATE | #N`, a blank line, the markdown, then a rule. Raw text carries
    no staff flags, so no post counts as a maintainer's."""
    text = await get_text(http, http.hub(f"/raw/{topic_id}"), f"topic {topic_id}")
    thread = Thread("discourse", web_url, "", number=topic_id)
    heads = list(_RAW_HEADER.finditer(text))
    if not heads:
        thread.posts = [Post(1, "unknown", clip(text))]
    for i, h in enumerate(heads[:MAX_POSTS]):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        body = text[h.end():end].replace(_RAW_RULE, "\n").strip()
        thread.posts.append(Post(int(h.group("num")), h.group("user"), clip(body)))
    thread.truncated = len(heads) > MAX_POSTS
    thread.author = thread.posts[0].author if thread.posts else None
    return thread
