"""`hfdiag explain URL` for the three places reports live, through the real CLI against the simulator over HTTP:
a Hub discussion (--endpoint), a Discourse topic (JSON with post_stream paging, and /raw) and a GitHub issue
(GITHUB_API_URL, comments paged by Link headers). Tokens go only where they belong; thread text is redacted."""

import json

import pytest
from conftest import cli_env, run_cli

from hfdiag.sim import Simulator

GITHUB_TOKEN = "ghp_simGithubToken0123456789abcdef"


@pytest.fixture(scope="module")
def sim():
    with Simulator("community") as s:
        yield s


def env_for(sim, **extra):
    return cli_env(GITHUB_API_URL=sim.urls["github"], GITHUB_TOKEN=GITHUB_TOKEN, HF_TOKEN=sim.tokens["owner"], **extra)


def explain_json(sim, url, *args):
    proc = run_cli("explain", url, "--endpoint", sim.endpoint, "--format", "json", *args, env=env_for(sim))
    assert proc.stdout, proc.stderr
    return proc, json.loads(proc.stdout)


def thread_probe(report):
    return next(p for p in report["probes"] if p["probe"] == "thread")


def sources(report):
    return {f["key"]: f["source"] for f in report["facts"]}


def test_hub_discussion_maintainer_reply_is_evidence_and_cited(sim, validate_report):
    url = f"{sim.endpoint}/spaces/simuser/busy-space/discussions/26"
    proc, report = explain_json(sim, url)
    validate_report(report)
    assert report["target"] == url and report["mode"] == "explain"
    assert report["verdict"]["bucket"] == "app"
    assert sources(report)["app.exception_class"].endswith("@text:post:3 (maintainer)")
    probe = thread_probe(report)
    assert probe["detail"]["title"] == "Red error box" and probe["detail"]["posts"] == 3
    assert any(e.startswith("post:3 (maintainer): KeyError") for e in probe["excerpts"])
    assert proc.returncode == 1  # a finding at/above --fail-on any, as for pasted text


def test_a_reply_from_another_user_is_context_with_lower_confidence(sim):
    _, report = explain_json(sim, f"{sim.endpoint}/spaces/simuser/busy-space/discussions/45")
    assert report["verdict"]["bucket"] == "zerogpu-quota"
    assert report["verdict"]["confidence"] != "high"  # the report itself says nothing; a reply supplied it
    assert all(s.endswith("@text:post:2") for s in sources(report).values() if s.startswith("signature:"))


def test_discourse_topic_reads_posts_beyond_the_first_chunk(sim):
    url = f"{sim.urls['forum']}/t/space-shows-runtime-error-after-restart/170242"
    _, report = explain_json(sim, url)
    assert report["verdict"]["bucket"] == "app"
    probe = thread_probe(report)
    assert probe["detail"]["posts"] == 26 and probe["detail"]["kind"] == "discourse"
    assert any(e.startswith("post:26 (maintainer):") for e in probe["excerpts"])  # staff reply, second chunk
    assert any(e.startswith("post:1: ModuleNotFoundError: No module named 'spaces'") for e in probe["excerpts"])
    assert sim.requests.find(role="forum", path_contains="/t/170242/posts.json")
    assert not any(r.has_authorization for r in sim.requests.find(role="forum"))


def test_discourse_raw_text(sim):
    _, report = explain_json(sim, f"{sim.urls['forum']}/raw/170242")
    assert report["verdict"]["bucket"] == "app"
    assert report["verdict"]["rule"] == "HFD-APP-001"
    assert thread_probe(report)["detail"]["posts"] == 26


def test_github_issue_pages_comments_and_keeps_each_token_at_its_service(sim):
    sim.requests.clear()
    hub_url = f"{sim.endpoint}/spaces/simuser/busy-space/discussions/2"
    proc = run_cli("explain", "https://github.com/simorg/demo-app/issues/7", hub_url, "--endpoint", sim.endpoint,
                   "--format", "json", env=env_for(sim))
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert first["verdict"]["bucket"] == second["verdict"]["bucket"] == "zerogpu-quota"
    probe = thread_probe(first)
    assert probe["detail"]["posts"] == 103 and probe["detail"]["url"] == "https://github.com/simorg/demo-app/issues/7"
    assert any(e.startswith("post:103 (maintainer):") for e in probe["excerpts"])  # page 2 of the comments
    github = sim.requests.find(role="github")
    assert any("page=2" in r.query for r in github)
    assert github and all(r.has_authorization and r.auth == "invalid" for r in github)  # GITHUB_TOKEN, not HF's
    assert all(r.auth == "owner" for r in sim.requests.find(role="hub"))
    assert GITHUB_TOKEN not in proc.stdout + proc.stderr and sim.tokens["owner"] not in proc.stdout + proc.stderr


def test_a_secret_inside_a_thread_is_redacted(sim):
    url = f"{sim.endpoint}/spaces/simuser/busy-space/discussions/14"  # a curl line with a Bearer token
    for fmt in ("json", "markdown", "human"):
        proc = run_cli("explain", url, "--endpoint", sim.endpoint, "--format", fmt, env=env_for(sim))
        assert "hf_simLeakedToken" not in proc.stdout + proc.stderr
    report = json.loads(run_cli("explain", url, "--endpoint", sim.endpoint, "--format", "json",
                                env=env_for(sim)).stdout)
    assert any("502 Bad Gateway" in e for e in thread_probe(report)["excerpts"])  # the line itself is kept
    assert report["redaction"]["counts"]


@pytest.mark.parametrize("path,fragment", [
    ("/spaces/simuser/busy-space/discussions/999", "answered 404"),
    ("/spaces/simuser/no-such-space/discussions/1", "answered 40"),
])
def test_missing_threads_give_one_line_and_exit_2(sim, path, fragment):
    proc = run_cli("explain", sim.endpoint + path, "--endpoint", sim.endpoint, env=env_for(sim))
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1 and fragment in proc.stderr


def test_an_unknown_url_kind_is_a_usage_error():
    proc = run_cli("explain", "https://example.org/some/page", env=cli_env())
    assert proc.returncode == 2 and "not a Hub discussion" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_a_dead_forum_is_one_line_not_a_traceback(sim):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    proc = run_cli("explain", f"http://127.0.0.1:{port}/t/topic/1", env=cli_env())
    assert proc.returncode == 2 and "cannot read topic 1" in proc.stderr and "Traceback" not in proc.stderr


def test_a_huggingface_co_url_is_read_from_the_endpoint(sim):
    sim.requests.clear()
    _, report = explain_json(sim, "https://huggingface.co/spaces/simuser/busy-space/discussions/3")
    assert report["verdict"]["bucket"] == "app"
    assert sim.requests.find(role="hub", path_contains="/api/spaces/simuser/busy-space/discussions/3")


def test_help_shows_urls_and_triage():
    assert "GitHub issue" in run_cli("explain", "--help").stdout
    assert "triage" in run_cli("--help").stdout


FAULTS = [("hub:/api/spaces/*/discussions/*", "huge_json", "larger than"),
          ("hub:/api/spaces/*/discussions/*", "malformed_json", "malformed JSON"),
          ("forum:/t/*", "redirect_foreign", "redirected to another host"),
          ("forum:/t/*", "gzip_bomb", "larger than"),
          ("github:/repos/*/comments", "redirect_loop", "redirect loop"),
          ("github:/repos/*/comments", "close_mid_body", "cannot read the comments")]


@pytest.mark.parametrize("selector,fault,fragment", FAULTS)
def test_hostile_services_give_one_redacted_line(selector, fault, fragment):
    with Simulator("community", overrides={"faults": {selector: fault}}) as s:
        role = selector.split(":")[0]
        url = {"hub": f"{s.endpoint}/spaces/simuser/busy-space/discussions/3",
               "forum": f"{s.urls['forum']}/t/topic/170242",
               "github": "https://github.com/simorg/demo-app/issues/7"}[role]
        proc = run_cli("explain", url, "--endpoint", s.endpoint, "--format", "json", env=env_for(s), timeout=60)
        assert proc.returncode == 2 and proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1 and fragment in proc.stderr, proc.stderr
        assert s.tokens["owner"] not in proc.stderr and GITHUB_TOKEN not in proc.stderr
        if fault == "redirect_foreign":
            assert not any(r.has_authorization for r in s.requests.find(role="foreign"))
