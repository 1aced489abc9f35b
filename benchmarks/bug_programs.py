"""An outside set of real loss bugs: does the checker find them, and stay quiet on their fixes?

The programs come from published bug datasets (Zhang et al. ISSTA 2018, DeepLocalize ICSE 2021): a buggy and
a fixed version of each. They are not in this repository; ``benchmarks/triage/bug_programs.toml`` names each
file (repository, path, commit), pairs the versions, says what the bug is and whether it is a loss bug the
checker should catch. The files are read from ``~/.cache/loss-lsp/bugsets/<repo>/<path>``; when that cache is
missing the benchmark says so and measures nothing.

Prints, per bug: found (a finding within ``NEAR`` lines of the bug in the buggy version, of one of the bug's
``codes`` when it names them), the findings on the fixed version with their recorded verdicts; then found/total
by category, form and batch (the bugs used to build the engine apart from those read before or after a change
and held out from it), false alarms on the fixed versions, beside the reference the issue was filed with (5/85
on another outside set, never seen here).

    PYTHONPATH=$PWD python benchmarks/bug_programs.py
"""

from __future__ import annotations

import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loss_lsp.checker import analyze, clear_caches  # noqa: E402
from loss_lsp.engine import Finding  # noqa: E402

CACHE = Path.home() / ".cache" / "loss-lsp" / "bugsets"
MANIFEST = Path(__file__).resolve().parent / "triage" / "bug_programs.toml"
NEAR = 3  # lines: a finding this close to a bug line is "on the bug" (a multi-line statement, its operand)
REFERENCE = "5/85 found when issue 10 was filed (a different outside set, held by the reviewers)"


@dataclass(frozen=True)
class Bug:
    id: str
    repo: str
    buggy: str
    fixed: str | None
    category: str
    form: str
    lines: tuple[int, ...]
    reach: str
    batch: str  # which reading the bug came in: "tuning" (read before the engine work) or "held-out-2" ...
    codes: tuple[str, ...]  # when given, only findings of these rules count as finding the bug


@dataclass(frozen=True)
class Result:
    bug: Bug
    buggy: list[Finding]
    fixed: list[Finding] | None

    def on_bug(self, finding: Finding) -> bool:
        near = any(abs(finding.span.start_line + 1 - line) <= NEAR for line in self.bug.lines)
        return near and (not self.bug.codes or finding.code in self.bug.codes)

    @property
    def found(self) -> bool:
        return any(self.on_bug(f) for f in self.buggy)

    def away(self) -> list[Finding]:
        """Findings on the buggy version that are not on its bug."""
        return [f for f in self.buggy if not self.on_bug(f)]


def manifest() -> dict:
    return tomllib.loads(MANIFEST.read_text(encoding="utf-8"))


def loss_bugs() -> list[Bug]:
    return [Bug(e["id"], e["repo"], e["buggy"], e.get("fixed"), e["category"], e["form"], tuple(e["lines"]),
                e.get("reach", ""), e.get("batch", "tuning"), tuple(e.get("codes", ())))
            for e in manifest()["bug"] if e["loss_bug"]]


def missing_files(bugs: list[Bug]) -> list[Path]:
    paths = [CACHE / b.repo / p for b in bugs for p in (b.buggy, b.fixed) if p is not None]
    return [p for p in paths if not p.is_file()]


def triage() -> dict[tuple[str, int, str], dict]:
    """(file, 1-based line, code) -> the recorded verdict."""
    return {(e["file"], e["line"], e["code"]): e for e in manifest().get("finding", [])}


def _check(bug: Bug, path: str) -> list[Finding]:
    file = CACHE / bug.repo / path
    return list(analyze(file.read_text(encoding="utf-8"), str(file)).findings)


def run(bugs: list[Bug]) -> list[Result]:
    clear_caches()
    return [Result(bug, _check(bug, bug.buggy), _check(bug, bug.fixed) if bug.fixed else None) for bug in bugs]


def judged(results: list[Result]) -> list[tuple[str, Finding]]:
    """Every finding that needs a verdict: all on fixed versions, and those away from the bug on buggy ones."""
    out = [(r.bug.fixed, f) for r in results if r.fixed for f in r.fixed]
    out += [(r.bug.buggy, f) for r in results for f in r.away()]
    return out  # type: ignore[return-value]


def _tally(results: list[Result], key: str) -> str:
    total: Counter[str] = Counter()
    found: Counter[str] = Counter()
    for r in results:
        total[getattr(r.bug, key)] += 1
        found[getattr(r.bug, key)] += r.found
    return ", ".join(f"{name} {found[name]}/{total[name]}" for name in sorted(total))


def main() -> None:
    bugs = loss_bugs()
    missing = missing_files(bugs)
    if missing:
        print(f"bug programs not cached ({len(missing)} of the manifest's files missing under {CACHE}), e.g. "
              f"{missing[0]}\nfetch them from the public copies named in {MANIFEST.name}; nothing measured.")
        return
    results = run(bugs)
    known = triage()
    print(f"{'bug':28} {'category':22} {'buggy':>6} {'fixed':>6}  findings")
    for r in results:
        fixed = "-" if r.fixed is None else str(len(r.fixed))
        codes = ", ".join(f"{f.code}@{f.span.start_line + 1}" for f in r.buggy)
        print(f"{r.bug.id:28} {r.bug.category:22} {'FOUND' if r.found else 'miss':>6} {fixed:>6}  {codes}"
              f"{'  (' + r.bug.reach + ')' if r.bug.reach and not r.found else ''}")
    verdicts: Counter[str] = Counter()
    print()
    for path, finding in judged(results):
        entry = known.get((path, finding.span.start_line + 1, finding.code))
        verdict = entry["verdict"] if entry else "UNTRIAGED"
        verdicts[verdict] += 1
        print(f"{path}:{finding.span.start_line + 1}: {finding.code} [{verdict}] {finding.message}")
    found = sum(r.found for r in results)
    with_fix = [r for r in results if r.fixed is not None]
    false_alarms = verdicts["false"] + verdicts["UNTRIAGED"]
    print(f"\nbuggy versions found: {found}/{len(results)} ({found / len(results):.0%})   reference: {REFERENCE}")
    print(f"fixed versions: {len(with_fix)}, silent {sum(not r.fixed for r in with_fix)}, "
          f"false alarms {false_alarms} (findings judged: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items()))
          + ")")
    print(f"by category: {_tally(results, 'category')}")
    print(f"by form: {_tally(results, 'form')}")
    print(f"by batch (held-out batches were read before the engine was changed for them): {_tally(results, 'batch')}")


if __name__ == "__main__":
    main()
