"""Real training code (pinned wheels, downloaded on first use): a finding triaged false must not come back.

Slow (downloads six wheels once, then analyses ~125,000 lines): run it with the rest of the suite or alone,
``PYTHONPATH=$PWD python -m pytest tests/engine/test_training_code.py``.
"""

from __future__ import annotations

import subprocess

import pytest

from benchmarks import training_code


@pytest.fixture(scope="module")
def findings() -> set[tuple[str, int, str]]:
    try:
        files = training_code.sources()
    except (subprocess.CalledProcessError, SystemExit) as exc:  # offline: nothing to check against
        pytest.skip(f"pinned wheels unavailable: {exc}")
    results = training_code.run(files)
    return {(source.path, f.span.start_line + 1, f.code) for source, a in results.items() for f in a.findings}


def test_no_finding_triaged_false_comes_back(findings: set[tuple[str, int, str]]) -> None:
    fixed_false = {key for key, entry in training_code.triage().items()
                   if entry["verdict"] == "false" and not entry.get("open")}
    assert sorted(findings & fixed_false) == []


def test_every_finding_is_triaged(findings: set[tuple[str, int, str]]) -> None:
    assert sorted(findings - set(training_code.triage())) == []
