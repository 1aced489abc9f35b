"""Shared helpers for the gradient-check tests: real TensorFlow in a real worker process.

Each test module gets one GradientChecker (one worker) and reuses it, because starting a
worker means importing TensorFlow (seconds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from loss_lsp.checker import analyze

from loss_lsp.engine import Analysis
from loss_lsp.gradcheck import CheckResult, GradientChecker
from loss_lsp.settings import Settings

DATA = Path(__file__).resolve().parent / "data"
MARKER = re.compile(r"#\s*gc-(confirms|refutes|finds|clean)\b:?\s*((?:LL\d{3}[\s,]*)*)")


@dataclass
class Checked:
    path: Path
    source: str
    analysis: Analysis
    result: CheckResult

    def loss_at(self, line: int) -> str:
        """The loss whose definition starts on this 0-based line."""
        for loss in self.analysis.losses:
            if loss.span.start_line == line:
                return loss.name
        raise AssertionError(f"no loss defined on line {line + 1} of {self.path.name}")

    def findings_of(self, loss: str) -> list:
        return [f for f in self.result.findings if f.loss == loss or f.loss == loss.split(".", 1)[0]]

    def report(self, loss: str):
        return next(r for r in self.result.losses if r.name == loss)


def run_check(checker: GradientChecker, path: Path, source: str | None = None, **kwargs) -> Checked:
    source = path.read_text() if source is None else source
    analysis = analyze(source, str(path), checker.settings)
    result = checker.check(source, str(path), analysis, **kwargs)
    return Checked(path, source, analysis, result)


def markers(source: str) -> list[tuple[int, str, set[str]]]:
    """(0-based line, kind, codes) for every `# gc-confirms: LL201` style marker."""
    out = []
    for number, line in enumerate(source.splitlines()):
        match = MARKER.search(line)
        if match:
            out.append((number, match.group(1), set(re.findall(r"LL\d{3}", match.group(2)))))
    return out


@pytest.fixture(scope="module")
def checker():
    instance = GradientChecker(Settings())
    yield instance
    instance.close()
