"""A thread as the classifier sees it: a title and numbered posts, each with its author's role."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_POSTS = 200  # posts read per thread; the report names a thread cut short
MAX_POST_CHARS = 64 * 1024  # characters kept per post (an error dump in a post is already more than enough)


@dataclass
class Post:
    number: int  # 1 = the report
    author: str
    text: str
    maintainer: bool = False  # the owner, a member/collaborator or forum staff

    @property
    def source(self) -> str:
        """The label every fact and excerpt from this post cites."""
        return f"post:{self.number}" + (" (maintainer)" if self.maintainer else "")


@dataclass
class Thread:
    kind: str  # hub | discourse | github
    url: str  # the web page a person opens
    title: str
    posts: list[Post] = field(default_factory=list)
    number: int | None = None
    status: str | None = None  # open | closed
    author: str | None = None
    created_at: str | None = None  # ISO 8601 as the service sent it
    truncated: bool = False  # more posts exist than were read

    def summary(self) -> dict:
        """What a report says about the thread (no post text: that is in the facts and excerpts)."""
        return {"kind": self.kind, "url": self.url, "title": self.title, "number": self.number,
                "status": self.status, "author": self.author, "created_at": self.created_at,
                "posts": len(self.posts), "truncated": self.truncated}


def clip(text: str) -> str:
    return text if len(text) <= MAX_POST_CHARS else text[:MAX_POST_CHARS]
