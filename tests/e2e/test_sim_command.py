"""`hfdiag sim SCENARIO` serves on loopback and prints a `hfdiag check` line that works as printed."""

import json
import shlex
import signal
import subprocess
import sys

from conftest import ROOT, cli_env


def test_printed_check_command_runs_against_the_served_scenario(tmp_path):
    # stderr to a file, not a pipe nobody reads: a pipe that fills would block the simulator's exit
    err = (tmp_path / "sim.stderr").open("w+")
    server = subprocess.Popen([sys.executable, "-m", "hfdiag", "sim", "healthy-gradio"], stdout=subprocess.PIPE,
                              stderr=err, text=True, env=cli_env(), cwd=ROOT)
    try:
        lines = []
        for line in server.stdout:  # blocks until the simulator has printed its banner
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        run = next(ln.strip() for ln in lines if "hfdiag check " in ln)
        words = shlex.split(run)
        env = cli_env(**dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-")))
        argv = words[words.index("hfdiag") + 1:]
        proc = subprocess.run([sys.executable, "-m", "hfdiag", *argv, "--format", "json", "--quiet"],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
        assert json.loads(proc.stdout)["verdict"]["bucket"] == "healthy", proc.stderr
        assert all("127.0.0.1" in w for w in argv if w.startswith("http"))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=120)  # a bound, not a pace: a loaded machine may take a while to stop it
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        err.seek(0)
        said = err.read()[-3000:]
        err.close()
    assert server.returncode == 0, said


def test_a_space_id_a_scenario_names_replaces_the_default_in_the_printed_command():
    """space-not-found checks a misspelled id: the `Run:` line checks that id alone, as `--sim` does."""
    from hfdiag.sim import Simulator, load_scenario

    scenario = load_scenario("space-not-found")
    with Simulator(scenario) as sim:
        line = sim.check_command(token="owner", extra=scenario.check)
        proc = subprocess.run([sys.executable, "-m", "hfdiag", *shlex.split(line)[2:], "--format", "json", "--quiet"],
                              capture_output=True, text=True, env=cli_env(HF_TOKEN=sim.tokens["owner"]), cwd=ROOT,
                              timeout=60)
    assert " check simuser/hello-gradoi --endpoint " in line and "hello-gradio" not in line
    assert (json.loads(proc.stdout)["verdict"]["bucket"], proc.returncode) == (scenario.expect["bucket"],
                                                                              scenario.expect["exit"])
