"""A core install (no `sim` extra) still runs `hfdiag explain`, `rules` and `--help`: the simulator adds no
runtime dependency. Simulated here by making starlette and uvicorn unimportable in the child process."""

import importlib.metadata
import re
import subprocess
import sys

from conftest import ROOT, cli_env

BLOCK = (
    "import sys, importlib.abc\n"
    "class Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('starlette', 'uvicorn'):\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, Block())\n"
    "from hfdiag.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "loaded = sorted(m for m in sys.modules if m.startswith(('starlette', 'uvicorn', 'hfdiag.sim.server')))\n"
    "sys.stderr.write(f'loaded={loaded}\\n')\n"
    "sys.exit(rc)\n"
)


def run_core(*args, input=None):
    return subprocess.run([sys.executable, "-c", BLOCK, *args], input=input, capture_output=True, text=True,
                          env=cli_env(), cwd=ROOT, timeout=60)


def test_core_dependencies_exclude_the_simulator():
    requires = importlib.metadata.requires("hfdiag") or []
    core = [r.lower() for r in requires if "extra ==" not in r]
    sim = [r.lower() for r in requires if re.search(r"extra\s*==\s*['\"]sim['\"]", r)]
    assert core and not any(r.startswith(("starlette", "uvicorn")) for r in core)
    assert any(r.startswith("starlette") for r in sim)


def test_explain_and_rules_work_without_the_sim_extra():
    proc = run_core("explain", "-", "--format", "json", input="ModuleNotFoundError: No module named 'torch'\n")
    assert proc.returncode == 1, proc.stderr
    assert '"bucket": "app"' in proc.stdout
    assert "loaded=[]" in proc.stderr
    assert run_core("rules", "test").returncode == 0
    assert run_core("--help").returncode == 0


def test_sim_without_the_extra_is_a_one_line_usage_error():
    proc = run_core("check", "--sim", "healthy-gradio")
    assert proc.returncode == 2
    assert "pip install 'hfdiag[sim]'" in proc.stderr.splitlines()[0]
