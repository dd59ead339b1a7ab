"""`hfdiag env`: the environment facts a helper asks for first, redacted, ready to paste."""

from typing import Optional

import typer

from hfdiag.cli.app import app
from hfdiag.cli.options import markdown_flavor_option


@app.command("env")
def env_cmd(
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="Hub endpoint for whoami (default: HF_ENDPOINT, else https://huggingface.co)."),
    token: Optional[str] = typer.Option(None, "--token", help="Hub token (default: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, token file)."),
    fmt: str = typer.Option("human", "--format", "-f", help="Output format: human, json or markdown.", metavar="FORMAT"),
    markdown_flavor: Optional[str] = markdown_flavor_option(),
    offline: bool = typer.Option(False, "--offline", help="Do not call whoami-v2 (no network at all)."),
    timeout: float = typer.Option(10.0, "--timeout", help="Deadline of the whoami call, in seconds."),
) -> int:
    """Versions, HF_* variables, token present and whose, proxies: redacted, one command to paste."""
    import asyncio
    import json

    from hfdiag.auth import find_token, hub_offline
    from hfdiag.cli.validate import check_flavor, check_format
    from hfdiag.envinfo import gather, whoami
    from hfdiag.environment import Environment
    from hfdiag.errors import UsageError
    from hfdiag.redact import Redactor

    check_format(fmt, ("human", "json", "markdown"))
    check_flavor(markdown_flavor, fmt)
    if timeout <= 0:
        raise UsageError("--timeout must be positive")
    env = Environment()
    url = (endpoint or env.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--endpoint {url!r}: expected an http(s) URL")
    tok, source = find_token(token, env.environ)
    redactor = Redactor([tok] if tok else [])
    who = None
    hub_off = hub_offline(env.environ)
    if tok and not offline and not hub_off:
        who = asyncio.run(whoami(url, tok, timeout=timeout))
    elif tok:
        who = {"whoami_error": "not checked (HF_HUB_OFFLINE)" if hub_off else "not checked (--offline)"}
    doc = gather(env.environ, token=tok, token_source=source, whoami=who, endpoint=url, redactor=redactor)
    if fmt == "json":
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "markdown":
        text = to_markdown(doc, markdown_flavor or "github")
    else:
        text = to_human(doc)
    # the final text passes the redactor once more, except library names such as hf_transfer (not secrets)
    env.stdout.write(_final(text, redactor))
    env.stdout.flush()
    return 0


def _final(text: str, redactor) -> str:
    from hfdiag.envinfo import LIBRARIES

    keep = {name: f"\x00lib{i}\x00" for i, name in enumerate(LIBRARIES) if name.startswith("hf_")}
    for name, mark in keep.items():
        text = text.replace(name, mark)
    text = redactor.text(text)
    for name, mark in keep.items():
        text = text.replace(mark, name)
    return text


def _hub_lines(doc: dict) -> list[tuple[str, str]]:
    hub = doc["hub"]
    rows = [("endpoint", hub["endpoint"]),
            ("token path", f"{hub['token_path']} ({'a saved token' if hub['saved_token'] else 'no saved token'})")]
    if hub["offline"]:
        rows.append(("offline mode", "on (HF_HUB_OFFLINE): `hfdiag check` refuses, `hfdiag explain` works"))
    if not hub["token_present"]:
        if hub.get("token_source") == "HF_HUB_DISABLE_IMPLICIT_TOKEN":
            rows.append(("token", "not sent: HF_HUB_DISABLE_IMPLICIT_TOKEN is set (pass --token to send one)"))
        else:
            rows.append(("token", "none found (HF_TOKEN, HUGGING_FACE_HUB_TOKEN, token file)"))
        return rows
    rows.append(("token", f"present (from {hub.get('token_source') or '?'})"))
    if hub.get("whoami_error"):
        rows.append(("whoami", hub["whoami_error"]))
    if hub.get("token_valid"):
        who = hub.get("user") or "?"
        extra = [x for x in (hub.get("user_type"), f"token role {hub['token_role']}" if hub.get("token_role") else None,
                             "PRO" if hub.get("is_pro") else None) if x]
        rows.append(("whoami", who + (f" ({', '.join(extra)})" if extra else "")))
        if hub.get("orgs"):
            rows.append(("orgs", ", ".join(hub["orgs"])))
    return rows


def _sections(doc: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    py = doc["python"]
    pf = doc["platform"]
    libs = [(k, v or "not installed") for k, v in doc["libraries"].items()]
    out = [
        ("versions", [("hfdiag", doc["tool"]["version"]), ("python", f"{py['version']} ({py['implementation']}, {py['executable']})"),
                      ("platform", f"{pf['platform']} {pf['machine']}")] + libs),
        ("hub", _hub_lines(doc)),
        ("HF_* variables", list(doc["hub_variables"].items()) or [("(none)", "")]),
        ("proxies", list(doc["proxies"].items()) or [("(none)", "")]),
    ]
    if doc["ca_bundle_variables"]:
        out.append(("CA bundle", [(k, "set") for k in doc["ca_bundle_variables"]]))
    free = doc["cache"]["free_bytes"]
    out.append(("cache", [("dir", doc["cache"]["dir"]),
                          ("free", f"{free / 1024 ** 3:.1f} GiB" if isinstance(free, int) else "unknown")]))
    if doc["space"]:
        out.append(("inside a Space", list(doc["space"].items())))
    return out


def to_human(doc: dict) -> str:
    lines = []
    for title, rows in _sections(doc):
        lines.append(f"{title}:")
        for k, v in rows:
            lines.append(f"  {k:<28} {v}".rstrip())
    lines.append(doc["redaction"]["summary"])
    return "\n".join(lines) + "\n"


def to_markdown(doc: dict, flavor: str = "github") -> str:
    from hfdiag.render.markdown import fold, md_cell

    hub = doc["hub"]
    who = hub.get("user") if hub.get("token_valid") else None
    head = (f"**hfdiag env**: Python {doc['python']['version']} on {doc['platform']['system']}-{doc['platform']['machine']}, "
            + ", ".join(f"{k} {v or 'not installed'}" for k, v in doc["libraries"].items() if k in ("huggingface_hub", "gradio", "hf_xet"))
            + f"; token {'present' if hub['token_present'] else 'absent'}" + (f" ({who})" if who else ""))
    body = []
    for title, rows in _sections(doc):
        body += [f"**{title}**", "", "| | |", "|---|---|"] + [f"| {md_cell(k)} | {md_cell(v)} |" for k, v in rows] + [""]
    out = [head, "", fold("Environment details", "\n".join(body).rstrip(), flavor), "",
           f"<sub>{md_cell(doc['redaction']['summary'])}</sub>"]
    return "\n".join(out) + "\n"
