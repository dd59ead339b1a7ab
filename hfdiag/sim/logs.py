"""Log buffers (build/run) and realistic log contents."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime, timezone


def iso_z(ts: float, ms: bool = False) -> str:
    d = datetime.fromtimestamp(ts, tz=timezone.utc)
    if ms:
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def banner_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def marker(event: str, **fields) -> str:
    """`hfdiag-marker {json}` in the exact format of docs/architecture.md."""
    return "hfdiag-marker " + json.dumps({"event": event, **fields}, separators=(",", ":"), ensure_ascii=False)


class LogBuffer:
    """Append-only list of (timestamp, line). Thread-safe; followers in the sim loop are woken on append."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[float, str]] = []
        self._waiters: list[asyncio.Future] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    def append(self, line: str, ts: float | None = None) -> None:
        with self._lock:
            self._entries.append((time.time() if ts is None else ts, line))
            waiters, self._waiters = self._waiters, []
        for fut in waiters:
            loop = fut.get_loop()
            if loop.is_closed():
                continue
            loop.call_soon_threadsafe(lambda f=fut: f.done() or f.set_result(None))

    def extend(self, lines, ts: float | None = None) -> None:
        for line in lines:
            self.append(line, ts)

    def entries(self, start: int = 0) -> list[tuple[float, str]]:
        with self._lock:
            return self._entries[start:]

    def lines(self) -> list[str]:
        return [line for _, line in self.entries()]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    async def wait_new(self, count: int) -> None:
        """Return once the buffer has more than `count` entries."""
        fut = asyncio.get_running_loop().create_future()
        with self._lock:
            if len(self._entries) > count:
                return
            self._waiters.append(fut)
        try:
            await fut
        finally:
            with self._lock:
                if fut in self._waiters:
                    self._waiters.remove(fut)


SM120_WARNING = [
    "/usr/local/lib/python3.10/site-packages/torch/cuda/__init__.py:287: UserWarning: ",
    "NVIDIA RTX PRO 6000 Blackwell Server Edition with CUDA capability sm_120 is not compatible with the current "
    "PyTorch installation.",
    "The current PyTorch install supports CUDA capabilities sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90.",
    "If you want to use the NVIDIA RTX PRO 6000 Blackwell Server Edition GPU with PyTorch, please check the "
    "instructions at https://pytorch.org/get-started/locally/",
    "",
    "  warnings.warn(",
]
NO_KERNEL_TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/home/user/app/app.py", line 42, in predict',
    "    out = model(x.to(\"cuda\"))",
    '  File "/usr/local/lib/python3.10/site-packages/torch/nn/modules/module.py", line 1553, in _wrapped_call_impl',
    "    return self._call_impl(*args, **kwargs)",
    '  File "/usr/local/lib/python3.10/site-packages/torch/nn/functional.py", line 2264, in embedding',
    "    return torch.embedding(weight, input, padding_idx, scale_grad_by_freq, sparse)",
    "RuntimeError: CUDA error: no kernel image is available for execution on the device",
    "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be "
    "incorrect.",
    "For debugging consider passing CUDA_LAUNCH_BLOCKING=1",
    "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.",
    "",
]
MODULE_NOT_FOUND = [
    "Traceback (most recent call last):",
    '  File "/home/user/app/app.py", line 3, in <module>',
    "    import torch",
    "ModuleNotFoundError: No module named 'torch'",
]
GENERIC_TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/home/user/app/app.py", line 17, in predict',
    "    return run(x)",
    '  File "/home/user/app/app.py", line 9, in run',
    "    raise RuntimeError(\"model failed\")",
    "RuntimeError: model failed",
]
TRACEBACKS = {"sm120": SM120_WARNING + NO_KERNEL_TRACEBACK, "generic": GENERIC_TRACEBACK,
              "module-not-found": MODULE_NOT_FOUND}


def build_lines(preset, sha: str, t0: float) -> list[tuple[float, str]]:
    """Build log entries starting at t0."""
    if isinstance(preset, list):
        return [(t0 + i, str(x)) for i, x in enumerate(preset)]
    if preset == "empty":
        return []
    queued = f"===== Build Queued at {banner_time(t0)} / Commit SHA: {sha[:7]} ====="
    if preset == "build-queued-only":
        return [(t0, queued)]
    steps = [
        queued, "",
        "--> FROM docker.io/library/python:3.10@sha256:a8462db480ec3a74499a297b1f8e074944283407b7a417f22f20d8e2e1619782",
        "DONE 0.0s", "",
        "--> RUN apt-get update && apt-get install -y git git-lfs ffmpeg libsm6 libxext6 cmake rsync libgl1",
        "CACHED", "",
        "--> WORKDIR /home/user/app", "CACHED", "",
        "--> RUN --mount=target=requirements.txt,source=requirements.txt \tpip install --no-cache-dir -r requirements.txt",
        "CACHED", "",
        "--> COPY --link --chown=1000 ./ /home/user/app", "DONE 0.1s", "",
        "--> Pushing image", "DONE 2.4s", "",
        "--> Exporting cache", "DONE 0.8s", "",
    ]
    if preset == "build-stalled":
        # the builder stops in the middle of the pip step and never writes another line
        steps = steps[:11] + [
            "--> RUN --mount=target=requirements.txt,source=requirements.txt \tpip install --no-cache-dir -r requirements.txt",
            "Collecting torch==2.5.1 (from -r requirements.txt (line 1))",
            "  Downloading torch-2.5.1-cp310-cp310-manylinux1_x86_64.whl (906.4 MB)",
        ]
    if preset == "build-error":
        steps = steps[:11] + [
            "--> RUN --mount=target=requirements.txt,source=requirements.txt \tpip install --no-cache-dir -r requirements.txt",
            "ERROR: Could not find a version that satisfies the requirement torch==9.9.9",
            "ERROR: No matching distribution found for torch==9.9.9",
            '--> ERROR: process "/bin/sh -c pip install --no-cache-dir -r /tmp/requirements.txt" did not complete '
            "successfully: exit code: 1",
        ]
    return [(t0 + i * 0.5, s) for i, s in enumerate(steps)]


def run_lines(preset, t0: float, sdk: str, zerogpu: bool, egress: list[dict] | None = None) -> list[tuple[float, str]]:
    """Run (container) log entries starting at t0."""
    if isinstance(preset, list):
        return [(t0 + i, str(x)) for i, x in enumerate(preset)]
    if preset == "empty":
        return []
    start = [f"===== Application Startup at {banner_time(t0)} =====", ""]
    if sdk == "gradio":
        up = ["* Running on local URL:  http://0.0.0.0:7860, with SSR ⚡ powered by Node.js", "",
              "To create a public link, set `share=True` in `launch()`."]
    else:
        up = ["INFO:     Started server process [1]", "INFO:     Waiting for application startup.",
              "INFO:     Application startup complete.",
              "INFO:     Uvicorn running on http://0.0.0.0:7860 (Press CTRL+C to quit)"]
    if zerogpu:
        start += ["ZeroGPU tensors packing: 100%|██████████| 1.21G/1.21G [00:01<00:00, 1.02GB/s]"]
    if preset == "run-module-not-found":
        body = start + MODULE_NOT_FOUND
    elif preset == "run-sm120":
        body = start + SM120_WARNING + NO_KERNEL_TRACEBACK
    elif preset == "run-egress":
        body = start + up + [_egress_line(e) for e in (egress or [])]
    else:  # auto / run-ok
        body = start + up
    return [(t0 + i * 0.2, s) for i, s in enumerate(body)]


def _egress_line(e: dict) -> str:
    if "raw" in e:
        return str(e["raw"])
    return marker("egress", **e)
