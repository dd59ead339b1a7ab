#!/usr/bin/env python3
"""Each attack of issue 14 against `hfdiag check` through the real CLI, with the time and memory it costs.

    python bench/attacks.py                 # every attack, --timeout 3
    python bench/attacks.py --only gzip     # the attacks whose name contains a word
    python bench/attacks.py --json out.json

One row per attack: the probing phase (`check_many`, timed inside the CLI by `_phases.py`) against `--timeout + 1 s`,
the process's wall time, its peak RSS (wait4, of that process alone) against 200 MB, the exit code, and what the
output shows (the attacked probe's one-line message, or the property the attack is about). Exits 1 when a time,
memory or output target is missed. A hostile server is the simulator with a fault or a rewritten answer, on
loopback. Targets live here, not in tests/ (tests/reliability holds the same attacks without timing them).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import env_for_cli, run_with_rusage  # noqa: E402

PHASES = str(Path(__file__).resolve().parent / "_phases.py")
RSS_MB = 200.0
ESC = "\x1b"
CONTROL = f"{ESC}]52;c;ZWNobyBwd25lZA=={ESC}\\ {ESC}[2J{ESC}[H{ESC}]0;fake title\x07 Verdict: healthy"
MARKDOWN = "[click me](https://evil.example/x) ![pixel](https://evil.example/p.png) **loud** [/DETAILS]"
SECRETS = {"github": "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "aws_secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
           "db": "pg-pa55w0rd-X", "query": "hunter2hunter2", "endpoint": "Pa55w0rdInUrl"}
SECRET_LINE = (f"postgres://admin:{SECRETS['db']}@db:5432/app https://api.example/v1?password={SECRETS['query']} "
               f"token {SECRETS['github']} aws_secret_access_key={SECRETS['aws_secret']}")


@dataclass
class Attack:
    name: str
    scenario: str = "healthy-gradio"
    faults: dict = field(default_factory=dict)  # selector -> fault spec (a callable(sim) gives it late)
    args: tuple = ()
    fmt: str = "json"
    probe: str | None = None  # the probe the attack hits (its status and message are shown)
    setup: object = None  # callable(sim): more hostile state (log lines, answers)
    endpoint: object = None  # callable(sim) -> the --endpoint given
    check: object = None  # callable(output text) -> (ok, note): the output property the attack is about
    fails: bool = False  # the attacked probe must not say "ok" (a bomb or a broken stream is its error)


def _bomb(layers: int = 2, sse: bool = False) -> dict:
    spec = {"fault": "gzip_bomb", "layers": layers}
    if sse:
        spec["ctype"] = "text/event-stream"
    return spec


def _space_answer(sim, **changes) -> dict:
    import httpx

    info = httpx.get(f"{sim.endpoint}/api/spaces/{sim.space_ids[0]}", timeout=30,
                     headers={"authorization": f"Bearer {sim.tokens['owner']}"}).json()
    info.update(changes)
    return {"fault": "status", "status": 200, "body": json.dumps(info)}


def _error_message(sim) -> dict:
    """The Space API's answer with a hostile runtime.errorMessage (the rest as the simulator gives it)."""
    spec = _space_answer(sim)
    info = json.loads(spec["body"])
    info["runtime"]["errorMessage"] = f"{CONTROL} {MARKDOWN} {SECRET_LINE}"
    spec["body"] = json.dumps(info)
    return spec


def _flood(sim) -> None:
    for _ in range(20_000):  # 20,000 events of 4 KiB made of one keyword
        sim.append_log("Traceback " * 410)


def _hostile_lines(sim) -> None:
    for line in (CONTROL, MARKDOWN, SECRET_LINE, "ModuleNotFoundError: No module named 'x'"):
        sim.append_log(line)


def _no_control(out: str):
    bad = sorted({f"{ord(c):#x}" for c in out if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) < 0xa0})
    return not bad, "no control character" if not bad else f"control characters {bad}"


def _no_link(out: str):
    """No link or image to the attacker's host renders: code blocks and spans show text as it is, so they are
    left out; the tool's own links (references) are not the attack's."""
    text = re.sub(r"(?ms)^```.*?^```", "", out)
    text = re.sub(r"`[^`\n]*`", "", text)
    live = re.findall(r"(?<!\\)!?\[[^\]]*(?<!\\)\]\(https://evil", text) + re.findall(r"(?i)(?<!\\)\[/details\]", text)
    return not live, "no live link, image or tag" if not live else f"live markup {live[:3]}"


def _no_secret(out: str):
    leaked = [k for k, v in SECRETS.items() if v in out]
    return not leaked, "no secret" if not leaked else f"leaked {leaked}"


def _one_line_exit_2(out: str):
    return out.count("\n") <= 1 and "Traceback" not in out, "one line"


SPACE, WHOAMI = "hub:GET /api/spaces/simuser/hello-gradio", "hub:GET /api/whoami-v2"
LOGS, STATUS, ROUTE = "hub:GET /api/spaces/*/logs/*", "hub:GET /status/index.json", "space:GET /"
ZERO_CONFIG, ZERO_QUOTA = "space:GET /config", "hub:GET /api/spaces/zero-gpu/quota"
ZERO_QUEUE = "space:GET /gradio_api/queue/data"
CALL = ("--zerogpu-call", "predict", "--zerogpu-data", '["hi"]')

ATTACKS = [
    Attack("gzip,gzip on the Space API", fails=True, faults={SPACE: _bomb()}, probe="space"),
    Attack("gzip,gzip on whoami", fails=True, faults={WHOAMI: _bomb()}, probe="auth"),
    Attack("gzip,gzip on the status page", fails=True, faults={STATUS: _bomb()}, probe="status"),
    Attack("gzip,gzip on the Space origin (route)", fails=True, faults={ROUTE: _bomb()}, probe="route"),
    Attack("gzip,gzip on the log streams (SSE)", fails=True, faults={LOGS: _bomb(sse=True)}, probe="logs"),
    Attack("gzip x3 on the log streams (SSE)", fails=True, faults={LOGS: _bomb(3, sse=True)}, probe="logs"),
    Attack("gzip,gzip on ZeroGPU /config", "healthy-zerogpu", {ZERO_CONFIG: _bomb()}, probe="zerogpu", fails=True),
    Attack("gzip,gzip on the ZeroGPU quota", "healthy-zerogpu", {ZERO_QUOTA: _bomb()}, probe="zerogpu", fails=True),
    Attack("gzip,gzip on the ZeroGPU queue stream (SSE)", "healthy-zerogpu", {ZERO_QUEUE: _bomb(sse=True)}, CALL,
           probe="zerogpu", fails=True),
    Attack("SSE endless field (no newline)", fails=True, faults={LOGS: {"fault": "sse_endless_line"}}, probe="logs"),
    Attack("SSE keyword flood (20,000 x 4 KiB)", fails=True, setup=_flood, probe="logs"),
    Attack("ESC sequences in a log and errorMessage (human)", faults={SPACE: _error_message}, setup=_hostile_lines,
           fmt="human", check=_no_control),
    Attack("markdown injection from a log and errorMessage", faults={SPACE: _error_message}, setup=_hostile_lines,
           fmt="markdown", check=_no_link),
    Attack("credential shapes in a log, errorMessage, --endpoint user:pw@", faults={SPACE: _error_message},
           setup=_hostile_lines, fmt="human",
           endpoint=lambda sim: sim.endpoint.replace("http://", f"http://alice:{SECRETS['endpoint']}@"),
           check=_no_secret),
    Attack("--dns-server 127.0.0.1:99999", args=("--dns-server", "127.0.0.1:99999"), fmt="human",
           check=_one_line_exit_2),
    Attack("1 MB stage string", faults={SPACE: lambda sim: _space_answer(sim, runtime={"stage": "B" * 1_000_000})},
           probe="space", check=lambda out: (len(out) < 200_000, f"{len(out) // 1024} KB of output")),
    Attack("private Space naming a plain-http foreign host", fails=True,
           faults={SPACE: lambda sim: _space_answer(sim, private=True, host=sim.urls["foreign"])}, probe="route"),
]


def run_attack(attack: Attack, timeout: float) -> dict:
    from hfdiag.sim import Simulator

    with Simulator(attack.scenario) as sim, tempfile.TemporaryDirectory() as tmp:
        for selector, spec in attack.faults.items():
            sim.scenario.faults[selector] = spec(sim) if callable(spec) else spec
        if attack.setup:
            attack.setup(sim)
        out_file, err_file, phases, report = (Path(tmp) / n for n in ("out.txt", "err.txt", "phases.json",
                                                                       "report.json"))
        endpoint = attack.endpoint(sim) if attack.endpoint else sim.endpoint
        args = ["check", sim.space_ids[0], "--endpoint", endpoint, "--token", sim.tokens["owner"],
                "--dns-server", sim.dns_server, "--status-url", sim.status_url, "--timeout", f"{timeout:g}",
                "--format", attack.fmt, "--quiet", "--report", str(report), *attack.args]
        if "--dns-server" in attack.args:  # the attack replaces the simulator's responder
            i = args.index("--dns-server")
            del args[i:i + 2]
        # the launcher's stdout is its figures: the CLI's output goes to files through a shell-free wrapper
        cmd = [sys.executable, "-c", "import subprocess, sys; sys.exit(subprocess.run(sys.argv[3:], "
               "stdout=open(sys.argv[1], 'w'), stderr=open(sys.argv[2], 'w')).returncode)", str(out_file),
               str(err_file), sys.executable, PHASES, str(phases), *args]
        wall, rc, rss, _ = run_with_rusage(cmd, env=env_for_cli())
        out, err = out_file.read_text(errors="replace"), err_file.read_text(errors="replace")
        ph = json.loads(phases.read_text()) if phases.exists() else {}
        rep = json.loads(report.read_text()) if report.exists() else None
        foreign = [r for r in sim.requests if r.role == "foreign" and r.has_authorization]
    v = (rep or {}).get("verdict") or {}
    row = {"attack": attack.name, "check_s": ph.get("check_many_s"), "wall_s": wall, "rss_mb": rss, "exit": rc,
           "verdict": f"{v['bucket']} ({v['confidence']})" if v else "-"}
    notes, ok = [], True
    if attack.probe and rep is not None:
        p = next(x for x in rep["probes"] if x["probe"] == attack.probe)
        msg = (p.get("error") or "").replace("\n", "\\n")
        notes.append(f"{attack.probe}: {p['status']}" + (f": {msg[:90]}" if msg else ""))
        ok &= "internal error" not in msg and "\n" not in (p.get("error") or "")
        if attack.fails:  # the attack is this probe's error, and no confident verdict rests on it
            ok &= p["status"] != "ok" and bool(msg)
            ok &= v.get("bucket") in ("healthy", "inconclusive") or v.get("confidence") != "high"
    if attack.check:
        good, note = attack.check(out + err if attack.fmt != "json" else out + err)
        notes.append(note)
        ok &= good
    if attack.name.startswith("private"):
        notes.append("token to the foreign host: " + ("yes" if foreign else "no"))
        ok &= not foreign
    ok &= "Traceback" not in err and rc in ((2,) if "--dns-server" in attack.args else (0, 1, 3))
    # the deadline is the probing phase's; a usage error never starts one (its wall time is the interpreter's)
    in_time = row["check_s"] is None or row["check_s"] <= timeout + 1.0
    row.update(ok=bool(ok and in_time and rss <= RSS_MB), note="; ".join(notes))
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--only", default="", help="run the attacks whose name contains this word")
    ap.add_argument("--json", help="write the rows to this file")
    opts = ap.parse_args()
    from hfdiag.sim.faults import gzip_bomb

    gzip_bomb(1024 ** 3, layers=2)  # built once before any timed run
    gzip_bomb(1024 ** 3, layers=3)
    rows = []
    print(f"load average {os.getloadavg()[0]:.1f}; --timeout {opts.timeout:g}: check phase <= "
          f"{opts.timeout + 1:g} s, peak RSS <= {RSS_MB:g} MB", file=sys.stderr)
    print("| attack | check phase s | process s | peak RSS MB | exit | verdict | ok | what the output shows |\n"
          "|---|---|---|---|---|---|---|---|")
    for attack in ATTACKS:
        if opts.only and opts.only.lower() not in attack.name.lower():
            continue
        r = run_attack(attack, opts.timeout)
        rows.append(r)
        check = "-" if r["check_s"] is None else f"{r['check_s']:.2f}"
        print(f"| {r['attack']} | {check} | {r['wall_s']:.2f} | {r['rss_mb']:.0f} | {r['exit']} | {r['verdict']} | "
              f"{'pass' if r['ok'] else 'FAIL'} | {r['note']} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    if opts.json:
        Path(opts.json).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
