"""Real training code nobody here wrote: custom loops, train_step overrides, add_loss, minimize.

Downloads pinned wheels (``pip download --no-deps``) into ``~/.cache/loss-lsp/training-corpus`` (never
into the repository), runs the checker over their modules (tests excluded) with the workspace index over each package, as
``loss-lsp check`` does, and prints, per package: lines, computations found from their sinks (by sink
kind), how many of those are helpers reached from a sink in another module (``cross``), findings per
10,000 lines, and the analysis time (indexing included) beside ``ast.parse`` of the same files, then
every finding. Each finding is read and recorded with a
verdict in ``benchmarks/triage/training_code.toml``; ``tests/engine/test_training_code.py`` fails when a
finding triaged false comes back.

    PYTHONPATH=$PWD python benchmarks/training_code.py
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
import tomllib
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loss_lsp.checker import analyze, clear_caches  # noqa: E402
from loss_lsp.engine.chunks import parse_quietly  # noqa: E402
from loss_lsp.engine import Analysis, Workspace  # noqa: E402

CACHE = Path.home() / ".cache" / "loss-lsp" / "training-corpus"
TRIAGE = Path(__file__).resolve().parent / "triage" / "training_code.toml"
PACKAGES = [  # (distribution, pinned version): packages that train with custom loops or train_step
    ("tensorflow-recommenders", "0.7.7"),
    ("neural-structured-learning", "1.4.0"),
    ("tf-agents", "0.19.0"),
    ("gpflow", "2.9.2"),
    ("deepxde", "1.13.0"),
    ("keras-ocr", "0.9.3"),
]


@dataclass(frozen=True)
class Source:
    package: str
    path: str  # inside the wheel: "tf_agents/agents/dqn/dqn_agent.py"
    text: str


def _wheel(name: str, version: str) -> Path | None:
    stem = name.replace("-", "_").lower()
    for path in CACHE.glob("*.whl"):
        dist, _, rest = path.name.partition("-")
        if dist.lower().replace("-", "_") == stem and rest.startswith(f"{version}-"):
            return path
    return None


def ensure_wheels() -> dict[str, Path]:
    """The pinned wheels, downloaded when missing (no dependencies: only their own code is read)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = {}
    for name, version in PACKAGES:
        wheel = _wheel(name, version)
        if wheel is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                            "-d", str(CACHE), f"{name}=={version}"], check=True)
            wheel = _wheel(name, version)
        if wheel is None:
            raise SystemExit(f"{name}=={version}: no wheel in {CACHE}")
        wheels[name] = wheel
    return wheels


def _is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.endswith("_test.py") or name.startswith("test_") or "/tests/" in path or "/testing/" in path


def sources() -> list[Source]:
    out = []
    for name, wheel in ensure_wheels().items():
        with zipfile.ZipFile(wheel) as archive:
            for member in sorted(archive.namelist()):
                if member.endswith(".py") and not _is_test(member):
                    out.append(Source(name, member, archive.read(member).decode("utf-8", errors="replace")))
    return out


def unpacked(package: str, files: list[Source]) -> Path:
    """The package's modules as files (the workspace index reads them from disk, as ``loss-lsp check`` does)."""
    root = CACHE / "src" / package
    for f in files:
        path = root / f.path
        if not path.is_file() or path.read_text(encoding="utf-8", errors="replace") != f.text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f.text, encoding="utf-8")
    return root


def run(files: list[Source]) -> dict[Source, Analysis]:
    """Each package's files checked together, with the workspace index over them (helpers and loss bases of
    other modules are resolved the way ``loss-lsp check pkg/`` resolves them)."""
    clear_caches()
    results = {}
    for package in dict.fromkeys(f.package for f in files):
        mine = [f for f in files if f.package == package]
        root = unpacked(package, mine)
        workspace = Workspace(root)
        workspace.index([root / f.path for f in mine])
        results.update({f: analyze(f.text, str(root / f.path), workspace=workspace) for f in mine})
    return results


def reached_from_elsewhere(analysis: Analysis) -> int:
    """Computations of this module that a sink of another module reaches (helpers called from there)."""
    return sum(1 for info in analysis.losses if info.kind == "computation"
               and any(site.path != analysis.path for site in info.compile_sites))


def triage() -> dict[tuple[str, int, str], dict]:
    """(file, 1-based line, code) -> the recorded verdict."""
    entries = tomllib.loads(TRIAGE.read_text(encoding="utf-8")).get("finding", []) if TRIAGE.exists() else []
    return {(e["file"], e["line"], e["code"]): e for e in entries}


def main() -> None:
    files = sources()
    known = triage()
    print(f"{'package':28} {'files':>5} {'lines':>7} {'units':>5} {'cross':>5} {'findings':>8} {'/10k':>6} "
          f"{'analyze':>9} {'ast.parse':>9} {'ratio':>6}")
    total_lines = 0
    total_findings = 0
    sinks: Counter[str] = Counter()
    results: dict[Source, Analysis] = {}
    for name, _version in PACKAGES:
        mine = [f for f in files if f.package == name]
        lines = sum(f.text.count("\n") + 1 for f in mine)
        start = time.perf_counter()
        for f in mine:
            try:
                parse_quietly(f.text)
            except SyntaxError:
                pass
        parse_s = time.perf_counter() - start
        start = time.perf_counter()
        found = run(mine)
        analyze_s = time.perf_counter() - start
        results.update(found)
        units = [info for a in found.values() for info in a.losses if info.kind == "computation"]
        for info in units:
            sinks.update({s.split("`")[1] for s in info.sink.split("; ")})
        count = sum(len(a.findings) for a in found.values())
        total_lines += lines
        total_findings += count
        cross = sum(reached_from_elsewhere(a) for a in found.values())
        print(f"{name:28} {len(mine):5} {lines:7} {len(units):5} {cross:5} {count:8} {count / lines * 10_000:6.1f} "
              f"{analyze_s * 1000:7.0f}ms {parse_s * 1000:7.0f}ms {analyze_s / max(parse_s, 1e-9):5.1f}x")
    print(f"{'total':28} {len(files):5} {total_lines:7} {'':5} {'':5} {total_findings:8} "
          f"{total_findings / total_lines * 10_000:6.1f}")
    print("computations by sink kind: " + ", ".join(f"{k} {v}" for k, v in sinks.most_common()))
    verdicts: Counter[str] = Counter()
    print()
    for source, analysis in results.items():
        for finding in analysis.findings:
            entry = known.get((source.path, finding.span.start_line + 1, finding.code))
            verdict = entry["verdict"] if entry else "UNTRIAGED"
            verdicts[verdict] += 1
            print(f"{source.path}:{finding.span.start_line + 1}: {finding.code} [{verdict}] {finding.message}"
                  f"{'  (' + finding.sink + ')' if finding.sink else ''}")
        for error in analysis.errors:
            print(f"{source.path}: error: {error.message}")
    print("\nverdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))


if __name__ == "__main__":
    main()
