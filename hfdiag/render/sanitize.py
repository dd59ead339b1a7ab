"""Neutralise strings from outside (log lines, error messages, the Hub's answers, pasted text) for their sink.

- terminal: no control character reaches it (ESC, CR, BEL, C1, bidi overrides): each is shown as `\\xNN` /
  `\\u202e`, so a log line cannot clear the screen, set the title, write the clipboard (OSC 52) or hide text;
  data goes into rich `Text`, never into markup.
- Markdown: links, images, emphasis, code, HTML, autolinks and BBCode-style tags (`[/details]`, any case) are
  escaped, so text from a log renders as the text it is.
- GitHub workflow commands: see render/github.py (`%`, CR, LF escaped; controls shown here first).
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1, and the invisible format characters that reorder or hide text
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064"
                       "\u2066-\u2069\ufeff\ufff9-\ufffb]")
_CONTROLS_AND_BREAKS = re.compile(_CONTROLS.pattern[:-1] + "\t\n]")


def _show(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(text, *, keep_newlines: bool = True) -> str:
    """Every control character shown as an escape; newlines (and tabs) kept unless `keep_newlines` is false."""
    return (_CONTROLS if keep_newlines else _CONTROLS_AND_BREAKS).sub(_show, str(text))


def one_line(text) -> str:
    """For a single terminal line (a message on stderr): newlines and tabs become spaces, controls escapes."""
    return visible(str(text).replace("\r\n", " ").replace("\n", " ").replace("\t", " "))


# Markdown: ASCII punctuation that starts inline syntax (CommonMark lets any of it be backslash-escaped)
_MD_PUNCT = re.compile(r"([\\`*_\[\]!|~#])")  # `(` only links after a `]`, escaped here
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|www)(:|\.)")  # anywhere: what may start an autolink varies
_BBCODE = re.compile(r"\[(/?)(?=\s*[A-Za-z][\w-]*\s*(?:=|\]))")


def md_text(text) -> str:
    """Safe in running Markdown text and table cells: shows as written, renders no link, image, emphasis,
    code, HTML, autolink or forum tag."""
    s = visible(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _BBCODE.sub(lambda m: "[" + m.group(1) + " ", s)  # `[/details]` -> `[/ details]` (Discourse BBCode)
    s = _MD_PUNCT.sub(r"\\\1", s)
    return _AUTOLINK.sub(lambda m: m.group(1) + "\\" + m.group(2), s)  # `https\://`, `www\.`: no autolink


def code_text(text) -> str:
    """Safe inside a fenced code block (the fence is chosen by the caller): controls shown, no forum tag."""
    return _BBCODE.sub(lambda m: "[" + m.group(1) + " ", visible(text))


def md_code(text, *, in_table: bool = False) -> str:
    """A Markdown code span around `text` (delimiters included): a fence longer than any backtick run in it,
    one line, controls shown, no forum tag; in a table a pipe is escaped (GitHub splits cells first)."""
    s = code_text(str(text).replace("\r", " ").replace("\n", " "))
    if in_table:
        s = s.replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"
