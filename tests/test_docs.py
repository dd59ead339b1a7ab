"""Docs are checked: the README's two commands, its exit-code table and .ci/run stay true."""

import re
from pathlib import Path

from conftest import run_cli

from hfdiag.exit_status import ExitStatus

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def test_ci_runs_the_readme_test_command():
    test_cmd = bash_blocks(README)[1].strip()
    assert "pytest" in test_cmd
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_first_command_runs_a_check_against_the_simulator():
    first = bash_blocks(README)[0].strip()
    assert "hfdiag check --sim " in first
    check = first.split("&&", 1)[1].split()
    proc = run_cli(*check[1:], "--format", "json", "--quiet")
    assert proc.returncode in (0, 1, 3) and '"schema_version": 1' in proc.stdout, proc.stderr


def test_exit_code_table_matches_the_enum():
    rows = dict(re.findall(r"^\| (\d+) \| ([^|]+) \|$", README, re.M))
    assert {int(k) for k in rows} == {int(s) for s in ExitStatus}


def test_every_readme_hfdiag_subcommand_exists():
    used = set(re.findall(r"^hfdiag (\w+)", "\n".join(bash_blocks(README)), re.M))
    for cmd in used:
        proc = run_cli(cmd, "--help")
        assert proc.returncode == 0, (cmd, proc.stderr)
