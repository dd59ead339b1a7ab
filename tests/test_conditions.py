"""Three-valued condition evaluation: every operator, and missing is never false."""

import pytest

from hfdiag.engine.conditions import OPERATORS, evaluate, validate
from hfdiag.evidence.model import Fact, FactSet


def facts(**kv):
    return FactSet(Fact(k.replace("__", "."), v, "test") for k, v in kv.items())


@pytest.mark.parametrize(
    "op,actual,value,expected",
    [
        ("eq", "RUNNING", "RUNNING", True), ("eq", "RUNNING", "BUILDING", False), ("eq", 503, "503", True),
        ("eq", True, True, True), ("eq", True, "true", True), ("eq", False, True, False),
        ("ne", "A", "B", True), ("ne", "A", "A", False),
        ("in", "PAUSED", ["PAUSED", "STOPPED"], True), ("in", "RUNNING", ["PAUSED"], False),
        ("not_in", "RUNNING", ["PAUSED"], True), ("not_in", "PAUSED", ["PAUSED"], False),
        ("gt", 5, 4, True), ("gt", 4, 4, False), ("gte", 4, 4, True), ("lt", 3, 4, True), ("lte", 5, 4, False),
        ("gt", "not a number", 4, False),
        ("matches", "sm_120", r"sm_1\d\d", True), ("matches", "sm_90", r"sm_1\d\d", False),
        ("contains", "No GPU was available", "gpu was", True), ("contains", ["a", "b"], "b", True),
        ("contains", ["a", "b"], "c", False),
    ],
)
def test_operator_on_present_fact(op, actual, value, expected):
    ev = evaluate({"fact": "x.y", "op": op, "value": value}, facts(x__y=actual))
    assert ev.result is expected
    assert ev.leaves[0].present and ev.leaves[0].actual == actual


@pytest.mark.parametrize("op", [o for o in OPERATORS if o not in ("exists", "missing")])
def test_every_value_operator_is_unknown_on_a_missing_fact(op):
    value = ["a"] if op in ("in", "not_in") else "a"
    ev = evaluate({"fact": "x.y", "op": op, "value": value}, facts())
    assert ev.result is None
    assert ev.unknown_facts == ["x.y"]


def test_exists_and_missing_are_decided_by_absence():
    assert evaluate({"fact": "a.b", "op": "exists"}, facts()).result is False
    assert evaluate({"fact": "a.b", "op": "missing"}, facts()).result is True
    assert evaluate({"fact": "a.b", "op": "exists"}, facts(a__b=0)).result is True


@pytest.mark.parametrize(
    "tree,expected",
    [
        ({"all": [{"fact": "t.t", "op": "eq", "value": True}, {"fact": "u.u", "op": "eq", "value": 1}]}, None),
        ({"all": [{"fact": "f.f", "op": "eq", "value": True}, {"fact": "u.u", "op": "eq", "value": 1}]}, False),
        ({"any": [{"fact": "t.t", "op": "eq", "value": True}, {"fact": "u.u", "op": "eq", "value": 1}]}, True),
        ({"any": [{"fact": "f.f", "op": "eq", "value": True}, {"fact": "u.u", "op": "eq", "value": 1}]}, None),
        ({"not": {"fact": "u.u", "op": "eq", "value": 1}}, None),
        ({"not": {"fact": "f.f", "op": "eq", "value": True}}, True),
    ],
)
def test_kleene_logic(tree, expected):
    assert evaluate(tree, facts(t__t=True, f__f=False)).result is expected


def test_trace_records_each_leaf_with_actual_values():
    ev = evaluate({"all": [{"fact": "a.a", "op": "gt", "value": 1}, {"fact": "b.b", "op": "eq", "value": "x"}]},
                  facts(a__a=5))
    assert [(leaf.fact, leaf.actual, leaf.result) for leaf in ev.leaves] == [("a.a", 5, True), ("b.b", None, None)]
    assert ev.true_leaves == 1


@pytest.mark.parametrize(
    "tree,fragment",
    [
        ({"fact": "a.b", "op": "approx", "value": 1}, "unknown operator"),
        ({"fact": "a.b", "op": "in", "value": "x"}, "list value"),
        ({"fact": "a.b", "op": "exists", "value": 1}, "takes no value"),
        ({"fact": "a.b", "op": "eq"}, "needs a value"),
        ({"all": []}, "non-empty list"),
        ({"fact": "a.b", "op": "matches", "value": "(a+)+$"}, "catastrophic"),
        ({"fact": "a.b", "op": "matches", "value": "("}, "does not compile"),
        ({"fact": "a.b", "op": "matches", "value": "(a|aa)+$"}, "overlapping alternatives"),
        ({"fact": "zz.unknown", "op": "eq", "value": 1}, "not declared"),
    ],
)
def test_validate_rejects(tree, fragment):
    problems = validate(tree, known_fact=lambda k: k != "zz.unknown")
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize("pattern", [r"(?:foo|bar)+", r"(\w|\d)*x", r"sm_(\d+)", r"(?:ab|ac)+", r"[^\n]{0,300}"])
def test_validate_accepts_linear_patterns(pattern):
    assert validate({"fact": "a.b", "op": "matches", "value": pattern}) == []
