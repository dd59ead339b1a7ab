"""status.huggingface.co `index.json` in BetterStack JSON:API shape (hub-spaces-api.md §11)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from .logs import iso_z

if TYPE_CHECKING:  # pragma: no cover
    from .state import SimState


def index_json(sim: SimState) -> dict:
    state = sim.knob("status.state")
    incident = sim.knob("status.incident")
    names = sim.knob("status.components")
    today = datetime.now(timezone.utc).date()
    included: list[dict] = [{"id": "1", "type": "status_page_section", "attributes": {"name": "Services"}}]
    for i, name in enumerate(names):
        st = "operational"
        if incident and incident.get("resource", names[0] if names else None) == name:
            st = state if state != "operational" else "degraded"
        included.append({"id": str(100 + i), "type": "status_page_resource", "attributes": {
            "public_name": name, "status": st, "status_page_section_id": 1, "availability": 0.9996,
            "status_history": [{"day": str(today - timedelta(days=d)), "status": "operational" if d else st,
                                "downtime_duration": 0, "maintenance_duration": 0} for d in range(3)]}})
    resolved = {"id": "900", "type": "status_report", "attributes": {
        "title": "Elevated error rate – AWS CDN (Singapore)", "report_type": "manual", "aggregate_state": "resolved",
        "starts_at": iso_z(time.time() - 86400 * 9), "ends_at": iso_z(time.time() - 86400 * 9 + 3600)}}
    included.append(resolved)
    if incident:
        included.append({"id": "901", "type": "status_report", "attributes": {
            "title": incident.get("title", "Degraded performance"), "report_type": incident.get("report_type", "manual"),
            "aggregate_state": incident.get("state", state if state != "operational" else "degraded"),
            "starts_at": iso_z(time.time() - 1800), "ends_at": None}})
    return {"data": {"id": "12345", "type": "status_page", "attributes": {
        "company_name": "Hugging Face", "company_url": "https://huggingface.co", "subdomain": "status",
        "custom_domain": "status.huggingface.co", "timezone": "UTC", "aggregate_state": state}},
        "included": included}
