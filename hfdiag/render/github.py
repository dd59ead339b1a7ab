"""GitHub Actions: workflow annotations on stdout, a Markdown job summary appended to $GITHUB_STEP_SUMMARY.

Workflow-command rules (https://docs.github.com/actions/reference/workflow-commands-for-github-actions):
- the message is escaped `%` -> %25, CR -> %0D, LF -> %0A (one command is one line, whatever the text holds),
  after any other control character was made visible (render/sanitize.py);
- property values (title, file) additionally escape `:` -> %3A and `,` -> %2C;
- GitHub shows at most 10 annotations of each level per step, so the most severe come first and the rest are
  counted in one notice; a message is capped at 4 KiB.
The summary is appended (never truncating what earlier steps wrote), redacted, and capped below GitHub's 1 MiB
per-step limit. Nothing is written when GITHUB_STEP_SUMMARY is unset; an unwritable path is one stderr line.
"""

from __future__ import annotations

from hfdiag.environment import Environment
from hfdiag.redact import Redactor
from hfdiag.render.markdown import to_markdown
from hfdiag.render.sanitize import visible
from hfdiag.render.text import matched
from hfdiag.report import first_sentence

_LEVEL = {"critical": "error", "error": "error", "warning": "warning", "info": "notice"}
_RANK = {"error": 0, "warning": 1, "notice": 2}
MAX_PER_LEVEL = 10
MAX_MESSAGE = 4096
MAX_SUMMARY = 900 * 1024


def _escape_data(s: str) -> str:
    return visible(str(s).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _escape_prop(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, **props) -> str:
    """One workflow command line: `::level k=v,k=v::message`, every part escaped."""
    redactor = Redactor()  # before escaping, so a mask never lands unescaped in a property
    message = redactor.text(str(message))
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    ps = ",".join(f"{k}={_escape_prop(redactor.text(str(v)))}" for k, v in props.items() if v not in (None, ""))
    return f"::{level}{' ' + ps if ps else ''}::{_escape_data(message)}"


def annotations(report: dict) -> list[str]:
    v = report["verdict"]
    target = report.get("target") or "input"
    items: list[tuple[str, str, dict]] = []
    if v["bucket"] == "healthy":
        items.append(("notice", first_sentence(report), {"title": f"hfdiag {target}: healthy"}))
    elif v["bucket"] == "inconclusive":
        items.append(("warning", first_sentence(report), {"title": f"hfdiag {target}: inconclusive"}))
    for f in matched(report):
        if f["bucket"] == "healthy":
            continue  # the verdict line says it; next to a finding it would contradict it
        level = _LEVEL.get(f["severity"], "warning")
        if f["knowledge"] == "background":
            level = "notice"
        props = {"title": f"hfdiag {target}: {f['bucket']} ({f['id']})"}
        loc = (f.get("locations") or [None])[0]  # preflight findings point at a file of the checkout
        if loc:
            props["file"] = loc.get("file")
            if loc.get("line"):
                props["line"] = str(loc["line"])
        items.append((level, f"{f['title']}: {f['because']}", props))
    items.sort(key=lambda it: _RANK[it[0]])  # stable: the verdict first within its level
    out, dropped, per_level = [], 0, {}
    for level, message, props in items:
        per_level[level] = per_level.get(level, 0) + 1
        if per_level[level] > MAX_PER_LEVEL:
            dropped += 1
            continue
        out.append(command(level, message, **props))
    if dropped:
        out.append(command("notice", f"{dropped} more findings: see the job summary or --format json.",
                           title=f"hfdiag {target}"))
    return out


def append_summary(env: Environment, markdown: str) -> None:
    path = env.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    if len(markdown.encode("utf-8")) > MAX_SUMMARY:
        markdown = markdown.encode("utf-8")[:MAX_SUMMARY].decode("utf-8", "ignore") + "\n\n…(truncated)\n"
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip("\n") + "\n\n")
    except OSError as e:
        env.message(f"hfdiag: cannot write the job summary to GITHUB_STEP_SUMMARY ({e.strerror or e})")


def render(report: dict, env: Environment, **_) -> None:
    for line in annotations(report):
        env.stdout.write(line + "\n")
    env.stdout.flush()
    append_summary(env, to_markdown(report, "github"))
