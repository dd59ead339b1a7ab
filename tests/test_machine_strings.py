"""Real machine output (error strings, log lines) that the shared cases do not contain: each must land in its
boundary — or stay inconclusive where the text alone cannot tell (never a wrong bucket)."""

import json

import pytest
from conftest import run_cli

CASES = [
    ("app", "OSError: [Errno 28] No space left on device: '/home/user/.cache/huggingface/hub/models--x'"),
    ("app", "ImportError: cannot import name 'cached_download' from 'huggingface_hub' "
            "(/usr/local/lib/python3.10/site-packages/huggingface_hub/__init__.py)"),
    ("app", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity "
            "of 44.39 GiB of which 1.2 GiB is free."),
    ("app", "ERROR: Could not find a version that satisfies the requirement torch==2.0.0+cu118 (from versions: "
            "2.2.0, 2.2.1)\nERROR: No matching distribution found for torch==2.0.0+cu118"),
    ("builder", "Launch timed out, workload was not healthy after 30 min"),
    ("zerogpu-quota", "You have exceeded your GPU quota (120s requested vs. 87s left). Try again in 0:04:12."),
    ("transfer", "RuntimeError: Data processing error: CAS service error : Reqwest Error: HTTP status client error "
                 "(403 Forbidden), domain: https://transfer.xethub.hf.co/xorbs/default/abc"),
    ("runtime", "RuntimeError: FlashAttention only supports Ampere GPUs or newer."),
    ("runtime", "ZeroGPU worker error\nRuntimeError"),
    ("inconclusive", "503 Service Unavailable"),
    # A DNS failure names the outbound boundary, but not where it ran: egress from the text cues alone, never
    # with high confidence (a rule needs evidence of running inside a Space for that).
    ("egress", "aiohttp.client_exceptions.ClientConnectorError: Cannot connect to host gateway.discord.gg:443 "
               "ssl:default [Temporary failure in name resolution]"),
]


@pytest.mark.parametrize("want,text", CASES, ids=[f"{w}-{i}" for i, (w, _) in enumerate(CASES)])
def test_machine_string(want, text):
    report = json.loads(run_cli("explain", "-", "--format", "json", input=text + "\n").stdout)
    assert report["verdict"]["bucket"] == want, report["verdict"]
    if report["verdict"]["basis"] == "cues":  # text alone never gives a high-confidence verdict
        assert report["verdict"]["confidence"] in ("low", "medium")


def test_dns_failure_inside_a_space_is_egress_and_names_the_host():
    text = CASES[-1][1] + "\n"
    report = json.loads(run_cli("explain", "-", "--format", "json", "--fact", "egress.in_space=true", input=text).stdout)
    assert report["verdict"]["bucket"] == "egress"
    assert "gateway.discord.gg" in report["verdict"]["summary"]
