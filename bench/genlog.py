"""A deterministic, realistic Space log of any size, for `hfdiag explain` throughput figures.

The mix (by line): uvicorn access lines of a Gradio app (~40%), training / tqdm progress lines (~30%), pip output
(~10%), application INFO lines (~18%), a short Python traceback every ~40,000 lines and a real failure line (exact
strings from ../shared/reference/*.md) every ~150,000 lines. Most lines are benign, as in a real log: a scanner
pays for every line it has to look at twice.

    python bench/genlog.py OUT.log --mb 200
    python bench/genlog.py OUT.log --mb 200 --kind warnings     # warning-heavy (hfdiag/engine/log_corpus.py)
    python bench/genlog.py OUT.log --mb 200 --kind reference    # error-dense: ../shared/reference's error lines
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

GENERATOR_VERSION = 1  # bump when the mix changes (cached files are keyed by it)

# Exact strings from ../shared/reference (file in the comment); `check_reference()` verifies them when that
# folder is present.
FAILURE_LINES = [
    # hub-spaces-api.md
    "Scheduling failure: not enough hardware capacity",
    "Launch timed out, space was not healthy after 30 min",
    "Exit code: 128. Reason: failed to create containerd task: failed to create shim task: context canceled",
    "Job failed with exit code: 1. Reason: cache miss: [run 1/2] COPY --link ./ /app ...",
    "ERROR: failed to push spaces-registry.huggingface.tech/...: 401 Unauthorized",
    # gradio-zerogpu.md
    "You have exceeded your GPU quota (46s left vs. 60s requested). Sign-up on Hugging Face to get more quotas or "
    "retry in 0:09:48.",
    "No GPU was available after 60s. Try re-running outside of examples if it happened after clicking one",
    "RuntimeError: CUDA error: no kernel image is available for execution on the device",
    "NVIDIA RTX PRO 6000 Blackwell Server Edition with CUDA capability sm_120 is not compatible with the current "
    "PyTorch installation.",
    "RuntimeError: FlashAttention only supports Ampere GPUs or newer.",
    "CUDA must not be initialized in the main process on Spaces with Stateless GPU environment.",
    "triton.runtime.errors.PTXASError: PTXAS error: Internal Triton PTX codegen error",
    "Error while initializing ZeroGPU: NotFound",
]
REFERENCE_FILES = ("hub-spaces-api.md", "gradio-zerogpu.md")
# ../shared/reference beside the project (or beside the folder of worktrees the project sits in)
REFERENCE_DIR = next((d for d in (p / "shared" / "reference" for p in Path(__file__).resolve().parents[2:4])
                      if d.is_dir()), Path(__file__).resolve().parents[2] / "shared" / "reference")

TRACEBACKS = [
    ["Traceback (most recent call last):",
     '  File "/home/user/app/app.py", line 7, in <module>',
     "    import open_clip",
     "ModuleNotFoundError: No module named 'open_clip'"],
    ["Traceback (most recent call last):",
     '  File "/usr/local/lib/python3.10/site-packages/gradio/queueing.py", line 625, in process_events',
     "    response = await route_utils.call_process_api(",
     '  File "/home/user/app/app.py", line 41, in predict',
     "    return model(x) / 0",
     "ZeroDivisionError: division by zero"],
    ["Traceback (most recent call last):",
     '  File "/home/user/app/train.py", line 212, in training_step',
     "    loss = self.model(**batch).loss",
     "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 22.06 GiB total capacity)"],
]

PATHS = ["/", "/gradio_api/queue/join", "/gradio_api/queue/data?session_hash={h}", "/gradio_api/info",
         "/config", "/gradio_api/heartbeat/{h}", "/theme.css?v={h}", "/assets/index-{h}.js",
         "/static/fonts/ui-sans-serif-Regular.woff2", "/gradio_api/file=/tmp/gradio/{h}/image.webp",
         "/favicon.ico", "/gradio_api/upload?upload_id={h}", "/?__theme=dark"]
STATUSES = ["200 OK"] * 12 + ["304 Not Modified", "404 Not Found", "101 Switching Protocols"]
PACKAGES = ["torch", "transformers", "accelerate", "diffusers", "gradio", "numpy", "safetensors", "tokenizers",
            "huggingface-hub", "spaces", "sentencepiece", "pillow", "scipy", "einops", "xformers", "peft"]


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _access(rng: random.Random) -> str:
    path = rng.choice(PATHS).format(h=_hex(rng, 10))
    method = "POST" if "join" in path or "upload" in path else "GET"
    return (f'INFO:     10.16.{rng.randint(0, 40)}.{rng.randint(1, 250)}:{rng.randint(30000, 65000)} - '
            f'"{method} {path} HTTP/1.1" {rng.choice(STATUSES)}')


def _training(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.45:
        total = rng.choice([100, 500, 1000, 2500])
        done = rng.randint(0, total)
        pct = done * 100 // total
        bar = ("█" * (pct // 10)).ljust(10)
        return (f"Epoch {rng.randint(1, 10)}/10: {pct:3d}%|{bar}| {done}/{total} "
                f"[{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}<{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d}, {rng.uniform(1, 12):.2f}it/s, loss={rng.uniform(0.05, 2.5):.4f}]")
    if kind < 0.75:
        return (f"{{'loss': {rng.uniform(0.05, 2.5):.4f}, 'grad_norm': {rng.uniform(0.1, 8):.4f}, "
                f"'learning_rate': {rng.uniform(1e-6, 5e-5):.3e}, 'epoch': {rng.uniform(0, 10):.2f}}}")
    if kind < 0.9:
        n = rng.randint(1, 8)
        return f"Loading checkpoint shards: {rng.randint(0, 100):3d}%|          | {rng.randint(0, n)}/{n} [00:0{rng.randint(0, 9)}<00:0{rng.randint(0, 9)}, {rng.uniform(0.2, 3):.2f}s/it]"
    return f"step {rng.randint(1, 200000)}: train_loss={rng.uniform(0.05, 2.5):.4f} val_loss={rng.uniform(0.05, 2.5):.4f} tokens/s={rng.randint(800, 9000)}"


def _pip(rng: random.Random) -> str:
    pkg = rng.choice(PACKAGES)
    ver = f"{rng.randint(0, 4)}.{rng.randint(0, 60)}.{rng.randint(0, 9)}"
    kind = rng.random()
    if kind < 0.3:
        return f"Collecting {pkg}=={ver}"
    if kind < 0.6:
        return (f"  Downloading {pkg.replace('-', '_')}-{ver}-py3-none-any.whl ({rng.uniform(0.1, 900):.1f} MB)")
    if kind < 0.85:
        return (f"Requirement already satisfied: {pkg}>={ver} in /usr/local/lib/python3.10/site-packages "
                f"(from -r requirements.txt (line {rng.randint(1, 30)})) ({ver})")
    if kind < 0.95:
        return f"     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ {rng.uniform(0.1, 900):.1f}/{rng.uniform(0.1, 900):.1f} MB {rng.uniform(5, 90):.1f} MB/s eta 0:00:00"
    return "Installing collected packages: " + ", ".join(rng.sample(PACKAGES, 5))


def _app(rng: random.Random) -> str:
    msgs = [f"Generated image in {rng.uniform(0.5, 9):.2f}s (seed {rng.randint(0, 2**31)})",
            f"Prompt tokens: {rng.randint(5, 400)}, completion tokens: {rng.randint(5, 900)}",
            f"Loaded model weights from /data/models/model-{_hex(rng, 6)}.safetensors",
            f"Cache hit for session {_hex(rng, 12)}",
            f"Processed batch {rng.randint(1, 99999)} with {rng.randint(1, 64)} items"]
    return (f"2025-06-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
            f"{rng.randint(0, 59):02d},{rng.randint(0, 999):03d} - app - INFO - {rng.choice(msgs)}")


def _pool(rng: random.Random, make, n: int) -> list[str]:
    return [make(rng) + "\n" for _ in range(n)]


def generate(path: Path, size_bytes: int, seed: int = 7) -> int:
    """Write about `size_bytes` of log to `path`; returns the bytes written."""
    rng = random.Random(seed)
    pools = [_pool(rng, _access, 6000), _pool(rng, _training, 6000), _pool(rng, _pip, 2000), _pool(rng, _app, 4000)]
    weights = [40, 30, 10, 18]
    written = 0
    lines_out = 0
    block_lines = 20000
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("===== Application Startup at 2025-06-01 09:00:00 =====\n\n")
        while written < size_bytes:
            which = rng.choices(range(4), weights=weights, k=block_lines)
            block = [rng.choice(pools[w]) for w in which]
            if (lines_out // 40000) != ((lines_out + block_lines) // 40000):
                block[rng.randrange(block_lines)] = "\n".join(rng.choice(TRACEBACKS)) + "\n"
            if (lines_out // 150000) != ((lines_out + block_lines) // 150000):
                block[rng.randrange(block_lines)] = rng.choice(FAILURE_LINES) + "\n"
            text = "".join(block)
            fh.write(text)
            written += len(text.encode("utf-8"))
            lines_out += block_lines
    return path.stat().st_size


def _write_ordinary(path: Path, size_bytes: int, seed: int, insert) -> int:
    """hfdiag's ordinary-log corpus (hfdiag/engine/log_corpus.py) to `path`, with `insert(n)` (a line or None)
    after its n-th line, until about `size_bytes`."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from hfdiag.engine.log_corpus import ordinary_lines

    written = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        block: list[str] = []
        for n, line in enumerate(ordinary_lines(seed), 1):
            block.append(line)
            extra = insert(n)
            if extra is not None:
                block.append(extra)
            if len(block) >= 20_000:
                text = "\n".join(block) + "\n"
                fh.write(text)
                written += len(text.encode("utf-8"))
                block = []
                if written >= size_bytes:
                    break
    return path.stat().st_size


def generate_warnings(path: Path, size_bytes: int, seed: int = 5) -> int:
    """The warning-heavy log: hfdiag's ordinary-log corpus (~40% library warnings, the text `rules lint` measures
    keywords on; another seed) with a failure line every ~150,000 lines."""
    rng = random.Random(seed)
    return _write_ordinary(path, size_bytes, seed, lambda n: rng.choice(FAILURE_LINES) if n % 150_000 == 0 else None)


_ERROR_WORDS = ("error", "fail", "exceeded", "no gpu", "not compatible", "timed out", "denied", "refused", "cannot",
                "could not", "unable", "killed", "exception", "429", "503", "401", "403", "404")


def reference_error_lines(reference_dir: Path) -> list[str]:
    """Every line of a code block, and every backquoted string, of ../shared/reference/*.md that reads as an error
    message: the real error lines those files quote."""
    out: list[str] = []
    for f in sorted(reference_dir.glob("*.md")):
        fence = False
        for raw in f.read_text(encoding="utf-8").splitlines():
            if raw.strip().startswith("```"):
                fence = not fence
                continue
            candidates = [raw.strip()] if fence else re.findall(r"`([^`]{12,300})`", raw)
            out += [c for c in candidates if any(w in c.lower() for w in _ERROR_WORDS)]
    return list(dict.fromkeys(out))


def generate_reference(path: Path, size_bytes: int, reference_dir: Path, seed: int = 9) -> int:
    """An error-dense log: every reference error line in turn, each after four ordinary lines (so ~1 line in 5
    is a real failure line and meets the full regexes)."""
    errors = reference_error_lines(reference_dir)
    if not errors:
        raise SystemExit(f"no error lines found in {reference_dir}")
    return _write_ordinary(path, size_bytes, seed, lambda n: errors[(n // 4) % len(errors)] if n % 4 == 0 else None)


def check_reference(reference_dir: Path) -> list[str]:
    """The failure lines that are NOT verbatim in the reference files (empty when all are, or no reference)."""
    if not reference_dir.is_dir():
        return []
    text = "".join((reference_dir / f).read_text(encoding="utf-8") for f in REFERENCE_FILES
                   if (reference_dir / f).is_file())
    return [ln for ln in FAILURE_LINES if ln not in text]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--mb", type=float, default=200.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--kind", choices=("spaces", "warnings", "reference"), default="spaces")
    a = ap.parse_args()
    size = int(a.mb * 1_000_000)
    if a.kind == "warnings":
        n = generate_warnings(a.out, size)
    elif a.kind == "reference":
        n = generate_reference(a.out, size, REFERENCE_DIR)
    else:
        n = generate(a.out, size, a.seed)
    print(f"{a.out}: {n / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
