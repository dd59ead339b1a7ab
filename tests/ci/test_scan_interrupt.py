"""`hfdiag scan` on a terminal shows its progress and the Hub rate-limit wait, and Ctrl-C (a real SIGINT to a
real subprocess, sent while the scan waits for a closed rate-limit window) ends it within a second with a valid
partial report. The synchronisation is the program's own output, never a sleep."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from hfdiag.sim import Simulator
from tests.ci.conftest import sim_args
from tests.conftest import ROOT, cli_env

FLEET = 40
QUOTA, WINDOW = 10, 120  # the first window closes after 10 Hub requests (~15 Spaces: healthy ones cost none); the next opens in 2 minutes
WAIT_MARK = b"Hub rate limit: waiting"


@pytest.fixture()
def slow_fleet():
    """A fresh simulator per test: the closed window of one test must not hold up the next."""
    with Simulator("fleet", overrides={"fleet.count": FLEET, "hub.rate_limit": QUOTA,
                                       "hub.rate_window_s": WINDOW}) as sim:
        yield sim


def _start(sim, fmt: str, stderr_tty: bool, extra: list[str] = ()):
    ids = [s for s in sim.space_ids if s.startswith("fleetuser/")]
    env = cli_env(HF_TOKEN=sim.tokens["owner"], TERM="xterm", COLUMNS="120")
    master = slave = None
    if stderr_tty:
        master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "hfdiag", "scan", "-", *sim_args(sim), "--format", fmt,
                             "--concurrency", "4", "--timeout", "30", *extra],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=slave if stderr_tty else subprocess.PIPE, env=env, cwd=ROOT)
    if slave is not None:
        os.close(slave)
    proc.stdin.write(("\n".join(ids) + "\n").encode())
    proc.stdin.close()
    return proc, master, ids


def _read_until(fd: int, mark: bytes, drain: int, deadline_s: float = 90.0) -> tuple[bytes, bytes]:
    """Read a stream until `mark` shows up (the program says it is waiting), or fail after deadline_s; meanwhile
    read `drain` (the scan's stdout) too, since a full pipe would block the scan before it ever waits.
    Returns (the stream up to the mark, what `drain` gave)."""
    seen, drained = b"", b""
    fds = [fd, drain]
    end = time.monotonic() + deadline_s
    while mark not in seen:
        left = end - time.monotonic()
        assert left > 0, f"never saw {mark!r}: {seen[-2000:]!r}"
        ready, _, _ = select.select(fds, [], [], left)
        for r in ready:
            try:
                chunk = os.read(r, 65536)
            except OSError:  # the pty closes when the process ends
                chunk = b""
            if r == fd:
                assert chunk, f"stream ended before {mark!r}: {seen[-2000:]!r}"
                seen += chunk
            elif chunk:
                drained += chunk
            else:
                fds.remove(drain)
    return seen, drained


def _until_eof(out_fd: int, tty_fd: int, deadline_s: float = 90.0) -> tuple[bytes, bytes]:
    """stdout up to its EOF, draining the terminal meanwhile: a full pty blocks the progress writer (rich's refresh
    thread), and with it the exit, so the test would wait forever on stdout alone."""
    got = {out_fd: b"", tty_fd: b""}
    open_fds = [out_fd, tty_fd]
    end = time.monotonic() + deadline_s
    while out_fd in open_fds:
        left = end - time.monotonic()
        assert left > 0, f"no EOF on stdout: {got[tty_fd][-2000:]!r}"
        ready, _, _ = select.select(open_fds, [], [], left)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the pty closes when the process ends
                chunk = b""
            got[fd] += chunk
            if not chunk:
                open_fds.remove(fd)
    return got[out_fd], got[tty_fd]


def _drain(fd: int) -> bytes:
    out = b""
    while True:
        try:
            ready, _, _ = select.select([fd], [], [], 5)
            chunk = os.read(fd, 65536) if ready else b""
        except OSError:
            chunk = b""
        if not chunk:
            return out
        out += chunk


def test_tty_progress_shows_the_rate_limit_wait_and_ctrl_c_stops_at_once(slow_fleet):
    proc, master, ids = _start(slow_fleet, "jsonl", stderr_tty=True)
    try:
        shown, early = _read_until(master, b" left)", proc.stdout.fileno())
        assert re.search(rb"scan .*\d+/%d" % len(ids), shown), shown[-1500:]  # the bar: Spaces done of all
        waits = re.findall(rb"waiting (\d+) s for the 'api' window \(0 of %d left\)" % QUOTA, shown)
        assert waits, shown[-1500:]
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, rest = _until_eof(proc.stdout.fileno(), master)  # EOF: everything written, stdout closed
        proc.wait(30)
        stopped_after = time.monotonic() - sent
        out = early + out
        rest += _drain(master)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert proc.returncode == 130, rest[-2000:]
    print(f"\nCtrl-C to exit: {stopped_after:.3f} s")  # how fast is bench/README's figure, not a test's
    # it did not sit out the closed window it was waiting on (a bound a loaded machine cannot close)
    assert stopped_after < int(waits[-1]) / 4, f"Ctrl-C took {stopped_after:.2f} s"
    reports = [json.loads(line) for line in out.decode().splitlines()]  # every line a whole report
    assert 0 < len(reports) < len(ids)
    assert [r["target"] for r in reports] == ids[:len(reports)]  # the finished ones, in input order
    assert b"interrupted" in rest and re.search(rb"scanned %d of %d Spaces" % (len(reports), len(ids)), rest)


def test_piped_scan_is_quiet_and_stops_with_whole_lines(slow_fleet):
    proc, _, ids = _start(slow_fleet, "jsonl", stderr_tty=False)
    try:
        first = proc.stdout.readline()  # one Space finished: the scan is under way
        assert json.loads(first)["target"] == ids[0]
        proc.send_signal(signal.SIGINT)
        rest = proc.stdout.read()
        err = proc.stderr.read().decode()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert "\x1b[" not in err and "\r" not in err  # no progress drawing when stderr is not a terminal
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("hfdiag: scanned ") and "interrupted" in lines[1], err
    for line in rest.decode().splitlines():
        json.loads(line)


def test_partial_prometheus_file_is_valid(slow_fleet, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    out = tmp_path / "hfdiag.prom"
    proc, master, ids = _start(slow_fleet, "prometheus", stderr_tty=True, extra=["-o", str(out)])
    try:
        _read_until(master, WAIT_MARK, proc.stdout.fileno())
        proc.send_signal(signal.SIGINT)
        _until_eof(proc.stdout.fileno(), master)
        proc.wait(30)
        _drain(master)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert proc.returncode == 130
    families = {f.name: f for f in text_string_to_metric_families(out.read_text(encoding="utf-8"))}
    assert families["hfdiag_scan_spaces"].samples[0].value == len(ids)
    checked = {s.labels["space"] for s in families["hfdiag_space_verdict"].samples}
    assert checked and checked < set(ids)
