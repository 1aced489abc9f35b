"""A longer randomised fuzz run of the engine than the test suite's derandomised one.

    python benchmarks/fuzz_engine.py [--seconds 120] [--seed N] [--save failures.json]

Inputs are hostile variants of the fixtures (token edits, lines of odd characters, truncations, other
line endings; ``tests/resilience/mutations.py``) and random text over code tokens and control
characters. Prints inputs analysed per second beside ``ast.parse`` of the same inputs, and every input
that made ``analyze`` raise or whose fixes (all of them, applied together) broke a file that parsed,
with the seed that reproduces the run. Add each failure to
``tests/resilience/fuzz_corpus.json`` once fixed (``--save`` writes them in that format). Exit 1 on a failure.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import sys
import time
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loss_lsp.checker import analyze  # noqa: E402
from loss_lsp.engine.fixes import apply_fixes  # noqa: E402
from tests.expectations import fixture_files  # noqa: E402
from tests.resilience.mutations import NEWLINES, ODD_CHARS, TOKENS, mutate  # noqa: E402


def random_text(rng: random.Random) -> str:
    pieces = TOKENS + ODD_CHARS + NEWLINES
    return "".join(rng.choice(pieces) if rng.random() < 0.8 else chr(rng.randrange(1, 0x3000))
                   for _ in range(rng.randint(0, 200)))


def parse_seconds(text: str) -> tuple[float, bool]:
    """How long ``ast.parse`` takes on the input, and whether it parses."""
    start = time.perf_counter()
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return time.perf_counter() - start, False
    return time.perf_counter() - start, True


def fix_breaks(text: str, findings: list) -> str:  # type: ignore[type-arg]
    """The syntax error that applying every fix (safe and unsafe) introduced into a parsing file, or ""."""
    fixed, _ = apply_fixes(text, findings, unsafe=True)
    try:
        ast.parse(fixed)
    except (SyntaxError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--save", type=Path, default=None, help="write failing inputs here (corpus format)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", SyntaxWarning)  # "invalid escape sequence" etc. from mutated text
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    sources = [p.read_text(encoding="utf-8") for p in fixture_files()]
    failures: list[dict[str, str]] = []
    analysed = engine_s = parse_s = 0.0
    slowest = (0.0, "")
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        text = mutate(rng.choice(sources), rng) if rng.random() < 0.8 else random_text(rng)
        start = time.perf_counter()
        problem, findings = "", []
        try:
            findings = analyze(text, "fuzzed.py").findings
        except Exception as exc:  # noqa: BLE001 - every exception is a finding of this run
            problem = f"{type(exc).__name__}: {exc}"
            print("".join(traceback.format_exc(limit=-3)))
        elapsed = time.perf_counter() - start
        seconds, parses = parse_seconds(text)
        if not problem and parses and findings:
            broken = fix_breaks(text, findings)
            problem = f"the fixes broke a file that parsed: {broken}" if broken else ""
        if problem:
            failures.append({"input": text, "found": f"benchmarks/fuzz_engine.py seed {seed}: {problem}"[:300]})
            print(f"FAILURE #{len(failures)} (input {int(analysed)}): {problem}")
            print(f"  input: {text[:300]!r}{' ...' if len(text) > 300 else ''}")
        slowest = max(slowest, (elapsed, text[:80]))
        engine_s += elapsed
        parse_s += seconds
        analysed += 1
    print(f"seed {seed}: {int(analysed)} inputs in {engine_s:.1f} s of analysis")
    print(f"  analyze  : {analysed / engine_s:8.0f} inputs/s")
    print(f"  ast.parse: {analysed / parse_s:8.0f} inputs/s (same inputs)  -> analyze is "
          f"{engine_s / parse_s:.1f}x ast.parse")
    print(f"  slowest analysis: {slowest[0] * 1000:.0f} ms ({slowest[1]!r})")
    print(f"  failures: {len(failures)}")
    if failures and args.save:
        args.save.write_text(json.dumps(failures, indent=1, ensure_ascii=True), encoding="utf-8")
        print(f"  written to {args.save}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
