"""The cue tier (engine/cues.py, rules/cues.yaml): loading and lint, the shorthand, how weighed cues become a
verdict, and `explain` on reports written in words other than any the cues were written from."""

import json
import re
import shutil

import pytest

from hfdiag.engine.cues import Cue, CueHit, CueSet, CueTally, decide, expand, load_cues
from hfdiag.engine.data import default_rules_dir
from hfdiag.engine.knowledge import load_knowledge
from tests.conftest import run_cli


def _cue(cid: str, bucket: str, weight: float, **kw) -> Cue:
    return Cue(id=cid, bucket=bucket, weight=weight, means=f"{bucket} cue", **kw)


def _tally(*weights: tuple[str, float]) -> CueTally:
    cues = [_cue(f"CUE-TST-{i:03d}", b, w) for i, (b, w) in enumerate(weights)]
    return CueSet(cues).tally([CueHit(c, "text:t", "…") for c in cues])


# -- how weighed cues decide --------------------------------------------------------------------------------
def test_a_clear_lead_decides_at_low_confidence():
    d = decide(_tally(("builder", 3), ("app", 1)))
    assert (d.bucket, d.confidence) == ("builder", "low")


def test_strong_support_twice_the_runner_up_is_medium_never_high():
    d = decide(_tally(("transfer", 3), ("transfer", 3), ("egress", 2)))
    assert (d.bucket, d.confidence) == ("transfer", "medium")


def test_a_tie_is_no_decision_and_names_both():
    d = decide(_tally(("proxy", 3), ("app", 3)))
    assert d.bucket is None
    assert [b for b, _ in d.top] == ["app", "proxy"]


def test_a_hint_below_the_threshold_is_no_decision():
    assert decide(_tally(("app", 1))).bucket is None
    assert decide(_tally()).bucket is None


def test_cues_against_a_bucket_lower_it():
    tally = _tally(("app", 3), ("app", -2), ("runtime", 2))
    assert tally.scores["app"] == 1
    assert decide(tally).bucket == "runtime"


def test_a_cue_counts_once_at_its_strongest_place():
    c = _cue("CUE-TST-001", "egress", 3)
    tally = CueSet([c]).tally([CueHit(c, "post:2", "a", 0.5), CueHit(c, "post:1", "b", 1.0), CueHit(c, "post:3", "c")])
    assert tally.scores == {"egress": 3}
    assert len(tally.hits) == 1 and tally.hits[0].source == "post:1"


def test_a_combination_cue_needs_its_partner():
    lone = _cue("CUE-TST-001", "zerogpu-settlement", 2, requires_any=["CUE-TST-002"])
    partner = _cue("CUE-TST-002", "zerogpu-quota", 1)
    cues = CueSet([lone, partner])
    assert cues.tally([CueHit(lone, "t", "x")]).scores == {}
    assert cues.tally([CueHit(lone, "t", "x"), CueHit(partner, "t", "y")]).scores == {
        "zerogpu-settlement": 2, "zerogpu-quota": 1}


def test_a_cue_can_speak_against_other_buckets_with_the_same_words():
    outside_quota = _cue("CUE-TST-001", "app", 4, against={"proxy": 3, "zerogpu-quota": 3})
    edge_429 = _cue("CUE-TST-002", "proxy", 2)
    tally = CueSet([outside_quota, edge_429]).tally([CueHit(outside_quota, "t", "x"), CueHit(edge_429, "t", "y")])
    assert tally.scores == {"app": 4, "proxy": -1, "zerogpu-quota": -3}
    assert decide(tally).bucket == "app"
    assert CueHit(outside_quota, "t", "x", 0.5).to_dict()["against"] == {"proxy": 1.5, "zerogpu-quota": 1.5}


# -- the pattern shorthand and the scanner ----------------------------------------------------------------
def test_an_escaped_tilde_is_a_character_not_a_gap():
    import re

    rx = re.compile(expand(r"\bat \~?60 ?s\b ~ \btimeout"), re.I)
    assert rx.search("dies at ~60s with a timeout")
    assert not rx.search("dies at whatever 60s with a timeout")


def test_gap_shorthand_allows_words_in_between_on_one_line_only():
    import re

    rx = re.compile(expand(r"\bstuck ~ \bbuild"), re.I)
    assert rx.search("stuck for three hours on the build page")
    assert not rx.search("stuck\nbuild")
    assert not rx.search("stuck " + "x" * 80 + " build")


def test_english_terms_inside_other_languages_still_fire():
    kb = load_knowledge()
    for text in ("我的 space 一直 stuck 在 building 状态", "Mi Space está stuck en building desde ayer",
                 "下载一直卡住, xet storage 报错"):
        assert kb.signatures.scan_text(text).cue_hits, text


def test_a_cue_match_records_the_words_around_it():
    kb = load_knowledge()
    line = "x " * 300 + "then the download stalls at 0% forever" + " y" * 300
    hits = kb.signatures.scan_text(line).cue_hits
    excerpt = hits["CUE-XFR-002"]
    assert "download stalls" in excerpt and len(excerpt) < 200 and excerpt.startswith("…")


# -- loading and lint -------------------------------------------------------------------------------------
def _rules_copy(tmp_path, cues_yaml: str):
    d = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), d)
    (d / "cues.yaml").write_text(cues_yaml, encoding="utf-8")
    return d


@pytest.mark.parametrize("entry,problem", [
    ("{id: CUE-X-001, bucket: app, weight: 2, means: m, keywords: [abc], pattern: abc, tests: [{text: abc, expect: match}]}",
     "id must look like"),
    ("{id: CUE-APP-901, bucket: nowhere, weight: 2, means: m, keywords: [abc], pattern: abc, tests: [{text: abc, expect: match}]}",
     "bucket must be one of"),
    ("{id: CUE-APP-901, bucket: app, weight: 9, means: m, keywords: [abc], pattern: abc, tests: [{text: abc, expect: match}]}",
     "weight must be"),
    ("{id: CUE-APP-901, bucket: app, weight: 2, means: m, pattern: abc, tests: [{text: abc, expect: match}]}",
     "needs 'keywords'"),
    ("{id: CUE-APP-901, bucket: app, weight: 2, means: m, keywords: [aaa], pattern: '(a+)+$', tests: [{text: aaa, expect: match}]}",
     "nested"),
    ("{id: CUE-APP-901, bucket: app, weight: 2, means: m, keywords: [abc], pattern: abc}",
     "needs inline tests"),
    ("{id: CUE-APP-901, bucket: app, weight: 2, means: m, keywords: [abc], pattern: abc, requires_any: [CUE-APP-999], tests: [{text: abc, expect: match}]}",
     "unknown cue"),
    ("{id: CUE-APP-901, bucket: app, weight: 2, means: m, when: {fact: no.such.fact, op: eq, value: 1}}",
     "no.such.fact"),
    ("{id: CUE-APP-901, bucket: app, weight: 2, means: m, keywords: [abc], pattern: '(?:about|~) abc', tests: [{text: abc, expect: match}]}",
     "write `\\~` for a tilde"),
    ("{id: CUE-APP-901, bucket: app, weight: 2, means: m, keywords: [abc], pattern: abc, against: {app: 2}, tests: [{text: abc, expect: match}]}",
     "against must map other buckets"),
])
def test_lint_names_each_problem(tmp_path, entry, problem):
    d = _rules_copy(tmp_path, f"cues:\n  - {entry}\n")
    _, problems = load_cues(d / "cues.yaml", load_knowledge().catalog.known, strict=False)
    assert any(problem in p for p in problems), problems
    proc = run_cli("rules", "lint", "--rules-dir", str(d))
    assert proc.returncode != 0 and problem in proc.stdout + proc.stderr


def test_a_cue_test_that_fails_is_reported_by_rules_test(tmp_path):
    d = _rules_copy(tmp_path, "cues:\n  - {id: CUE-APP-901, bucket: app, weight: 2, means: m, keywords: [abc],"
                              " pattern: 'abc', tests: [{text: xyz, expect: match}]}\n")
    proc = run_cli("rules", "test", "--rules-dir", str(d))
    assert proc.returncode == 1 and "CUE-APP-901: does not match 'xyz'" in proc.stderr


# -- explain on reports the cues were not written from ----------------------------------------------------
# Written for this test in words of their own; no rule's exact message is in them.
PARAPHRASES = [
    ("builder", "Our Space sits on Building since yesterday evening, the logs tab shows nothing at all."),
    ("builder", "The Space was flagged and now it's paused; we did not pause it."),
    ("proxy", "Long generations get cut off after about 60 seconds with a gateway timeout, short ones are fine."),
    ("zerogpu-settlement", "On the ZeroGPU demo my credits keep being consumed although every run fails with an error."),
    ("zerogpu-identity", "Calling the ZeroGPU space from my backend with gradio_client burns through the quota"
                         " as if nobody were logged in."),
    ("zerogpu-quota", "After a few generations the space told me I'm out of daily GPU quota, retry in 0:12:00."),
    ("transfer", "huggingface-cli download froze at 0% for a 20 GB safetensors file, no error, just sits there."),
    ("egress", "From inside the Space every call to our Telegram bot ends in a connect timeout; locally fine."),
    ("runtime", "On the B200 box the kernels are missing: no kernel image is available for the device."),
    ("app", 'Traceback (most recent call last):\n  File "/home/user/app/app.py", line 40, in <module>\n'
            "    key = os.environ['OPENAI_API_KEY']\nKeyError: 'OPENAI_API_KEY'"),
]


@pytest.mark.parametrize("want,text", PARAPHRASES, ids=[f"{w}-{i}" for i, (w, _) in enumerate(PARAPHRASES)])
def test_paraphrased_reports_reach_their_boundary(want, text, validate_report):
    report = validate_report(json.loads(run_cli("explain", "-", "--format", "json", input=text + "\n").stdout))
    v = report["verdict"]
    assert v["bucket"] == want, (v, report.get("cues"))
    if v["basis"] == "cues":
        assert v["confidence"] in ("low", "medium") and v["raise_confidence"]
        assert any(h["bucket"] == want and h["direction"] == "for" for h in report["cues"]["hits"])


def test_a_tie_is_inconclusive_and_names_both_candidates_and_what_separates_them(validate_report):
    text = "The space shows a 502 Bad Gateway right after I added X-Frame-Options headers in my app.\n"
    report = validate_report(json.loads(run_cli("explain", "-", "--format", "json", input=text).stdout))
    v = report["verdict"]
    assert v["bucket"] == "inconclusive" and v["basis"] == "cues"
    assert {c["bucket"] for c in v["candidates"][:2]} == {"proxy", "app"}
    assert "proxy" in v["summary"] and "app" in v["summary"] and "separate" in v["summary"]
    assert len(v["raise_confidence"]) >= 2


def test_text_that_names_no_boundary_stays_inconclusive():
    report = json.loads(run_cli("explain", "-", "--format", "json", input="please help, thanks\n").stdout)
    assert report["verdict"]["bucket"] == "inconclusive" and report["verdict"]["basis"] == "none"


def test_works_locally_alone_never_blames_the_platform():
    report = json.loads(run_cli("explain", "-", "--format", "json",
                                input="It runs locally on my machine but not on Spaces.\n").stdout)
    assert report["verdict"]["bucket"] == "inconclusive"


def test_a_cue_verdict_fails_the_run_like_a_finding():
    text = "huggingface-cli download hangs at 0% on a big file\n"
    assert run_cli("explain", "-", input=text).returncode == 1
    assert run_cli("explain", "-", "--fail-on", "egress", input=text).returncode == 0


def test_cue_excerpts_are_redacted():
    token = "hf_" + "aB3dE5gH7jK9mN1pQ3sT5vX7zA"
    text = f"the download is stuck at 0% with HF_TOKEN={token} set\n"
    for fmt in ("json", "human", "markdown"):
        out = run_cli("explain", "-", "--format", fmt, input=text).stdout
        # each excerpt that quotes the token counts once (two cues may quote the same line)
        assert token not in out and re.search(r"redacted: \d+ hf tokens?", out)


def test_a_live_check_bundle_is_decided_by_its_rules_not_by_cues(tmp_path):
    """Replaying a bundle whose inputs hold no text keeps the check's verdict basis (the cue tier is off)."""
    out = tmp_path / "b.json"
    run_cli("check", "--sim", "healthy-gradio", "simuser/healthy", "--bundle", str(out), "--format", "json")
    report = json.loads(run_cli("explain", str(out), "--format", "json").stdout)
    assert report["verdict"]["basis"] == "rules" and "cues" not in report


def test_a_weak_platform_rule_gives_way_to_the_text_as_a_whole(validate_report):
    # The launch-timeout line alone makes HFD-BLD-002 (builder, medium); the rest of the text says the app loads a
    # model too large for its hardware and is killed in a loop. Stronger evidence decides, and the verdict says so.
    text = ("Launch timed out, space was not healthy after 30 min\n"
            "It loads an 8B model in float32 on cpu-basic and the container keeps restarting in a loop.\n")
    report = validate_report(json.loads(run_cli("explain", "-", "--format", "json", input=text).stdout))
    v = report["verdict"]
    assert (v["bucket"], v["confidence"], v["basis"]) == ("app", "low", "cues")
    assert "HFD-BLD-002" in v["summary"]
    assert any(f["id"] == "HFD-BLD-002" and f["status"] == "match" for f in report["findings"])


def test_platform_cues_never_outweigh_an_app_rule_nor_a_zerogpu_rule_by_quota_words():
    from hfdiag.engine.verdict import Verdict, _outweighed

    strong_transfer = _tally(("transfer", 4), ("transfer", 4))
    assert _outweighed(Verdict("builder", "medium", "suspicious", "HFD-BLD-002", "s"), strong_transfer)
    assert not _outweighed(Verdict("builder", "high", "explained", "HFD-BLD-001", "s"), strong_transfer)
    assert not _outweighed(Verdict("app", "medium", "explained", "HFD-APP-024", "s"), strong_transfer)
    quota_words = _tally(("zerogpu-quota", 4), ("zerogpu-quota", 3))
    assert not _outweighed(Verdict("zerogpu-identity", "medium", "suspicious", "HFD-ZGI-006", "s"), quota_words)


def test_the_trusted_load_of_the_built_in_cues_equals_the_checked_one():
    # The built-in cues load without the per-cue checks (start-up); the result must be what the checks build.
    kb = load_knowledge()
    path, known = kb.dir / "cues.yaml", kb.catalog.known
    checked, problems = load_cues(path, known, strict=False)
    trusted, _ = load_cues(path, known, trusted=True)
    assert not problems and checked.cues == trusted.cues and len(trusted.text_cues) > 50
