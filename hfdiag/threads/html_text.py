"""Discourse `cooked` HTML to plain text with the standard library's HTML parser.

Block elements end a line, `<br>` is a line break, and code blocks keep their lines exactly as written (error
messages and log lines live there). Scripts, styles and images carry no text; entities are decoded."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {"p", "div", "li", "ul", "ol", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
          "aside", "details", "summary", "hr", "pre"}
_SPACES = re.compile(r"\s+")
_SKIP = {"script", "style", "template", "svg"}


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._pre = 0
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag == "pre":
            self._newline()
            self._pre += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in _BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
            self._newline()
        elif tag in _BLOCK:
            self._newline()
        elif tag == "td":
            self.out.append(" ")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            self.out.append(data)
        else:
            text = _SPACES.sub(" ", data)
            if not self.out or self.out[-1].endswith("\n"):
                text = text.lstrip()
            if text:
                self.out.append(text)

    def _newline(self) -> None:
        if self.out and not self.out[-1].endswith("\n"):
            self.out.append("\n")


def html_to_text(html: str) -> str:
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    lines = [line.rstrip() for line in "".join(parser.out).split("\n")]
    return "\n".join(line for line in lines if line.strip()).strip("\n")
