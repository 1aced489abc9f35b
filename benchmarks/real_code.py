"""Real code nobody here wrote: run the checker over published loss code.

Two parts:

* the loss sources shipped with the installed keras and tf_keras (verdicts in
  benchmarks/real_code_report.md);
* a corpus of pinned packages that ship custom losses, fetched with ``pip download --no-deps``
  into ``~/.cache/loss-lsp/corpus`` (never committed; ``LOSS_LSP_CORPUS`` overrides the place).
  Every finding there has a verdict in benchmarks/triage/real_code.toml; this prints lines,
  findings, findings per 10,000 lines, false findings per 10,000 lines and the time beside
  ``ast.parse`` of the same files.

``python benchmarks/real_code.py`` runs both; ``--corpus`` only the pinned packages.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import statistics
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loss_lsp.checker import analyze, clear_caches  # noqa: E402
from loss_lsp.engine.chunks import parse_quietly  # noqa: E402
from loss_lsp.engine import Workspace  # noqa: E402
from loss_lsp.engine.findings import Finding  # noqa: E402

# Packages that ship custom Keras/TensorFlow losses, pinned (the triage file refers to these lines).
FIRST = (
    "keras-unet-collection==0.1.13",
    "ivis==2.0.11",
    "deepchem==2.8.0",
    "kgcnn==4.0.2",
    "keras-retinanet==1.0.0",
    "yolov4==3.2.0",
    "larq==0.14.0",
    "sciann==0.7.0.1",
    "keras-ocr==0.9.3",
    "tensorflow-recommenders==0.7.7",
)
# Added to widen the evidence after the rules were tuned on the packages above (first triaged unchanged).
WIDENED = (
    "segmentation-models==1.0.1",
    "tensorflow-addons==0.23.0",
    "focal-loss==0.0.7",
    "tensorflow-similarity==0.17.1",
    "keras-cv==0.9.0",
    "keras-cv-attention-models==1.4.3",
)
PINS = FIRST + WIDENED
TRIAGE = Path(__file__).resolve().parent / "triage" / "real_code.toml"


@dataclass(frozen=True)
class Key:
    """A finding as the triage file names it (paths relative to the unpacked package)."""
    package: str
    path: str
    line: int  # 1-based
    code: str


@dataclass
class PackageRun:
    pin: str
    files: int
    lines: int
    losses: int
    findings: list[tuple[Key, Finding]]
    errors: list[str]
    seconds: float
    parse_seconds: float


def corpus_dir() -> Path:
    return Path(os.environ.get("LOSS_LSP_CORPUS", Path.home() / ".cache" / "loss-lsp" / "corpus"))


def _normal(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _archive(pin: str) -> Path | None:
    name, version = pin.split("==")
    for path in corpus_dir().glob("*"):
        stem = _normal(path.name)
        if stem.startswith(f"{_normal(name)}_{_normal(version)}") and path.suffix in (".whl", ".gz", ".zip"):
            return path
    return None


def _wanted(member: str) -> bool:
    """The Python files, and the wheel's own declaration of what it needs (``*.dist-info/METADATA``: an
    installed package's requirements decide which Keras it targets, as in a site-packages)."""
    return member.endswith(".py") or (".dist-info/" in member and member.endswith(("/METADATA", "/top_level.txt")))


def fetch(pin: str) -> Path:
    """The unpacked source tree of one pinned package (downloaded from PyPI when missing)."""
    target = corpus_dir() / "unpacked" / pin.replace("==", "-")
    if target.is_dir():
        return target
    archive = _archive(pin)
    if archive is None:
        corpus_dir().mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", pin,
                        "-d", str(corpus_dir())], check=True, capture_output=True, timeout=300)
        archive = _archive(pin)
        if archive is None:
            raise RuntimeError(f"pip download {pin} produced no archive in {corpus_dir()}")
    partial = target.with_suffix(".partial")
    partial.mkdir(parents=True, exist_ok=True)
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            z.extractall(partial, [m for m in z.namelist() if _wanted(m)])
    else:
        with tarfile.open(archive) as t:
            t.extractall(partial, [m for m in t.getmembers() if _wanted(m.name) and m.isfile()],
                         filter="data")
    partial.rename(target)
    return target


def check_package(pin: str) -> PackageRun:
    """Run the checker over every Python file of one package, the way ``loss-lsp check`` does."""
    root = fetch(pin)
    files = sorted(root.rglob("*.py"))
    sources = {f: f.read_text(encoding="utf-8", errors="replace") for f in files}
    start = time.perf_counter()
    for text in sources.values():
        try:
            parse_quietly(text)
        except SyntaxError:
            pass
    parse_seconds = time.perf_counter() - start
    clear_caches()
    start = time.perf_counter()
    workspace = Workspace(root)
    workspace.index(files)
    analyses = {f: analyze(text, str(f), workspace=workspace) for f, text in sources.items()}
    seconds = time.perf_counter() - start
    found = []
    errors = []
    for path, analysis in analyses.items():
        rel = path.relative_to(root).as_posix()
        for finding in analysis.findings:
            found.append((Key(pin, rel, finding.span.start_line + 1, finding.code), finding))
        errors += [f"{rel}: {e.message}" for e in analysis.errors]
    return PackageRun(pin, len(files), sum(s.count("\n") for s in sources.values()),
                      sum(len(a.losses) for a in analyses.values()), found, errors, seconds, parse_seconds)


def load_triage(path: Path = TRIAGE) -> dict[Key, dict[str, str]]:
    """Verdicts by finding; ``[[miss]]`` entries (real problems with no finding) are not included."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {Key(e["package"], e["path"], int(e["line"]), e["code"]): e for e in data.get("finding", [])}


def load_misses(path: Path = TRIAGE) -> list[dict[str, str]]:
    return tomllib.loads(path.read_text(encoding="utf-8")).get("miss", [])


def run_corpus() -> None:
    triage = load_triage()
    runs = [check_package(pin) for pin in PINS]
    print(f"{'package':36} {'files':>5} {'lines':>7} {'losses':>6} {'found':>5} {'false':>5} "
          f"{'check ms':>8} {'parse ms':>8}")
    untriaged: list[tuple[Key, Finding]] = []
    for run in runs:
        false = 0
        for key, finding in run.findings:
            verdict = triage.get(key, {}).get("verdict", "untriaged")
            false += verdict == "false"
            if verdict == "untriaged":
                untriaged.append((key, finding))
        print(f"{run.pin:36} {run.files:5} {run.lines:7} {run.losses:6} {len(run.findings):5} {false:5} "
              f"{run.seconds * 1000:8.0f} {run.parse_seconds * 1000:8.0f}")
    for label, group in (("first corpus", FIRST), ("widened", WIDENED), ("all", PINS)):
        chosen = [r for r in runs if r.pin in group]
        lines = sum(r.lines for r in chosen)
        found = [key for r in chosen for key, _ in r.findings]
        counts: dict[str, int] = {}
        for key in found:
            verdict = triage.get(key, {}).get("verdict", "untriaged")
            counts[verdict] = counts.get(verdict, 0) + 1
        print(f"{label}: {len(chosen)} packages, {lines} lines, {sum(r.losses for r in chosen)} losses, "
              f"{len(found)} findings ({len(found) / lines * 10_000:.2f} per 10,000 lines), "
              f"verdicts {dict(sorted(counts.items()))}, false per 10,000 lines "
              f"{counts.get('false', 0) / lines * 10_000:.2f} (aim: at most 1)")
    check_s = sum(r.seconds for r in runs)
    parse_s = sum(r.parse_seconds for r in runs)
    print(f"time: check {check_s:.2f} s, ast.parse {parse_s:.2f} s ({check_s / parse_s:.1f}x)")
    present = {key for run in runs for key, _ in run.findings}
    gone = [k for k, e in triage.items() if e["verdict"] == "true" and k not in present]
    for key in gone:
        print(f"LOST (triaged true, no longer found): {key.package} {key.path}:{key.line} {key.code}")
    misses = load_misses()
    open_misses = [m for m in misses if not m.get("found_by")]
    print(f"recall: {len(misses)} real problems recorded without a finding at triage time, "
          f"{len(open_misses)} still marked open")
    for key, finding in untriaged:
        print(f"UNTRIAGED {key.package} {key.path}:{key.line}: {key.code} {finding.message}")
    for run in runs:
        for error in run.errors:
            print(f"{run.pin}: error: {error}")


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{name} is not installed")
    return Path(spec.origin).parent


def loss_files() -> list[Path]:
    keras = package_dir("keras") / "src"
    tf_keras = package_dir("tf_keras") / "src"
    files = sorted((keras / "losses").glob("*.py")) + [tf_keras / "losses.py"]
    return [f for f in files if not f.name.endswith("_test.py")]


def run_keras() -> None:
    files = loss_files()
    sources = {f: f.read_text(encoding="utf-8") for f in files}
    lines = sum(s.count("\n") for s in sources.values())
    runs = []
    results = {}
    for _ in range(5):
        clear_caches()
        start = time.perf_counter()
        results = {f: analyze(s, str(f)) for f, s in sources.items()}
        runs.append(time.perf_counter() - start)
    losses = sum(len(a.losses) for a in results.values())
    findings = [f for a in results.values() for f in a.findings]
    print(f"{len(files)} files, {lines} lines, {losses} losses found, {len(findings)} findings")
    print(f"analysis (cold, median of 5): {statistics.median(runs) * 1000:.0f} ms "
          f"({lines / statistics.median(runs):.0f} lines/s)")
    for finding in findings:
        print(f"{finding.path}:{finding.span.start_line + 1}: {finding.code} {finding.message}")
    for path, analysis in results.items():
        for error in analysis.errors:
            print(f"{path}: error: {error.message}")


def main() -> None:
    if "--corpus" not in sys.argv:
        print("== keras and tf_keras loss sources")
        run_keras()
        print()
    print(f"== pinned packages ({corpus_dir()})")
    run_corpus()


if __name__ == "__main__":
    main()
