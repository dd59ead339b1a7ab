"""`hfdiag preflight [PATH]`: offline checks of a Space repo checkout, before a push.

The scanner only *observes* the checkout and produces `preflight.*` facts (declared at the end of
rules/facts.yaml); every finding is a rule (rules/<bucket>/HFD-*-06x.yaml) evaluated by the same engine as
`check` and `explain`. Rules of preflight use only `preflight.*` facts, so they stay silent in check/explain;
in preflight mode only those rules are evaluated (a check rule over a missing fact must not colour the verdict).

Facts are emitted completely (false / 0 / [] when nothing was found) so that a clean checkout is `healthy`, not
`inconclusive`. The file and line behind a fact are kept as `locations` and attached to the findings that use it
(GitHub annotations point at them).

Limits used (and where they come from; also cited in the rules' references):
- LFS_THRESHOLD = 10 MiB: the Hub rejects pushes of files over 10 MB that Git LFS / Xet does not track
  (Spaces "Managing Spaces with GitHub Actions": `filesizelimit: 10485760 # this is 10MB so we can sync to HF Spaces`).
- MAX_FILE = 50 GB: per-file hard limit (Hub "Storage limits" / "Repository limitations": "Per file: 50GB max,
  20GB recommended").
- ZeroGPU runtime: PyTorch 2.8.0+ and Gradio 4+ (Hub docs "Spaces ZeroGPU", supported versions; the Blackwell
  update moved the PyTorch floor from 2.1.0 to 2.8.0). Kernel packages whose builds predate sm_120 support:
  xformers < 0.0.30, flash-attn < 2.8.0, triton < 3.3.0.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from hfdiag.errors import UsageError
from hfdiag.evidence.model import Fact, FactSet

LFS_THRESHOLD = 10 * 1024 * 1024
MAX_FILE = 50 * 1000 ** 3
SDKS = ("gradio", "docker", "static", "streamlit")
DEFAULT_APP_PORT = 7860
TORCH_MIN = (2, 8)
GRADIO_MIN = (4,)
ARCH_MIN = {"xformers": (0, 0, 30), "flash-attn": (2, 8, 0), "triton": (3, 3, 0)}
SKIP_DIRS = {".git", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
MAX_SCAN_FILES = 50_000
MAX_TEXT_BYTES = 2 * 1024 * 1024

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_SPEC = re.compile(r"(===|==|~=|!=|<=|>=|<|>)\s*([A-Za-z0-9.*+!_-]+)")
_GIT_DEP = re.compile(r"(?:^|\s|@\s*)(git\+(?:https?|ssh|git|file)://[^\s;#]+)")
_CUDA_INIT = re.compile(r"""\.cuda\(|\.to\(\s*['"]cuda|device\s*=\s*['"]cuda|torch\.cuda\.(?:init|set_device|current_device|synchronize|manual_seed|get_device_name|mem_get_info)\b""")
_SPACES_IMPORT = re.compile(r"^(?:import\s+spaces\b|from\s+spaces\s+import\b)")
_GPU_DECORATOR = re.compile(r"@spaces\.GPU\b|from\s+spaces\s+import\s+.*\bGPU\b")


@dataclass
class Location:
    file: str
    line: int | None = None

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line} if self.line else {"file": self.file}


@dataclass
class PreflightScan:
    path: Path
    facts: dict = field(default_factory=dict)
    locations: dict[str, list[Location]] = field(default_factory=dict)

    def set(self, key: str, value, loc: Location | None = None) -> None:
        self.facts[key] = value
        if loc is not None:
            self.locations.setdefault(key, []).append(loc)

    def fact_set(self) -> FactSet:
        return FactSet(Fact(k, v, "preflight") for k, v in self.facts.items())


# -- versions --------------------------------------------------------------------------------------------------------
def version_tuple(text: str) -> tuple[int, ...] | None:
    m = re.match(r"^\s*v?(\d+(?:\.\d+)*)", text or "")
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split("."))


def _pad(v: tuple[int, ...], n: int = 4) -> tuple[int, ...]:
    return tuple(v) + (0,) * (n - len(v))


def max_allowed(spec: str) -> tuple[tuple[int, ...], bool] | None:
    """The highest version a specifier allows, as (version, inclusive); None when unbounded above."""
    best: tuple[tuple[int, ...], bool] | None = None
    for op, raw in _SPEC.findall(spec):
        v = version_tuple(raw.replace("*", "0"))
        if v is None:
            continue
        cand = None
        if op in ("==", "==="):
            if "*" in raw:  # ==2.4.* allows everything below 2.5
                parts = [int(x) for x in re.findall(r"\d+", raw.split("*")[0])]
                if parts:
                    cand = (tuple(parts[:-1]) + (parts[-1] + 1,), False)
            else:
                cand = (v, True)
        elif op == "<=":
            cand = (v, True)
        elif op == "<":
            cand = (v, False)
        elif op == "~=":
            parts = list(v)
            if len(parts) >= 2:
                parts = parts[:-1]
                parts[-1] += 1
                cand = (tuple(parts), False)
        if cand is not None and (best is None or _pad(cand[0]) < _pad(best[0])):
            best = cand
    return best


def forces_below(spec: str, minimum: tuple[int, ...]) -> bool:
    """True when every version the specifier allows is older than `minimum`."""
    top = max_allowed(spec)
    if top is None:
        return False
    v, inclusive = top
    return _pad(v) < _pad(minimum) or (not inclusive and _pad(v) <= _pad(minimum))


# -- requirements ------------------------------------------------------------------------------------------------------
@dataclass
class Requirement:
    name: str
    spec: str
    raw: str
    file: str
    line: int | None


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirements(text: str, file: str) -> tuple[list[Requirement], list[tuple[str, Location]]]:
    """(requirements, git dependencies without a pinned ref)."""
    reqs: list[Requirement] = []
    git: list[tuple[str, Location]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        gm = _GIT_DEP.search(line)
        if gm:
            url = gm.group(1)
            if not _git_pinned(url):
                git.append((_short_git(url), Location(file, n)))
            name = line.split("@", 1)[0].strip() if "@" in line.split("git+", 1)[0] else ""
            if name:
                reqs.append(Requirement(_norm(name), "", line, file, n))
            continue
        if line.startswith("-"):
            continue  # -r, -c, --extra-index-url ...: not a requirement
        line = line.split(";", 1)[0].strip()
        m = _REQ_NAME.match(line)
        if not m:
            continue
        reqs.append(Requirement(_norm(m.group(1)), m.group(3).strip(), raw.strip(), file, n))
    return reqs, git


def _git_pinned(url: str) -> bool:
    """A git URL is pinned by `@<ref>` after the repository path (a 40-hex commit, or at least a tag/branch)."""
    path = url.split("://", 1)[1]
    path = path.split("#", 1)[0]
    host_and_path = path.split("/", 1)[1] if "/" in path else ""
    return "@" in host_and_path


def _short_git(url: str) -> str:
    return url.split("#", 1)[0][:120]


def _pyproject_requirements(path: Path) -> tuple[list[Requirement], list[tuple[str, Location]]]:
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            return [], []
    try:
        data = tomllib.loads(_read_text(path))
    except (ValueError, UnicodeDecodeError):
        return [], []
    deps = list((data.get("project") or {}).get("dependencies") or [])
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    reqs, git = [], []
    for dep in deps:
        if not isinstance(dep, str):
            continue
        line_no = next((i for i, t in enumerate(text, 1) if dep in t), None)
        r, g = parse_requirements(dep, "pyproject.toml")
        for x in r:
            x.line = line_no
        git += [(u, Location("pyproject.toml", line_no)) for u, _ in g]
        reqs += r
    return reqs, git


# -- README front matter ------------------------------------------------------------------------------------------------
def front_matter(text: str) -> tuple[dict | None, str | None]:
    """(card data, error). The block between the first two `---` lines at the top of README.md."""
    import yaml

    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None, "README.md has no YAML front matter (the Space configuration block between --- lines)"
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        return None, "README.md front matter is not closed by a --- line"
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark else ""
        return None, f"README.md front matter is not valid YAML{where} ({getattr(e, 'problem', None) or 'parse error'})"
    if not isinstance(data, dict):
        return None, "README.md front matter is not a mapping of keys"
    return data, None


def _read_text(path: Path) -> str:
    with path.open("rb") as fh:
        return fh.read(MAX_TEXT_BYTES).decode("utf-8", errors="replace")


def _lfs_patterns(root: Path) -> list[str]:
    f = root / ".gitattributes"
    if not f.is_file():
        return []
    pats = []
    for line in _read_text(f).splitlines():
        parts = line.split()
        if len(parts) >= 2 and any(p in ("filter=lfs", "filter=xet") for p in parts[1:]):
            pats.append(parts[0])
    return pats


def _tracked_by_lfs(rel: str, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    for p in patterns:
        p2 = p.lstrip("/")
        if "/" in p2:
            if fnmatch.fnmatchcase(rel, p2) or fnmatch.fnmatchcase(rel, p2.replace("**/", "")):
                return True
        elif fnmatch.fnmatchcase(name, p2):
            return True
    return False


def _walk(root: Path):
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for fn in sorted(filenames):
            count += 1
            if count > MAX_SCAN_FILES:
                return
            yield Path(dirpath) / fn


def _human_size(n: int) -> str:
    for unit, size in (("GB", 1000 ** 3), ("MB", 1000 ** 2), ("kB", 1000)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


# -- the scanner ----------------------------------------------------------------------------------------------------------
def scan(path: Path, zerogpu: bool | None = None) -> PreflightScan:
    root = Path(path)
    if not root.exists():
        raise UsageError(f"{path}: no such directory")
    if not root.is_dir():
        raise UsageError(f"{path}: not a directory (give the Space repo checkout)")
    s = PreflightScan(root)
    s.set("preflight.ran", True)

    # README front matter
    readme = root / "README.md"
    card: dict = {}
    if not readme.is_file():
        s.set("preflight.front_matter_ok", False, Location("README.md"))
        s.set("preflight.front_matter_error", "there is no README.md (it holds the Space configuration)")
    else:
        data, err = front_matter(_read_text(readme))
        s.set("preflight.front_matter_ok", err is None, Location("README.md", 1) if err else None)
        if err:
            s.set("preflight.front_matter_error", err)
        else:
            card = data or {}
    if card or (readme.is_file() and "preflight.front_matter_error" not in s.facts):
        sdk = card.get("sdk")
        s.set("preflight.sdk", str(sdk) if sdk is not None else "")
        s.set("preflight.sdk_valid", sdk in SDKS, None if sdk in SDKS else _line_of(readme, "sdk:") or Location("README.md", 1))
        sdk_version = card.get("sdk_version")
        if sdk_version is not None:
            s.set("preflight.sdk_version", str(sdk_version))
        s.set("preflight.sdk_version_missing", sdk in ("gradio", "streamlit") and sdk_version is None,
              Location("README.md", 1) if sdk in ("gradio", "streamlit") and sdk_version is None else None)
        if sdk in ("gradio", "streamlit"):
            app_file = str(card.get("app_file") or "app.py")
            s.set("preflight.app_file", app_file)
            exists = (root / app_file).is_file()
            s.set("preflight.app_file_exists", exists, None if exists else _line_of(readme, "app_file:") or Location("README.md", 1))
        if sdk == "docker":
            _docker(s, root, card, readme)
        hw = str(card.get("suggested_hardware") or "")
        if hw:
            s.set("preflight.suggested_hardware", hw)

    # dependencies
    reqs: list[Requirement] = []
    git: list[tuple[str, Location]] = []
    req_file = root / "requirements.txt"
    if req_file.is_file():
        r, g = parse_requirements(_read_text(req_file), "requirements.txt")
        reqs += r
        git += g
    if (root / "pyproject.toml").is_file():
        r, g = _pyproject_requirements(root / "pyproject.toml")
        reqs += r
        git += g
    s.set("preflight.requirements", sorted({r.raw for r in reqs})[:50])
    s.set("preflight.unpinned_git_deps", [u for u, _ in git])
    s.set("preflight.unpinned_git_count", len(git))
    for _, loc in git:
        s.locations.setdefault("preflight.unpinned_git_count", []).append(loc)

    # ZeroGPU: declared hardware, the spaces package in use, or --zerogpu
    py_files = [p for p in _walk(root) if p.suffix == ".py"][:2000]
    uses_gpu_decorator = None
    for p in py_files:
        text = _read_text(p)
        m = _GPU_DECORATOR.search(text)
        if m:
            uses_gpu_decorator = Location(_rel(root, p), text[: m.start()].count("\n") + 1)
            break
    detected = str(card.get("suggested_hardware") or "").startswith("zero") or uses_gpu_decorator is not None
    s.set("preflight.zerogpu", bool(zerogpu) if zerogpu is not None else detected)
    s.set("preflight.zerogpu_source", "--zerogpu" if zerogpu is not None else
          "suggested_hardware" if str(card.get("suggested_hardware") or "").startswith("zero") else
          "@spaces.GPU" if uses_gpu_decorator else "none")

    # versions against the ZeroGPU runtime
    by_name = {}
    for r in reqs:
        by_name.setdefault(r.name, r)
    torch = by_name.get("torch")
    s.set("preflight.torch_spec", torch.spec if torch and torch.spec else ("unpinned" if torch else "not required"))
    old_torch = bool(torch and torch.spec and forces_below(torch.spec, TORCH_MIN))
    s.set("preflight.torch_too_old", old_torch, Location(torch.file, torch.line) if old_torch else None)
    arch = []
    for pkg, minimum in ARCH_MIN.items():
        r = by_name.get(pkg)
        if r is not None and r.spec and forces_below(r.spec, minimum):
            arch.append(f"{pkg}{r.spec}")
            s.locations.setdefault("preflight.arch_pkg_count", []).append(Location(r.file, r.line))
    s.set("preflight.arch_pkgs_without_sm120", arch)
    s.set("preflight.arch_pkg_count", len(arch))
    gradio_req = by_name.get("gradio")
    gspec, gloc = None, None
    if str(card.get("sdk") or "") == "gradio" and card.get("sdk_version") is not None:
        gspec, gloc = f"=={card['sdk_version']}", _line_of(readme, "sdk_version:")
    elif gradio_req is not None and gradio_req.spec:
        gspec, gloc = gradio_req.spec, Location(gradio_req.file, gradio_req.line)
    s.set("preflight.gradio_spec", gspec or "not pinned")
    old_gradio = bool(gspec and forces_below(gspec, GRADIO_MIN))
    s.set("preflight.gradio_too_old", old_gradio, gloc if old_gradio else None)

    # `spaces` imported after CUDA was initialised (module level of the app file)
    app_file = root / str(s.facts.get("preflight.app_file") or "app.py")
    after, cuda_at, spaces_at = False, None, None
    if app_file.is_file():
        cuda_line = None
        for n, line in enumerate(_read_text(app_file).splitlines(), 1):
            if line[:1].isspace():
                continue  # inside a function or block: not run at import time
            code = line.split("#", 1)[0]
            if cuda_line is None and _CUDA_INIT.search(code):
                cuda_line = n
            if _SPACES_IMPORT.match(code):
                spaces_at = n
                after = cuda_line is not None
                cuda_at = cuda_line
                break
    rel_app = _rel(root, app_file)
    s.set("preflight.spaces_after_cuda", after, Location(rel_app, spaces_at) if after else None)
    if after:
        s.set("preflight.cuda_init_at", f"{rel_app}:{cuda_at}")
        s.set("preflight.spaces_import_at", f"{rel_app}:{spaces_at}")

    # file sizes against the Hub's limits
    patterns = _lfs_patterns(root)
    over_lfs, over_max, scanned = [], [], 0
    for p in _walk(root):
        scanned += 1
        try:
            size = p.lstat().st_size
        except OSError:
            continue
        rel = _rel(root, p)
        if size > MAX_FILE:
            over_max.append(f"{rel} ({_human_size(size)})")
            s.locations.setdefault("preflight.files_over_max_count", []).append(Location(rel))
        if size > LFS_THRESHOLD and not _tracked_by_lfs(rel, patterns):
            over_lfs.append(f"{rel} ({_human_size(size)})")
            s.locations.setdefault("preflight.files_over_lfs_count", []).append(Location(rel))
    s.set("preflight.files_scanned", scanned)
    s.set("preflight.files_over_lfs", over_lfs[:50])
    s.set("preflight.files_over_lfs_count", len(over_lfs))
    s.set("preflight.files_over_max", over_max[:50])
    s.set("preflight.files_over_max_count", len(over_max))
    return s


def _docker(s: PreflightScan, root: Path, card: dict, readme: Path) -> None:
    port = card.get("app_port")
    app_port = int(port) if isinstance(port, int) or (isinstance(port, str) and port.isdigit()) else DEFAULT_APP_PORT
    s.set("preflight.app_port", app_port)
    dockerfile = root / "Dockerfile"
    s.set("preflight.dockerfile_exists", dockerfile.is_file())
    if not dockerfile.is_file():
        s.set("preflight.app_file_exists", False, Location("Dockerfile"))
        s.set("preflight.app_file", "Dockerfile")
        return
    s.set("preflight.app_file", "Dockerfile")
    s.set("preflight.app_file_exists", True)
    exposed, where = [], None
    listen = re.compile(r"(?:--port[ =]|--server\.port[ =]|-p\s|:)(\d{2,5})\b")
    for n, line in enumerate(_read_text(dockerfile).splitlines(), 1):
        t = line.strip()
        m = re.match(r"(?i)^EXPOSE\s+(\d{2,5})", t)
        if m:
            exposed.append(int(m.group(1)))
            where = where or n
        elif re.match(r"(?i)^(CMD|ENTRYPOINT)\b", t):
            for pm in listen.finditer(t):
                exposed.append(int(pm.group(1)))
                where = where or n
    if exposed:
        s.set("preflight.docker_port", exposed[0])
    mismatch = bool(exposed) and app_port not in exposed
    loc = None
    if mismatch:
        loc = _line_of(readme, "app_port:") or Location("Dockerfile", where)
    s.set("preflight.docker_port_mismatch", mismatch, loc)


def _line_of(path: Path, prefix: str) -> Location | None:
    try:
        for n, line in enumerate(_read_text(path).splitlines(), 1):
            if line.strip().startswith(prefix):
                return Location(path.name, n)
    except OSError:
        return None
    return None


def _rel(root: Path, p: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return p.name


# -- from facts to a report --------------------------------------------------------------------------------------------
def condition_facts(node) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        if "fact" in node:
            out.add(node["fact"])
        for k in ("all", "any"):
            for child in node.get(k) or []:
                out |= condition_facts(child)
        if "not" in node:
            out |= condition_facts(node["not"])
    return out


def preflight_rules(kb):
    """The rules whose every leaf is a `preflight.*` fact."""
    from hfdiag.engine.rules import RuleSet

    return RuleSet([r for r in kb.rules if (fs := condition_facts(r.when)) and all(f.startswith("preflight.") for f in fs)])


def preflight_report(path: Path, kb, zerogpu: bool | None = None) -> dict:
    import copy

    from hfdiag.engine.verdict import diagnose
    from hfdiag.redact import Redactor
    from hfdiag.report import build_report

    s = scan(path, zerogpu)
    view = copy.copy(kb)
    view.rules = preflight_rules(kb)
    diagnosis = diagnose(view, s.fact_set())
    report = build_report(diagnosis, mode="preflight", target=str(path), redactor=Redactor())
    if report["verdict"]["bucket"] != "healthy":  # "nothing found" next to findings would contradict them
        report["findings"] = [f for f in report["findings"] if f["bucket"] != "healthy"]
    for f in report["findings"]:
        rule = view.rules.by_id.get(f["id"])
        if rule is None:
            continue
        locs = []
        for key in sorted(condition_facts(rule.when)):
            locs += [loc.to_dict() for loc in s.locations.get(key, [])]
        if locs:
            f["locations"] = locs[:20]
    return report
