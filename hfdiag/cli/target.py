"""Where a command's requests go: the simulator, or the Hub endpoint with the caller's token. One place, so
`check` and `scan` resolve endpoint, token, DNS server and status page the same way."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from hfdiag.errors import UsageError

PUBLIC_STATUS_URL = "https://status.huggingface.co/index.json"


@dataclass
class Target:
    endpoint: str
    token: str | None
    token_source: str | None
    dns_server: str | None
    status_url: str


@contextlib.contextmanager
def simulator(scenario: str | None):
    """The embedded simulator for --sim (started and stopped around the command), or None."""
    if not scenario:
        yield None
        return
    try:
        from hfdiag.sim import ScenarioError, Simulator, load_scenario
    except ModuleNotFoundError as e:
        raise UsageError(f"--sim needs the 'sim' extra: pip install 'hfdiag[sim]' ({e.name} missing)") from None
    try:
        load_scenario(scenario)
    except ScenarioError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    sim = Simulator(scenario)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs on 127.0.0.0/8, ::1 or localhost (a simulator or a local mirror)."""
    import ipaddress

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_if_offline(environ, endpoint: str, sim, command: str) -> None:
    """HF_HUB_OFFLINE=1 promises that nothing talks to the Hub: a live `check`/`scan` of the Hub refuses
    (exit 2) instead of breaking that promise; the simulator and a loopback mirror are not the Hub."""
    from hfdiag.auth import hub_offline

    if sim is None and not is_loopback_url(endpoint) and hub_offline(environ):
        var = "HF_HUB_OFFLINE" if "HF_HUB_OFFLINE" in environ else "TRANSFORMERS_OFFLINE"
        raise UsageError(f"{var} is set: `hfdiag {command}` would contact the Hub ({endpoint}); unset it for this "
                         f"command ({var}= hfdiag {command} ...), or classify saved text offline with `hfdiag explain`")


def resolve_target(a: dict, environ: dict, sim=None, sim_role: str = "owner") -> Target:
    """From --endpoint/--token/--dns-server/--status-url (and HF_ENDPOINT, the token chain), or the simulator."""
    from hfdiag.auth import find_token
    from hfdiag.cli.validate import check_dns_server

    if sim is not None:
        token = None if sim_role == "anonymous" else sim.tokens["owner" if sim_role == "owner" else "other"]
        source = f"--sim-as {sim_role}"
        if a.get("token"):
            token, source = a["token"], "--token"
        target = Target(sim.endpoint, token, source, a.get("dns_server") or sim.dns_server,
                        a.get("status_url") or sim.status_url)
    else:
        endpoint = (a.get("endpoint") or environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
        if not endpoint.startswith(("http://", "https://")):
            raise UsageError(f"--endpoint {endpoint!r}: expected an http(s) URL")
        token, source = find_token(a.get("token"), environ)
        target = Target(endpoint, token, source, a.get("dns_server"), a.get("status_url") or PUBLIC_STATUS_URL)
    check_dns_server(target.dns_server)
    return target
