"""The user's Hub client environment: which transfer backend `huggingface_hub` would take and what in its
configuration is wrong (xet-transfer-dns.md §1.4, §2). Used by the transfer probe and, later, `hfdiag env`.

Nothing here imports `huggingface_hub`: versions come from distribution metadata, and `hf_xet` is imported
only inside `inspect()` (in a try), because an installed-but-unimportable hf_xet is itself a finding.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

TRUE_VALUES = ("1", "on", "yes", "true")
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
CA_VARS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE")
MAX_HTTP_DOWNLOAD_SIZE = 50 * 1000 ** 3  # huggingface_hub: the plain-HTTP path refuses larger files
LOW_FREE_BYTES = 1024 ** 3


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE_VALUES


def dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
    except Exception:  # a broken dist-info directory
        return None


def try_import(name: str) -> tuple[bool, str | None]:
    """(importable, error). Any exception counts: a wrong-architecture wheel raises ImportError or OSError."""
    import importlib

    try:
        importlib.import_module(name)
        return True, None
    except BaseException as e:  # noqa: BLE001 — SystemExit from a broken package is a finding too
        if isinstance(e, KeyboardInterrupt):
            raise
        return False, f"{type(e).__name__}: {e}"[:200]


def _major(version: str | None) -> int | None:
    try:
        return int((version or "").split(".")[0])
    except ValueError:
        return None


def cache_dir(environ: Mapping[str, str]) -> Path:
    """The huggingface_hub cache root (HF_HUB_CACHE > HF_HOME/hub > XDG_CACHE_HOME/huggingface/hub > ~/.cache)."""
    if environ.get("HF_HUB_CACHE"):
        return Path(environ["HF_HUB_CACHE"]).expanduser()
    if environ.get("HF_HOME"):
        return Path(environ["HF_HOME"]).expanduser() / "hub"
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or "~").expanduser() / ".cache")
    return Path(base) / "huggingface" / "hub"


def free_bytes(path: Path) -> int | None:
    """Free space of the file system that holds `path` (or its first existing parent)."""
    p = path
    for _ in range(64):
        if p.exists():
            try:
                return shutil.disk_usage(p).free
            except OSError:
                return None
        if p.parent == p:
            break
        p = p.parent
    return None


@dataclass
class ClientEnv:
    hub_version: str | None = None
    hf_xet_installed: bool = False
    hf_xet_version: str | None = None
    hf_xet_importable: bool | None = None
    hf_xet_import_error: str | None = None
    hf_transfer_installed: bool = False
    disable_xet: bool = False
    enable_hf_transfer: bool = False
    xet_vars: dict[str, str] = field(default_factory=dict)
    proxy_vars: list[str] = field(default_factory=list)
    ca_vars: list[str] = field(default_factory=list)
    endpoint: str | None = None
    cache_dir: str = ""
    cache_free_bytes: int | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)  # (code, one-line explanation)

    @property
    def xet_available(self) -> bool:
        """huggingface_hub's own test (`is_xet_available`): distribution metadata, not importability."""
        return self.hf_xet_installed and not self.disable_xet

    def backend_for(self, xet_headers: bool) -> str:
        return "xet" if xet_headers and self.xet_available else "http"

    def decision_inputs(self, xet_headers: bool) -> dict:
        return {
            "xet_headers_present": xet_headers,
            "hf_xet_installed": self.hf_xet_installed,
            "hf_xet_importable": self.hf_xet_importable,
            "HF_HUB_DISABLE_XET": self.disable_xet,
            "backend": self.backend_for(xet_headers),
        }

    def facts(self) -> dict:
        out = {
            "client.hf_xet_installed": self.hf_xet_installed,
            "client.disable_xet_env": self.disable_xet,
            "client.proxy_env": bool(self.proxy_vars),
            "client.ca_bundle_env": bool(self.ca_vars),
        }
        if self.hf_xet_importable is not None:
            out["client.hf_xet_importable"] = self.hf_xet_importable
        if self.hf_xet_version:
            out["client.hf_xet_version"] = self.hf_xet_version
        if self.hub_version:
            out["client.hub_version"] = self.hub_version
        if self.enable_hf_transfer:
            out["client.hf_transfer_ignored"] = (_major(self.hub_version) or 0) >= 1
        if self.cache_free_bytes is not None:
            out["client.cache_free_bytes"] = self.cache_free_bytes
        if self.problems:
            out["client.config_problem"] = self.problems[0][0]
            out["client.config_detail"] = self.problems[0][1]
        return out

    def to_dict(self) -> dict:
        return {
            "huggingface_hub": self.hub_version, "hf_xet": self.hf_xet_version,
            "hf_xet_importable": self.hf_xet_importable, "hf_xet_import_error": self.hf_xet_import_error,
            "hf_transfer": self.hf_transfer_installed, "HF_HUB_DISABLE_XET": self.disable_xet,
            "HF_HUB_ENABLE_HF_TRANSFER": self.enable_hf_transfer, "HF_XET_*": dict(self.xet_vars),
            "proxy_vars": list(self.proxy_vars), "ca_vars": list(self.ca_vars), "HF_ENDPOINT": self.endpoint,
            "cache_dir": self.cache_dir, "cache_free_bytes": self.cache_free_bytes,
            "problems": [{"code": c, "detail": d} for c, d in self.problems],
        }


def inspect(environ: Mapping[str, str] | None = None, *, importer: Callable[[str], tuple[bool, str | None]] = try_import,
            version_of: Callable[[str], str | None] = dist_version, import_xet: bool = True) -> ClientEnv:
    """Read the client environment. `environ` is the environment of the user's client (default os.environ)."""
    env = os.environ if environ is None else environ
    c = ClientEnv()
    c.hub_version = version_of("huggingface_hub")
    c.hf_xet_version = version_of("hf_xet") or version_of("hf-xet")
    c.hf_xet_installed = c.hf_xet_version is not None
    c.hf_transfer_installed = version_of("hf_transfer") is not None
    if c.hf_xet_installed and import_xet:
        c.hf_xet_importable, c.hf_xet_import_error = importer("hf_xet")
    c.disable_xet = is_true(env.get("HF_HUB_DISABLE_XET"))
    c.enable_hf_transfer = is_true(env.get("HF_HUB_ENABLE_HF_TRANSFER"))
    c.xet_vars = {k: v for k, v in sorted(env.items()) if k.startswith("HF_XET_")}
    c.proxy_vars = [k for k in PROXY_VARS if env.get(k)]
    c.ca_vars = [k for k in CA_VARS if env.get(k)]
    c.endpoint = env.get("HF_ENDPOINT")
    cdir = cache_dir(env)
    c.cache_dir = str(cdir)
    c.cache_free_bytes = free_bytes(cdir)
    c.problems = problems(c)
    return c


def problems(c: ClientEnv, file_size: int | None = None, xet_headers: bool | None = None) -> list[tuple[str, str]]:
    """What is wrong with this client configuration, most decisive first."""
    out: list[tuple[str, str]] = []
    if c.hf_xet_installed and c.hf_xet_importable is False and not c.disable_xet:
        out.append(("xet_unimportable",
                     f"hf_xet {c.hf_xet_version} is installed but cannot be imported ({c.hf_xet_import_error}); "
                     "huggingface_hub checks only the installed version, so it picks the Xet path and the "
                     "download fails. Reinstall hf_xet for this platform, or set HF_HUB_DISABLE_XET=1 before "
                     "Python starts"))
    if file_size is not None and file_size > MAX_HTTP_DOWNLOAD_SIZE and xet_headers is not None \
            and c.backend_for(xet_headers) == "http":
        why = "HF_HUB_DISABLE_XET=1 is set" if c.disable_xet else "hf_xet is not installed"
        out.append(("http_too_large",
                     f"the file is {file_size / 1000 ** 3:.1f} GB and {why}, so huggingface_hub takes the plain "
                     "HTTP path, which refuses files over 50 GB ('The file is too large to be downloaded using "
                     "the regular download method')"))
    if file_size is not None and c.cache_free_bytes is not None and c.cache_free_bytes < file_size:
        out.append(("cache_full",
                     f"the cache directory {c.cache_dir} has {c.cache_free_bytes / 1024 ** 3:.1f} GiB free, less "
                     f"than the file ({file_size / 1024 ** 3:.1f} GiB)"))
    elif file_size is None and c.cache_free_bytes is not None and c.cache_free_bytes < LOW_FREE_BYTES:
        out.append(("cache_full", f"the cache directory {c.cache_dir} has only "
                                  f"{c.cache_free_bytes / 1024 ** 2:.0f} MiB free"))
    if c.enable_hf_transfer and (_major(c.hub_version) or 0) >= 1:
        out.append(("hf_transfer_ignored",
                     f"HF_HUB_ENABLE_HF_TRANSFER is set, but huggingface_hub {c.hub_version} ignores it (hf_transfer "
                     "is not used since 1.0); use HF_XET_HIGH_PERFORMANCE=1 for faster Xet downloads"))
    return out
