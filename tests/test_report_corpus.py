"""The report corpus written apart from the rules (fixtures/reports): accuracy floors, app discipline, and few
inconclusive answers. In-process, through the same path as `hfdiag explain -` (docs/accuracy.md has the figures)."""

import io
from pathlib import Path

import pytest
import yaml

from hfdiag.engine.data import PLATFORM_BUCKETS
from hfdiag.engine.knowledge import load_knowledge
from hfdiag.explain import explain_one, parse_fact_args, read_input

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "reports"
FACT_KEYS = {"runtime_stage": "space.stage", "hardware": "space.hardware", "http_status": "route.status",
             "build_log_lines": "build_log.lines", "request_reached_app": "route.reached_app"}


def classify(case: dict) -> str:
    kb = load_knowledge()
    facts = [f"{FACT_KEYS[k]}={str(v).lower() if isinstance(v, bool) else v}"
             for k, v in (case.get("facts") or {}).items() if k in FACT_KEYS and v is not None]
    stdin = io.TextIOWrapper(io.BytesIO(case["symptom_text"].encode()), encoding="utf-8")
    inp = read_input("-", kb, stdin=stdin)
    return explain_one(inp, kb, parse_fact_args(facts, kb)).verdict.bucket


@pytest.fixture(scope="module")
def results() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted(CORPUS.glob("*.yaml")):
        case = yaml.safe_load(path.read_text(encoding="utf-8"))
        out.append((path.stem, case["label"], classify(case)))
    assert len(out) == 90
    return out


def test_accuracy_floor(results):
    wrong = [r for r in results if r[1] != r[2]]
    assert len(wrong) <= 9, wrong  # >= 90 %


def test_no_app_report_is_blamed_on_the_platform(results):
    assert not [r for r in results if r[1] == "app" and r[2] in PLATFORM_BUCKETS]


def test_few_inconclusive(results):
    assert sum(1 for r in results if r[2] == "inconclusive") <= 5  # <= 5 %


def test_every_bucket_is_reached(results):
    per = {b: sum(1 for _, want, got in results if want == b == got) for b in {r[1] for r in results}}
    assert min(per.values()) >= 7, per
