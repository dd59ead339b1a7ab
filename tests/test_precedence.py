"""Precedence between matching rules, inconclusive reporting, and background findings — on a synthetic
rules directory, so these tests pin the engine's behaviour independently of the shipped rule content."""

import shutil
from pathlib import Path

import pytest
import yaml

from hfdiag.engine.knowledge import KnowledgeBase
from hfdiag.engine.verdict import diagnose
from hfdiag.evidence.model import Fact, FactSet

ROOT = Path(__file__).resolve().parent.parent


def _rule(rid, bucket, when, **extra):
    tests = [{"facts": {}, "expect": "inconclusive"}, {"facts": {}, "expect": "match"}, {"facts": {}, "expect": "no_match"}]
    if extra.get("vetoes"):
        tests.append({"facts": {}, "expect": "vetoed"})
    data = {"id": rid, "bucket": bucket, "title": f"{bucket} rule", "when": when,
            "because": f"{bucket} because {{space.stage}}", "tests": tests, **extra}
    if data.get("knowledge") == "explained":
        data["references"] = [{"title": "t", "url": "https://example.invalid/doc"}]
    return data


@pytest.fixture
def make_kb(tmp_path):
    def build(rules):
        d = tmp_path / "rules"
        d.mkdir()
        for name in ("facts.yaml", "chains.yaml", "precedence.yaml", "derived.yaml"):
            shutil.copy(ROOT / "rules" / name, d / name)
        (d / "signatures.yaml").write_text("signatures: []\n")
        for r in rules:
            (d / r["bucket"]).mkdir(exist_ok=True)
            (d / r["bucket"] / f"{r['id']}.yaml").write_text(yaml.safe_dump(r))
        return KnowledgeBase(d)

    return build


def fs(**kv):
    return FactSet(Fact(k.replace("__", "."), v, "test") for k, v in kv.items())


STAGE_ERR = {"fact": "space.stage", "op": "eq", "value": "RUNTIME_ERROR"}
SM120 = {"fact": "runtime.error_kind", "op": "eq", "value": "no_kernel_image"}
MODULE = {"fact": "app.error_kind", "op": "eq", "value": "module_not_found"}
EDGE = {"fact": "route.edge_made", "op": "gt", "value": 0}


def test_narrowest_boundary_wins(make_kb):
    kb = make_kb([_rule("HFD-BLD-001", "builder", STAGE_ERR, confidence="high"),
                  _rule("HFD-RT-001", "runtime", SM120, confidence="low")])
    d = diagnose(kb, fs(space__stage="RUNTIME_ERROR", runtime__error_kind="no_kernel_image"))
    assert d.verdict.bucket == "runtime" and d.verdict.rule == "HFD-RT-001"
    assert [f.rule.id for f in d.findings if f.outcome.status == "match"] == ["HFD-RT-001", "HFD-BLD-001"]


def test_app_wins_over_platform_when_user_code_was_reached(make_kb):
    kb = make_kb([_rule("HFD-PRX-001", "proxy", EDGE), _rule("HFD-APP-001", "app", MODULE)])
    facts = fs(route__edge_made=2, app__error_kind="module_not_found", app__user_frame_seen=True)
    d = diagnose(kb, facts)
    assert d.verdict.bucket == "app"
    assert d.facts.fact("app.reached_user_code").kind == "inferred"


def test_app_is_narrower_than_proxy_and_builder(make_kb):
    # An app crash explains the edge's 5xx and the RUNTIME_ERROR stage; the app boundary is the narrower one.
    kb = make_kb([_rule("HFD-PRX-001", "proxy", EDGE), _rule("HFD-BLD-001", "builder", STAGE_ERR),
                  _rule("HFD-APP-001", "app", MODULE)])
    d = diagnose(kb, fs(route__edge_made=2, space__stage="RUNTIME_ERROR", app__error_kind="module_not_found"))
    assert d.verdict.bucket == "app"


def test_app_override_beats_a_narrower_platform_bucket_only_with_user_code(make_kb):
    egress = {"fact": "egress.dns_error", "op": "eq", "value": "temporary"}
    kb = make_kb([_rule("HFD-EGR-001", "egress", egress), _rule("HFD-APP-001", "app", MODULE)])
    without = diagnose(kb, fs(egress__dns_error="temporary", app__error_kind="module_not_found"))
    assert without.verdict.bucket == "egress"
    with_user_code = diagnose(kb, fs(egress__dns_error="temporary", app__error_kind="module_not_found",
                                     route__reached_app=True))
    assert with_user_code.verdict.bucket == "app"


def test_runtime_is_not_overridden_by_app(make_kb):
    kb = make_kb([_rule("HFD-RT-001", "runtime", SM120), _rule("HFD-APP-001", "app", MODULE)])
    d = diagnose(kb, fs(runtime__error_kind="no_kernel_image", app__error_kind="module_not_found",
                        app__user_frame_seen=True))
    assert d.verdict.bucket == "runtime"


def test_ties_break_on_confidence_then_rule_id(make_kb):
    kb = make_kb([_rule("HFD-BLD-002", "builder", STAGE_ERR, confidence="medium"),
                  _rule("HFD-BLD-001", "builder", STAGE_ERR, confidence="low"),
                  _rule("HFD-BLD-003", "builder", STAGE_ERR, confidence="medium")])
    d = diagnose(kb, fs(space__stage="RUNTIME_ERROR"))
    assert d.verdict.rule == "HFD-BLD-002"


def test_background_never_wins(make_kb):
    kb = make_kb([_rule("HFD-BLD-001", "builder", STAGE_ERR, knowledge="background")])
    d = diagnose(kb, fs(space__stage="RUNTIME_ERROR"))
    assert d.verdict.bucket == "inconclusive"
    assert d.findings[0].rule.id == "HFD-BLD-001"


def test_inconclusive_lists_the_deciding_facts_and_their_probe(make_kb):
    when = {"all": [{"fact": "route.edge_made", "op": "gt", "value": 0},
                    {"fact": "build_log.lines", "op": "eq", "value": 0}]}
    kb = make_kb([_rule("HFD-BLD-001", "builder", when)])
    d = diagnose(kb, fs(route__edge_made=3))
    assert d.verdict.bucket == "inconclusive"
    assert [(n.fact, n.probe, n.needs) for n in d.verdict.needs] == [("build_log.lines", "logs", "the owner's token")]
    assert "build_log.lines" in d.verdict.summary and "owner's token" in d.verdict.summary


def test_rule_with_no_true_leaf_is_not_a_near_miss(make_kb):
    kb = make_kb([_rule("HFD-BLD-001", "builder", STAGE_ERR)])
    d = diagnose(kb, fs(route__status=200))
    assert d.verdict.bucket == "inconclusive" and d.verdict.needs == []
    assert d.findings == []


def test_healthy_only_when_nothing_else_matches(make_kb):
    ok = {"fact": "route.app_ok", "op": "gt", "value": 0}
    kb = make_kb([_rule("HFD-OK-001", "healthy", ok, confidence="high"), _rule("HFD-PRX-001", "proxy", EDGE)])
    assert diagnose(kb, fs(route__app_ok=3)).verdict.bucket == "healthy"
    assert diagnose(kb, fs(route__app_ok=3, route__edge_made=1)).verdict.bucket == "proxy"


def test_because_is_rendered_with_real_values(make_kb):
    kb = make_kb([_rule("HFD-BLD-001", "builder", STAGE_ERR)])
    d = diagnose(kb, fs(space__stage="RUNTIME_ERROR"))
    assert d.findings[0].because == "builder because RUNTIME_ERROR"


def test_healthy_match_beats_an_undecided_rule_which_stays_listed(make_kb):
    ok = {"fact": "route.app_ok", "op": "gt", "value": 0}
    undecided = {"all": [{"fact": "route.latency_ms_p50", "op": "gt", "value": 100},
                         {"fact": "zerogpu.error_kind", "op": "eq", "value": "no_gpu_token"}]}
    kb = make_kb([_rule("HFD-OK-001", "healthy", ok), _rule("HFD-ZGS-001", "zerogpu-settlement", undecided)])
    d = diagnose(kb, fs(route__app_ok=3, route__latency_ms_p50=250))
    assert d.verdict.bucket == "healthy"
    assert [(f.rule.id, f.outcome.status) for f in d.findings] == [("HFD-OK-001", "match"),
                                                                 ("HFD-ZGS-001", "inconclusive")]


def test_context_alone_does_not_make_a_rule_undecided(make_kb):
    # The stage and who is calling describe the setting; they are not a symptom pointing at a boundary.
    when = {"all": [{"fact": "space.stage", "op": "eq", "value": "RUNNING"},
                    {"fact": "auth.token_present", "op": "eq", "value": True},
                    {"fact": "zerogpu.ip_token_sent", "op": "eq", "value": False}]}
    kb = make_kb([_rule("HFD-ZGI-001", "zerogpu-identity", when)])
    d = diagnose(kb, fs(space__stage="RUNNING", auth__token_present=True))
    assert d.verdict.bucket == "inconclusive" and d.verdict.needs == [] and d.findings == []


def test_a_vetoed_rule_cannot_win_and_is_listed_with_its_reason(make_kb):
    narrow = _rule("HFD-RT-001", "runtime", {"fact": "space.stage", "op": "eq", "value": "RUNNING"},
                   vetoes=[{"when": {"fact": "route.nonce_in_run_log", "op": "eq", "value": True},
                            "because": "nonce seen while {space.stage}"}])
    broad = _rule("HFD-BLD-001", "builder", {"fact": "space.stage", "op": "eq", "value": "RUNNING"})
    kb = make_kb([narrow, broad])
    plain = diagnose(kb, FactSet([Fact("space.stage", "RUNNING", "t")]))
    assert plain.verdict.rule == "HFD-RT-001"  # narrowest boundary first, while nothing contradicts it
    vetoed = diagnose(kb, FactSet([Fact("space.stage", "RUNNING", "t"), Fact("route.nonce_in_run_log", True, "t")]))
    assert vetoed.verdict.rule == "HFD-BLD-001"
    last = vetoed.findings[-1].to_dict()
    assert (last["id"], last["status"], last["vetoed_because"]) == ("HFD-RT-001", "vetoed", "nonce seen while RUNNING")


def test_an_unknown_veto_does_not_veto(make_kb):
    rule = _rule("HFD-RT-001", "runtime", {"fact": "space.stage", "op": "eq", "value": "RUNNING"},
                 vetoes=[{"when": {"fact": "route.nonce_in_run_log", "op": "eq", "value": True}, "because": "x"}])
    assert diagnose(make_kb([rule]), FactSet([Fact("space.stage", "RUNNING", "t")])).verdict.rule == "HFD-RT-001"
