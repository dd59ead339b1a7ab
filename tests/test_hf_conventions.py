"""Hugging Face's own switches mean the same in hfdiag as in huggingface_hub: HF_HUB_OFFLINE (no request to
the Hub: `check` and `scan` refuse, `explain` works), HF_HUB_DISABLE_IMPLICIT_TOKEN (only an explicit --token
is sent), and `env` shows the token path as `hf env` does."""

from __future__ import annotations

import json
import socket

import pytest
from conftest import cli_env, run_cli

from hfdiag.auth import hub_offline
from hfdiag.sim import Simulator
from tests.ci.conftest import sim_args


@pytest.fixture()
def no_way_out():
    """If a refusal failed, requests would go to a closed loopback proxy and DNS to a silent loopback socket:
    nothing leaves the machine either way."""
    dead_proxy = socket.socket()
    dead_proxy.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    silent_dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent_dns.bind(("127.0.0.1", 0))
    proxy = f"http://127.0.0.1:{dead_proxy.getsockname()[1]}"
    yield {"env": {"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "ALL_PROXY": proxy},
           "dns": f"127.0.0.1:{silent_dns.getsockname()[1]}"}
    dead_proxy.close()
    silent_dns.close()


@pytest.mark.parametrize("var", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_offline_mode_refuses_a_live_check_and_scan(var, no_way_out):
    env = cli_env(**no_way_out["env"], **{var: "1"})
    p = run_cli("check", "owner/space", "--dns-server", no_way_out["dns"], "--timeout", "5", env=env)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith(f"hfdiag: error: {var} is set: `hfdiag check` would contact the Hub")
    assert len(p.stderr.splitlines()) == 1
    p = run_cli("scan", "-", "--dns-server", no_way_out["dns"], input="owner/space\n", env=env)
    assert p.returncode == 2 and f"{var} is set: `hfdiag scan`" in p.stderr


def test_offline_mode_leaves_explain_and_the_simulator_alone():
    env = cli_env(HF_HUB_OFFLINE="1")
    p = run_cli("explain", "-", "--format", "json", input="ModuleNotFoundError: No module named 'flash_attn'\n",
                env=env)
    assert p.returncode == 1 and json.loads(p.stdout)["verdict"]["bucket"] == "app"
    p = run_cli("check", "--sim", "healthy-gradio", "-q", "--format", "json", env=env)
    assert p.returncode == 0 and json.loads(p.stdout)["verdict"]["bucket"] == "healthy"


def test_offline_flag_values_follow_huggingface_hub():
    for value in ("1", "ON", "yes", "True"):
        assert hub_offline({"HF_HUB_OFFLINE": value})
    for value in ("", "0", "off", "no", "false"):
        assert not hub_offline({"HF_HUB_OFFLINE": value})


@pytest.fixture(scope="module")
def healthy_sim():
    with Simulator("healthy-gradio") as sim:
        yield sim


def _auth_facts(p) -> dict:
    report = json.loads(p.stdout)
    return {f["key"]: f["value"] for f in report["facts"] if f["key"].startswith("auth.token")}


def test_disable_implicit_token_sends_only_an_explicit_one(healthy_sim):
    token = healthy_sim.tokens["owner"]
    args = ["check", healthy_sim.space_ids[0], *sim_args(healthy_sim), "--format", "json", "-q", "--fail-on", "none"]
    implicit = run_cli(*args, env=cli_env(HF_TOKEN=token, HF_HUB_DISABLE_IMPLICIT_TOKEN="1"))
    assert _auth_facts(implicit) == {"auth.token_present": False, "auth.token_source": "HF_HUB_DISABLE_IMPLICIT_TOKEN"}
    explicit = run_cli(*args, "--token", token, env=cli_env(HF_HUB_DISABLE_IMPLICIT_TOKEN="1"))
    assert _auth_facts(explicit)["auth.token_present"] is True
    default = run_cli(*args, env=cli_env(HF_TOKEN=token))
    assert _auth_facts(default) | {"auth.token_valid": True} == {"auth.token_present": True,
                                                                 "auth.token_source": "HF_TOKEN", "auth.token_valid": True}


def test_env_shows_the_token_path_like_hf_env(tmp_path):
    path = tmp_path / "my-token"
    p = run_cli("env", "--offline", env=cli_env(HF_TOKEN_PATH=str(path)))
    assert f"token path                   {path} (no saved token)" in p.stdout
    path.write_text("hf_" + "a" * 34 + "\n", encoding="utf-8")
    p = run_cli("env", "--offline", "--format", "json", env=cli_env(HF_TOKEN_PATH=str(path), HF_HUB_OFFLINE="1"))
    hub = json.loads(p.stdout)["hub"]
    assert hub["token_path"] == str(path) and hub["saved_token"] is True and hub["offline"] is True
    assert hub["token_present"] is True and "a" * 34 not in p.stdout
    p = run_cli("env", env=cli_env(HF_TOKEN_PATH=str(path), HF_HUB_OFFLINE="1"))  # no whoami in offline mode
    assert p.returncode == 0 and "whoami                       not checked (HF_HUB_OFFLINE)" in p.stdout
    assert "offline mode                 on (HF_HUB_OFFLINE)" in p.stdout
