"""The verifying SSL context of the HTTP client: one per process (and per trust_env), built like httpx's default
(`httpx.create_ssl_context`: SSL_CERT_FILE, else SSL_CERT_DIR when the environment is trusted, else certifi's
bundle). Loading the CA store takes 10-60 ms, in OpenSSL, without the GIL: `prepare()` starts it in a thread
before the imports and set-up that come ahead of the first request, so it costs no wall time there, and a scan of
hundreds of Spaces shares one context instead of paying per client. Light to import: no httpx."""

from __future__ import annotations

import concurrent.futures
import os
import threading

_contexts: dict[bool, concurrent.futures.Future] = {}
_lock = threading.Lock()


def build(trust_env: bool):
    """A new context, as httpx.create_ssl_context(verify=True, trust_env=trust_env) makes it."""
    import ssl

    if trust_env and os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if trust_env and os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _future(trust_env: bool) -> tuple[concurrent.futures.Future, bool]:
    with _lock:
        if trust_env in _contexts:
            return _contexts[trust_env], False
        _contexts[trust_env] = future = concurrent.futures.Future()
        return future, True


def _fill(future: concurrent.futures.Future, trust_env: bool) -> None:
    try:
        future.set_result(build(trust_env))
    except BaseException as e:  # noqa: BLE001 - raised again by context() to whoever needs the context
        future.set_exception(e)


def prepare(trust_env: bool) -> None:
    """Start building the context in a thread, unless it is built or being built."""
    future, mine = _future(trust_env)
    if mine:
        threading.Thread(target=_fill, args=(future, trust_env), name="hfdiag-tls", daemon=True).start()


def context(trust_env: bool):
    """The process's context: the prepared one (waiting for it if need be), else built now."""
    future, mine = _future(trust_env)
    if mine:
        _fill(future, trust_env)
    return future.result()
