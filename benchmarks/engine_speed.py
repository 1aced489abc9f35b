"""Engine speed: analysis of a 1,000-line training module against ``ast.parse`` of the same text.

Prints medians side by side with the floor measured in the same run (ratios matter: this machine is
noisy). Targets (issue 2): a cold analysis within 2x ``ast.parse``; a re-analysis after a one-line edit
faster than one full ``ast.parse``; and ``check`` throughput in lines per second.
"""

from __future__ import annotations

import ast
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import edit_line, training_module  # noqa: E402
from loss_lsp.checker import analyze  # noqa: E402
from loss_lsp.checker import clear_caches  # noqa: E402


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    for lines in (1_000, 10_000):
        source = training_module(lines)
        n = source.count("\n")
        runs = 21 if lines <= 1000 else 7
        parse = median_ms(lambda: ast.parse(source), runs)

        def cold() -> None:
            clear_caches()
            analyze(source, "train.py")

        cold_ms = median_ms(cold, runs)
        analyze(source, "train.py")
        edits = [edit_line(source, k)[0] for k in range(runs)]
        it = iter(edits)
        warm_ms = median_ms(lambda: analyze(next(it), "train.py"), runs)
        findings = len(analyze(source, "train.py").findings)
        print(f"{n:>6} lines, {findings} findings")
        print(f"  ast.parse (floor)          {parse:8.2f} ms")
        print(f"  analyze, cold              {cold_ms:8.2f} ms   {cold_ms / parse:5.2f}x ast.parse   (target <= 2x)")
        print(f"  analyze after 1-line edit  {warm_ms:8.2f} ms   {warm_ms / parse:5.2f}x ast.parse   (target < 1x)")
        print(f"  throughput, cold           {n / cold_ms * 1000:8.0f} lines/s  (ast.parse: {n / parse * 1000:.0f} lines/s)")


if __name__ == "__main__":
    main()
