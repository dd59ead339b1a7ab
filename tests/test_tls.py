"""hfdiag/tls.py builds the context httpx would build by default (the same CA store and verification settings),
once per process, also when prepared in a thread."""

from __future__ import annotations

import ssl
import threading

import certifi
import httpx
import pytest

from hfdiag import tls


def _same(ours: ssl.SSLContext, theirs: ssl.SSLContext) -> None:
    assert ours.verify_mode == theirs.verify_mode == ssl.CERT_REQUIRED
    assert ours.check_hostname is theirs.check_hostname is True
    assert ours.minimum_version == theirs.minimum_version and ours.options == theirs.options
    assert ours.cert_store_stats() == theirs.cert_store_stats()
    assert ours.get_ca_certs() == theirs.get_ca_certs()


@pytest.mark.parametrize("trust_env", [True, False])
@pytest.mark.parametrize("variables", [{}, {"SSL_CERT_FILE": "bundle"}, {"SSL_CERT_DIR": "dir"}])
def test_builds_httpx_default_context(monkeypatch, tmp_path, trust_env, variables):
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    if "SSL_CERT_FILE" in variables:
        bundle = tmp_path / "bundle.pem"  # a store other than certifi's, so a wrong choice shows
        bundle.write_text(certifi.contents().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    if "SSL_CERT_DIR" in variables:
        monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    _same(tls.build(trust_env), httpx.create_ssl_context(trust_env=trust_env))


def test_one_context_per_process_also_when_prepared_in_a_thread(monkeypatch):
    monkeypatch.setattr(tls, "_contexts", {})
    tls.prepare(False)
    tls.prepare(False)  # a no-op: it is being built
    contexts = []
    readers = [threading.Thread(target=lambda: contexts.append(tls.context(False))) for _ in range(4)]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    assert len({id(c) for c in contexts}) == 1 and tls.context(False) is contexts[0]
    assert tls.context(True) is not contexts[0]  # trust_env has its own (SSL_CERT_FILE may apply)
