"""`hfdiag explain` streams: peak memory does not grow with the size of the log (speed lives in bench/)."""

import subprocess
import sys

from conftest import cli_env

LINE = b'INFO:     10.16.0.1:41234 - "GET /gradio_api/queue/data?session_hash=abc HTTP/1.1" 200 OK\n'
NEEDLE = b"UserWarning: NVIDIA RTX PRO 6000 Blackwell Server Edition with CUDA capability sm_120 is not compatible with the current PyTorch installation.\n"
# VmHWM is the peak RSS of this process image. (ru_maxrss would not do: Linux carries it over from the parent
# across fork+exec, so a child of a big pytest process reports the parent's size.)
PROBE = (
    "import sys\n"
    "from hfdiag.cli import main\n"
    "rc = main(['explain', sys.argv[1], '--format', 'json', '--fail-on', 'none'])\n"
    "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0]\n"
    "sys.stderr.write(f'maxrss_kb={hwm}\\n')\n"
)


def _write_log(path, megabytes):
    block = LINE * (1024 * 1024 // len(LINE))
    with path.open("wb") as fh:
        for i in range(megabytes):
            fh.write(block)
            if i == megabytes // 2:
                fh.write(NEEDLE)


def _peak_kb(path) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, env=cli_env(),
                          timeout=120)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("maxrss_kb=")]
    assert line, proc.stderr
    return int(line[0].split("=")[1]), proc.stdout


def test_peak_memory_is_flat_in_the_input_size(tmp_path):
    small, large = tmp_path / "small.log", tmp_path / "large.log"
    _write_log(small, 8)
    _write_log(large, 96)
    small_kb, _ = _peak_kb(small)
    large_kb, out = _peak_kb(large)
    assert "\"runtime.sm\"" in out  # the needle in the middle of the big file was found
    assert large_kb - small_kb < 16 * 1024, (small_kb, large_kb)
    assert large_kb < 100 * 1024
