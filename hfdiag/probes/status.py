"""Status-page probe: the provider's JSON:API `index.json` (aggregate state, open reports). Background only."""

from __future__ import annotations

from hfdiag.evidence.model import ProbeResult
from hfdiag.probes.base import ProbeContext
from hfdiag.probes.http import HttpFailure
from hfdiag.probes.shared import shared_request


class StatusProbe:
    name = "status"
    after: tuple[str, ...] = ()
    timeout = 8.0

    def enabled(self, ctx: ProbeContext) -> str | None:
        return None if ctx.options.status_url else "no --status-url"

    async def run(self, ctx: ProbeContext, result: ProbeResult) -> None:
        res = await shared_request(ctx, "GET", ctx.options.status_url, auth=False, max_body=2 * 1024 * 1024)
        if res.status >= 400:
            raise HttpFailure(f"status page answered {res.status}", "http")
        doc = res.json()
        attrs = ((doc or {}).get("data") or {}).get("attributes") if isinstance(doc, dict) else None
        if not isinstance(attrs, dict) or "aggregate_state" not in attrs:
            raise HttpFailure("status page JSON has no data.attributes.aggregate_state", "decode")
        result.fact("status.aggregate_state", str(attrs["aggregate_state"]))
        included = doc.get("included") if isinstance(doc.get("included"), list) else []
        open_reports = [
            i for i in included if isinstance(i, dict) and i.get("type") == "status_report"
            and isinstance(i.get("attributes"), dict) and i["attributes"].get("aggregate_state") != "resolved"
        ]
        result.fact("status.open_incident", bool(open_reports))
        if open_reports:
            result.fact("status.incident_title", str(open_reports[0]["attributes"].get("title", ""))[:200])
        degraded = [
            i["attributes"].get("public_name") for i in included
            if isinstance(i, dict) and i.get("type") == "status_page_resource" and isinstance(i.get("attributes"), dict)
            and i["attributes"].get("status") not in (None, "operational")
        ]
        if degraded:
            result.detail["degraded_resources"] = degraded[:20]
