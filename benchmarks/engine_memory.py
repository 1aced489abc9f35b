"""Engine memory under an edit storm: resident memory after 100 edits and after N, in one process.

The caches are bounded by the size of the text they hold (chunks.PARSE_CACHE) and everything derived
from a parsed tree lives on the tree (engine.memo), so memory should level off.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import edit_line, training_module  # noqa: E402
from loss_lsp.checker import analyze  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=1_000)
    args = parser.parse_args()
    source = training_module(args.lines)
    baseline = rss_mb()
    started = time.perf_counter()
    marks = {}
    for k in range(1, args.edits + 1):
        edited, _ = edit_line(source, k)
        source = edited if k % 50 else training_module(args.lines)  # drift, then reset now and then
        analyze(source, "train.py")
        if k in (100, 1_000, args.edits // 2, args.edits):
            marks[k] = rss_mb()
    elapsed = time.perf_counter() - started
    print(f"{args.edits} edits of a {args.lines}-line module in {elapsed:.1f} s; RSS before: {baseline:.0f} MB")
    for k, mb in marks.items():
        print(f"  after {k:>6} edits: {mb:6.1f} MB   ({mb / marks[100]:.2f}x the figure after 100)")


if __name__ == "__main__":
    main()
