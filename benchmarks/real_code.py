"""Real code nobody here wrote: run the checker over the loss code shipped in keras and tf_keras.

Prints the files, lines of code, time, and every finding; the verdicts per finding are kept in
benchmarks/real_code_report.md (written by hand from this output: each finding judged true problem
or false positive, and why).
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loss_lsp.checker import analyze  # noqa: E402
from loss_lsp.checker import clear_caches  # noqa: E402


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


def main() -> None:
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


if __name__ == "__main__":
    main()
