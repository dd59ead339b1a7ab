"""Secrets placed in the input never reach any output format; the report says what was redacted."""

import json

import pytest
from conftest import cli_env, run_cli

from hfdiag.redact import Redactor

TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJlLXBhcnQtaGVyZQ"
SIGNED = ("https://cas-bridge.xethub.hf.co/xet-bridge-us/abc/0123?X-Amz-Algorithm=AWS4-HMAC-SHA256"
          "&X-Amz-Signature=deadbeefcafe&Expires=1999999999&Key-Pair-Id=K2ABCDEF")
SIGNED_QUERY = "X-Amz-Signature=deadbeefcafe"
EMAIL = "jane.doe+spaces@example.org"
COOKIE_VALUE = "token=s3cr3tc00kie"
SECRETS = [TOKEN, JWT, SIGNED_QUERY, EMAIL, COOKIE_VALUE, "deadbeefcafe"]

# Each secret sits on a line that a signature captures verbatim, so redaction (not luck) keeps it out.
TEXT = "\n".join([
    f"Scheduling failure: not enough hardware capacity (caller {EMAIL}, Authorization: Bearer {TOKEN})",
    f"ModuleNotFoundError: No module named 'torch' x-ip-token={JWT}",
    f"Downloading from {SIGNED}",
    f"Cookie: {COOKIE_VALUE}",
    "",
])


@pytest.mark.parametrize("fmt,flavor", [("human", None), ("json", None), ("markdown", "github"),
                                        ("markdown", "discourse"), ("github", None)])
def test_no_secret_in_any_format(tmp_path, fmt, flavor):
    summary = tmp_path / "summary.md"
    args = ["explain", "-", "--format", fmt] + (["--markdown-flavor", flavor] if flavor else [])
    proc = run_cli(*args, input=TEXT, env=cli_env(GITHUB_STEP_SUMMARY=str(summary)))
    assert proc.returncode in (0, 1, 3), proc.stderr
    outputs = proc.stdout + proc.stderr + (summary.read_text() if summary.exists() else "")
    assert proc.stdout.strip()
    for secret in SECRETS:
        assert secret not in outputs, f"{secret!r} leaked in {fmt}"
    assert "REDACTED" in outputs


def test_json_report_counts_what_was_redacted():
    proc = run_cli("explain", "-", "--format", "json", input=TEXT)
    report = json.loads(proc.stdout)
    counts = report["redaction"]["counts"]
    assert counts.get("hf_token", 0) + counts.get("authorization", 0) >= 1
    assert counts.get("email", 0) >= 1
    assert report["redaction"]["summary"].startswith("redacted:")


def test_declared_secret_is_redacted_whatever_its_shape():
    r = Redactor(["plainpassword42"])
    assert r.text("login with plainpassword42 now") == "login with [REDACTED:secret] now"


def test_nonce_query_is_kept_but_signed_query_is_dropped():
    r = Redactor()
    assert r.text("GET https://a-b.hf.space/?hfdiag_nonce=0123456789ab") == "GET https://a-b.hf.space/?hfdiag_nonce=0123456789ab"
    assert "Signature" not in r.text(SIGNED)
    assert r.text(SIGNED).startswith("https://cas-bridge.xethub.hf.co/xet-bridge-us/abc/0123?[REDACTED")


def test_error_messages_are_redacted_too(tmp_path):
    missing = tmp_path / f"{TOKEN}.log"
    proc = run_cli("explain", str(missing))
    assert proc.returncode == 2
    assert TOKEN not in proc.stderr and "no such file" in proc.stderr
