"""`hfdiag scan` spends about one Hub call per Space: the Space infos come from one paginated listing per owner,
and the log streams open only where the stage or the route shows a problem. Through the real CLI against the
simulator; the verdicts stay those of `check`, Space by Space."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

import pytest

from hfdiag.sim import Simulator
from tests.ci.conftest import sim_args
from tests.conftest import cli_env, run_cli

MIX = {"healthy": 0.5, "runtime_error": 0.2, "sleeping": 0.1, "building": 0.1, "paused": 0.1}
PAGE = 5  # the simulated listing's largest page: the fleet's 13 Spaces of fleetuser take three pages


def scan(sim, ids: list[str], *extra: str) -> tuple[list[dict], str, list]:
    """(reports, stderr, Hub requests the scan made) of `hfdiag scan - --format jsonl`."""
    n0 = len(sim.requests)
    p = run_cli("scan", "-", *sim_args(sim), "--format", "jsonl", *extra, input="\n".join(ids) + "\n",
                env=cli_env(HF_TOKEN=sim.tokens["owner"]), timeout=180)
    assert p.returncode in (0, 1), p.stderr
    return [json.loads(x) for x in p.stdout.splitlines()], p.stderr, \
        [r for r in list(sim.requests)[n0:] if r.role == "hub"]


def info_calls(hub: list) -> list:
    return [r for r in hub if re.fullmatch(r"/api/spaces/[^/]+/[^/]+", r.path)]


def listing_calls(hub: list) -> list:
    return [r for r in hub if r.path == "/api/spaces"]


def verdict(report: dict) -> tuple:
    v = report["verdict"]
    return v["bucket"], v["confidence"], v["rule"]


@pytest.fixture(scope="module")
def fleet():
    with Simulator("fleet", overrides={"fleet.count": 12, "fleet.mix": MIX, "hub.list_page_max": PAGE}) as sim:
        ids = [s for s in sim.space_ids if s.startswith("fleetuser/")]
        assert len({sim.space(s).stage for s in ids}) >= 3, "the mix must hold healthy and failing Spaces"
        yield sim, ids


def test_infos_come_from_one_paginated_listing(fleet):
    sim, ids = fleet
    reports, err, hub = scan(sim, ids)
    assert [r["target"] for r in reports] == ids
    pages = listing_calls(hub)
    assert len(pages) == -(-len(ids) // PAGE)  # every page, following the Link header
    for page in pages:
        q = parse_qs(page.query)
        assert q["author"] == ["fleetuser"] and "runtime" in q["expand"], page.query
    assert info_calls(hub) == []  # no Space asked for on its own
    assert all(r["scan"]["space_info"] == "listing" for r in reports)
    for r in reports:  # the listed runtime is the evidence: the stage the Space is in
        facts = {f["key"]: f["value"] for f in r["facts"]}
        assert facts["space.stage"] == sim.space(r["target"]).stage
    m = re.search(r"(\d+) Hub calls \(([\d.]+) per Space", err)
    assert m and int(m.group(1)) == len(hub), err  # the count the user sees is the Hub's own count
    assert sum(r["scan"]["hub_calls"] for r in reports) <= len(hub)


def test_healthy_spaces_cost_no_log_stream_and_say_so(fleet):
    sim, ids = fleet
    reports, _, hub = scan(sim, ids)
    streamed = {re.sub(r"^/api/spaces/(.+)/logs/(build|run)$", r"\1", r.path) for r in hub if "/logs/" in r.path}
    running = {s for s in ids if sim.space(s).stage == "RUNNING"}
    assert running and running.isdisjoint(streamed)
    assert streamed == set(ids) - running  # every Space that shows a problem had its logs read
    for r in reports:
        logs = next(p for p in r["probes"] if p["probe"] == "logs")
        coverage = {c["chain"]: c for c in r["coverage"]}
        if r["target"] in running:
            assert logs["status"] == "skipped" and "not read" in logs["error"]
            assert r["scan"]["logs"].startswith("not read")
            assert not coverage["build"]["exercised"] and "not read" in coverage["build"]["detail"]
            assert "run log not read" in coverage["request"]["detail"]
            # healthy on the evidence it has, never confidently: what only the logs show was not looked at
            assert r["verdict"]["bucket"] == "healthy" and r["verdict"]["confidence"] == "low"
            assert "logs were not read" in r["verdict"]["summary"]
        else:
            assert logs["status"] == "ok" and r["scan"]["logs"] == "opened"


def test_falls_back_to_one_call_per_space_when_the_listing_lacks_a_field():
    over = {"fleet.count": 6, "fleet.mix": MIX, "hub.list_host": False}
    with Simulator("fleet", overrides=over) as sim:
        ids = [s for s in sim.space_ids if s.startswith("fleetuser/")]
        reports, err, hub = scan(sim, ids)
        assert len(listing_calls(hub)) == 1
        assert sorted(r.path.rsplit("/", 2)[-2] + "/" + r.path.rsplit("/", 1)[-1] for r in info_calls(hub)) == \
            sorted(ids)  # each Space asked for once, on its own
        assert all(r["scan"]["space_info"] == "own call" for r in reports)
        assert all(r["verdict"]["bucket"] != "inconclusive" for r in reports), [verdict(r) for r in reports]


def test_spaces_the_listing_does_not_show_get_their_own_answer(fleet):
    """A lone Space of another owner is not worth a listing; a missing one is not in it: both are asked for on
    their own, and the missing one gets the Hub's 404 as its evidence."""
    sim, ids = fleet
    lone = "someone-else/a-space"
    missing = "fleetuser/no-such-space"
    reports, _, hub = scan(sim, ids[:3] + [missing, lone])
    assert [p.query for p in listing_calls(hub)] and all("author=fleetuser" in p.query for p in listing_calls(hub))
    asked = {r.path.split("/api/spaces/", 1)[1] for r in info_calls(hub)}
    assert asked == {missing, lone}
    by = {r["target"]: r for r in reports}
    assert by[missing]["scan"]["space_info"] == "own call"
    assert {f["key"]: f["value"] for f in by[missing]["facts"]}["space.exists"] is False


@pytest.mark.parametrize("concurrency", [1, 50])
def test_scan_verdicts_are_the_check_verdicts(fleet, concurrency):
    """Space by Space, the scan's verdict is `check`'s: the same bucket, confidence and rule wherever the scan
    read the logs; where it did not (a healthy stage and route), the same healthy bucket at low confidence,
    for want of the run log's nonce. With `--read-logs always` every verdict is `check`'s."""
    sim, ids = fleet
    p = run_cli("check", *ids, *sim_args(sim), "--format", "json", "--quiet", "--concurrency", "8",
                env=cli_env(HF_TOKEN=sim.tokens["owner"]), timeout=180)
    checked = {r["target"]: r for r in map(json.loads, p.stdout.splitlines())}  # several Spaces: one per line
    reports, _, _ = scan(sim, ids, "--concurrency", str(concurrency))
    assert set(checked) == {r["target"] for r in reports}
    for r in reports:
        c = checked[r["target"]]
        if r["scan"]["logs"] == "opened":
            assert verdict(r) == verdict(c), r["target"]
        else:
            assert verdict(c) == ("healthy", "high", "HFD-OK-001"), r["target"]
            assert verdict(r) == ("healthy", "low", "HFD-OK-002"), r["target"]
    always, _, _ = scan(sim, ids, "--concurrency", str(concurrency), "--read-logs", "always")
    assert [verdict(r) for r in always] == [verdict(checked[r["target"]]) for r in always]


def test_a_scan_shares_an_answer_but_asks_again_after_an_unanswered_one():
    """SharedCalls.once (the fixed hosts' DNS lookups of a scan): one lookup for all concurrent Spaces; a lookup
    nobody answered is not kept, so the next Space asks again."""
    import asyncio

    from hfdiag.probes.shared import SharedCalls

    asked: list[str] = []

    async def lookup(answer: str) -> str:
        asked.append(answer)
        await asyncio.sleep(0)  # let the other Spaces arrive while it is in flight
        return answer

    async def main() -> list[str]:
        shared = SharedCalls(http=None)
        first = await asyncio.gather(*(shared.once(("dns", "hf.co"), lambda: lookup("ok"), lambda a: a == "ok")
                                       for _ in range(8)))
        lost = [await shared.once(("dns", "cdn"), lambda: lookup("timeout"), lambda a: a == "ok") for _ in range(2)]
        return first + lost

    assert asyncio.run(main()) == ["ok"] * 8 + ["timeout"] * 2
    assert asked == ["ok", "timeout", "timeout"]


def test_a_listing_older_than_its_max_age_is_read_again(fleet):
    """A scan held for minutes (the rate limit) judges each Space on a fresh listing, not the scan's first one."""
    import asyncio

    from hfdiag.probes.http import Http
    from hfdiag.scan_listing import Listing

    sim, ids = fleet

    async def main(max_age_s: float) -> list:
        http = Http(sim.endpoint, sim.tokens["owner"], trust_env=False)
        try:
            listing = Listing(http, ids, max_age_s=max_age_s)
            infos = [await listing.info(sid) for sid in ids[:2]]
            return [infos, listing.stats.calls, listing.stats.used]
        finally:
            await http.aclose()

    pages = -(-len(ids) // PAGE)
    fresh, calls, used = asyncio.run(main(3600))
    assert calls == pages and used == 2 and [i["id"] for i in fresh] == ids[:2]
    assert all(i["runtime"]["stage"] == sim.space(i["id"]).stage for i in fresh)
    _, calls, _ = asyncio.run(main(0))
    assert calls == 2 * pages  # each check read the owner's listing again
