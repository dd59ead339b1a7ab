"""Who is calling: token present (and where it came from, never its value), whoami-v2, owner or not."""

from __future__ import annotations

from hfdiag.auth import IMPLICIT_TOKEN_OFF
from hfdiag.evidence.model import ProbeResult
from hfdiag.probes.base import ProbeContext, ProbeDenied
from hfdiag.probes.shared import shared_request


class AuthProbe:
    name = "auth"
    after: tuple[str, ...] = ()
    timeout = 10.0

    def enabled(self, ctx: ProbeContext) -> str | None:
        return None

    async def run(self, ctx: ProbeContext, result: ProbeResult) -> None:
        token = ctx.http.token
        result.fact("auth.token_present", bool(token))
        if not token:
            result.status = "skipped"
            result.error = "no token (--token, HF_TOKEN, HUGGING_FACE_HUB_TOKEN or the token file)"
            if ctx.options.token_source == IMPLICIT_TOKEN_OFF:  # there may be one, but the user said not to send it
                result.fact("auth.token_source", IMPLICIT_TOKEN_OFF)
                result.error = "no token sent: HF_HUB_DISABLE_IMPLICIT_TOKEN is set (pass --token to send one)"
            return
        result.fact("auth.token_source", ctx.options.token_source or "unknown")
        ctx.shared["auth.step"] = "calling whoami-v2"
        res = await shared_request(ctx, "GET", ctx.http.hub("/api/whoami-v2"))  # once per scan
        if res.status == 401:
            result.fact("auth.token_valid", False)
            raise ProbeDenied("the Hub rejected the token (whoami-v2 401): invalid, expired or deleted")
        if res.status >= 400:
            raise ProbeDenied(f"whoami-v2 answered {res.status}")
        who = res.json()
        if not isinstance(who, dict):
            who = {}
        result.fact("auth.token_valid", True)
        name = who.get("name") if isinstance(who.get("name"), str) else None
        if name:
            result.fact("auth.user", name)
        if isinstance(who.get("isPro"), bool):
            result.fact("auth.is_pro", who["isPro"])
        orgs = [o.get("name") for o in who.get("orgs") or [] if isinstance(o, dict) and isinstance(o.get("name"), str)]
        owner = ctx.space_id.split("/", 1)[0]
        result.fact("auth.is_owner", owner == name or owner in orgs)
        role = (((who.get("auth") or {}).get("accessToken") or {}).get("role")) if isinstance(who.get("auth"), dict) else None
        if isinstance(role, str):
            result.detail["token_role"] = role
        ctx.shared["auth.whoami"] = {"name": name, "orgs": orgs, "is_pro": who.get("isPro")}
