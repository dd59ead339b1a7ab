"""GitHub Actions: workflow annotations on stdout, a Markdown job summary appended to $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from hfdiag.environment import Environment
from hfdiag.redact import Redactor
from hfdiag.render.markdown import to_markdown
from hfdiag.render.text import matched
from hfdiag.report import first_sentence

_LEVEL = {"critical": "error", "error": "error", "warning": "warning", "info": "notice"}


def _escape_data(s: str) -> str:
    # https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def annotations(report: dict) -> list[str]:
    v = report["verdict"]
    lines = []
    target = report.get("target") or "input"
    if v["bucket"] == "healthy":
        lines.append(f"::notice title={_escape_prop(f'hfdiag {target}: healthy')}::{_escape_data(first_sentence(report))}")
    elif v["bucket"] == "inconclusive":
        lines.append(f"::warning title={_escape_prop(f'hfdiag {target}: inconclusive')}::{_escape_data(first_sentence(report))}")
    for f in matched(report):
        level = _LEVEL.get(f["severity"], "warning")
        if f["knowledge"] == "background":
            level = "notice"
        title = f"hfdiag {target}: {f['bucket']} ({f['id']})"
        lines.append(f"::{level} title={_escape_prop(title)}::{_escape_data(f['title'] + ': ' + f['because'])}")
    return lines


def render(report: dict, env: Environment, **_) -> None:
    redactor = Redactor()
    for line in annotations(report):
        env.stdout.write(redactor.text(line) + "\n")
    env.stdout.flush()
    summary_path = env.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        try:
            with open(summary_path, "a", encoding="utf-8") as fh:
                fh.write(to_markdown(report, "github") + "\n")
        except OSError as e:
            env.message(f"hfdiag: cannot write the job summary to GITHUB_STEP_SUMMARY ({e.strerror})")
