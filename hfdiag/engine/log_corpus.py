"""Ordinary log text: what a healthy, chatty Space writes (access lines, progress bars, pip, model loading, and
plenty of warnings nobody acts on). Deterministic for a seed; no failure lines.

Two users: `hfdiag rules lint` runs every signature keyword over it (a keyword that fires often here without a
full match wakes the regexes on common words), and bench/ writes large files of it (the warning-heavy log).
Written for this project: generic library warnings and log shapes, not text from anyone's report."""

from __future__ import annotations

import random
from typing import Iterator

_SITE = "/usr/local/lib/python3.10/site-packages"
_MODELS = ["bert-base-uncased", "openai/clip-vit-large-patch14", "stabilityai/sdxl-turbo", "google/flan-t5-base",
           "sentence-transformers/all-MiniLM-L6-v2", "facebook/bart-large-cnn", "Qwen/Qwen2.5-0.5B-Instruct"]
_PKGS = ["torch==2.4.1", "transformers==4.46.3", "gradio==5.9.1", "accelerate==1.2.1", "diffusers==0.31.0",
         "numpy<2", "safetensors==0.4.5", "sentencepiece", "einops", "Pillow==10.4.0", "scipy", "pandas==2.2.3"]
_PATHS = ["/gradio_api/queue/join", "/gradio_api/queue/data?session_hash={h}", "/gradio_api/heartbeat/{h}",
          "/assets/index-{h}.js", "/theme.css?v={h}", "/gradio_api/info", "/config", "/favicon.ico",
          "/gradio_api/upload?upload_id={h}", "/gradio_api/file=/tmp/gradio/{h}/image.webp", "/?__theme=dark"]


def _warnings(r: random.Random) -> list[str]:
    """Warnings that healthy apps print all day long, with their `warnings.warn(` tails."""
    n = r.randint(1000, 9999)
    return [
        f"{_SITE}/torch/utils/_pytree.py:185: FutureWarning: `torch.utils._pytree._register_pytree_node` is "
        "deprecated. Please use `torch.utils._pytree.register_pytree_node` instead.",
        "  warnings.warn(",
        f"{_SITE}/torch/functional.py:513: UserWarning: torch.meshgrid: in an upcoming release, it will be "
        "required to pass the indexing argument. (Triggered internally at ../aten/src/ATen/native/"
        f"TensorShape.cpp:{n}.)",
        f"{_SITE}/transformers/tokenization_utils_base.py:1601: FutureWarning: `clean_up_tokenization_spaces` "
        "was not set. It will be set to `True` by default. This behavior will be deprecated in transformers v4.45.",
        "Setting `pad_token_id` to `eos_token_id`:2 for open-end generation.",
        "The attention mask and the pad token id were not set. As a consequence, you may observe unexpected "
        "behavior. Please pass your input's `attention_mask` to obtain reliable results.",
        f"Some weights of BertForSequenceClassification were not initialized from the model checkpoint at "
        f"{r.choice(_MODELS)} and are newly initialized: ['classifier.bias', 'classifier.weight']",
        "You should probably TRAIN this model on a down-stream task to be able to use it for predictions and "
        "inference.",
        "huggingface/tokenizers: The current process just got forked, after parallelism has already been used. "
        "Disabling parallelism to avoid deadlocks...",
        "To disable this warning, you can either:",
        "\t- Avoid using `tokenizers` before the fork if possible",
        "\t- Explicitly set the environment variable TOKENIZERS_PARALLELISM=(true | false)",
        f"{_SITE}/gradio/components/chatbot.py:{n % 400}: UserWarning: You have not specified a value for the "
        "`type` parameter. Defaulting to the 'tuples' format for chatbot messages, but this is deprecated and "
        "will be removed in a future version of Gradio.",
        "A matching Triton is not available, some optimizations will not be enabled",
        f"{_SITE}/diffusers/configuration_utils.py:245: FutureWarning: It is deprecated to pass a pretrained "
        "model name or path to `from_config`.",
        "The config attributes {'force_upcast': True} were passed to AutoencoderKL, but are not expected and "
        "will be ignored. Please verify your config.json configuration file.",
        f"{_SITE}/torch/_utils.py:831: UserWarning: TypedStorage is deprecated. It will be removed in the future "
        "and UntypedStorage will be the only storage class.",
        "The following values were not passed to `accelerate launch` and had defaults used instead:",
        "\t`--num_processes` was set to a value of `1`",
        "To avoid this warning pass in values for each of the problematic parameters or run `accelerate config`.",
        f"{_SITE}/huggingface_hub/file_download.py:795: FutureWarning: `resume_download` is deprecated and will "
        "be removed in version 1.0.0. Downloads always resume when possible.",
        "Passing a tuple of `past_key_values` is deprecated and will be removed in v4.47. Use an appropriate "
        "`Cache` class instead.",
        f"{_SITE}/gradio/utils.py:1002: UserWarning: Expected 2 arguments for function <function predict at "
        f"0x7f{n:04x}c0>, received 1.",
        "Token indices sequence length is longer than the specified maximum sequence length for this model "
        f"({n} > 512). Running this sequence through the model will result in indexing errors",
        "We detected that you are passing `past_key_values` as a tuple and this is deprecated.",
        f"{_SITE}/torch/nn/modules/conv.py:456: UserWarning: Plan failed with a cudnnException: "
        "CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR: cudnnFinalize Descriptor Failed cudnn_status: "
        "CUDNN_STATUS_NOT_SUPPORTED (Triggered internally at ../aten/src/ATen/native/cudnn/Conv_v8.cpp:919.)",
        "xFormers not available; falling back to the default attention processor",
        "Xformers is not installed correctly. If you want to use memory_efficient_attention to accelerate "
        "training use the following command to install Xformers",
        "WARNING: Running pip as the 'root' user can result in broken permissions and conflicting behaviour with "
        "the system package manager. It is recommended to use a virtual environment instead.",
        "[notice] A new release of pip is available: 24.0 -> 24.3.1",
        "[notice] To update, run: pip install --upgrade pip",
        f"{_SITE}/gradio/blocks.py:1043: UserWarning: api_name predict already exists, using predict_{n % 9}",
        "Could not find image processor class in the image processor config or the model config. Loading "
        "based on pattern matching with the model's feature extractor configuration.",
        "Special tokens have been added in the vocabulary, make sure the associated word embeddings are "
        "fine-tuned or trained.",
    ]


def _app(r: random.Random, t: str) -> str:
    m = r.choice(_MODELS)
    return r.choice([
        f"{t} - INFO - changing the scheduler to DPMSolverMultistepScheduler for {m}",
        f"{t} - INFO - exchanging the LoRA adapter: {r.randint(1, 40)} layers patched",
        f"{t} - INFO - loaded {r.randint(10, 5000)} examples from the cache in {r.random() * 3:.2f}s",
        f"{t} - INFO - request {r.getrandbits(32):08x}: {r.randint(1, 60)} steps, guidance {r.random() * 9:.1f}",
        f"{t} - INFO - archive of previous outputs written to /tmp/outputs/{r.getrandbits(24):06x}.zip",
        f"{t} - INFO - session {r.getrandbits(40):010x} closed after {r.randint(1, 900)}s",
        f"{t} - WARNING - prompt truncated to 77 tokens (was {r.randint(78, 300)})",
        f"{t} - WARNING - slow request: {r.random() * 8 + 2:.1f}s above the 2.0s budget, queue size "
        f"{r.randint(0, 12)}",
        f"{t} - INFO - cache hit ratio {r.random():.2f} over the last {r.randint(100, 999)} requests",
        f"{t} - INFO - rebalancing the worker pool: {r.randint(1, 4)} workers",
        f"{t} - INFO - Loading {m} in float16 on cuda:0",
        f"{t} - INFO - generation done in {r.random() * 20:.2f}s, {r.randint(10, 2048)} new tokens",
        f"{t} - DEBUG - timestamps aligned for {r.randint(1, 99)} segments",
        f"{t} - INFO - settings changed by the user: temperature={r.random():.2f} top_p=0.95",
        f"{t} - INFO - scheduled cleanup of {r.randint(0, 50)} temporary files",
    ])


def _progress(r: random.Random) -> str:
    total = r.randint(10, 1000)
    done = r.randint(0, total)
    pct = done * 100 // total
    bar = "█" * (pct // 10) + " " * (10 - pct // 10)
    what = r.choice(["Loading checkpoint shards", "model.safetensors", "Fetching 15 files",
                     "Loading pipeline components...", "diffusion_pytorch_model.safetensors", "Map",
                     "tokenizer.json", "config.json", f"step {r.randint(1, 50)}", "Generating train split"])
    return (f"{what}: {pct:3d}%|{bar}| {done}/{total} [00:{r.randint(0, 59):02d}<00:{r.randint(0, 59):02d}, "
            f"{r.random() * 40:.2f}it/s]")


def _pip(r: random.Random) -> str:
    p = r.choice(_PKGS)
    name = p.split("=")[0].split("<")[0]
    return r.choice([
        f"Collecting {p}",
        f"  Downloading {name}-1.2.3-py3-none-any.whl.metadata ({r.randint(1, 90)} kB)",
        f"Requirement already satisfied: {name} in {_SITE} (from -r requirements.txt (line {r.randint(1, 30)}))",
        f"  Using cached {name}-1.2.3-py3-none-any.whl ({r.randint(1, 900)} kB)",
        f"Successfully installed {name}-1.2.3 filelock-3.16.1 fsspec-2024.10.0",
        f"Installing collected packages: {name}, tqdm, regex",
        f"  Attempting uninstall: {name}",
        f"    Found existing installation: {name} 1.2.2",
    ])


def ordinary_lines(seed: int = 11) -> Iterator[str]:
    """An endless, deterministic stream of ordinary log lines (about 40% warnings)."""
    r = random.Random(seed)
    clock = 1_780_000_000
    while True:
        clock += r.randint(0, 3)
        t = f"2026-06-01 {(clock // 3600) % 24:02d}:{(clock // 60) % 60:02d}:{clock % 60:02d},{r.randint(0, 999):03d}"
        kind = r.random()
        if kind < 0.40:
            warnings = _warnings(r)
            i = r.randrange(len(warnings))
            yield from warnings[i:i + r.choice((1, 1, 2, 3))]
        elif kind < 0.62:
            ip = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
            path = r.choice(_PATHS).format(h=f"{r.getrandbits(40):010x}")
            verb = "POST" if "join" in path or "upload" in path else "GET"
            yield f'INFO:     {ip}:{r.randint(1024, 65535)} - "{verb} {path} HTTP/1.1" {r.choice((200, 200, 200, 304))} OK'
        elif kind < 0.80:
            yield _app(r, t)
        elif kind < 0.92:
            yield _progress(r)
        else:
            yield _pip(r)


def ordinary_text(max_bytes: int, seed: int = 11) -> str:
    """About `max_bytes` of ordinary log text, whole lines."""
    out, size = [], 0
    for line in ordinary_lines(seed):
        out.append(line)
        size += len(line) + 1
        if size >= max_bytes:
            break
    return "\n".join(out) + "\n"
