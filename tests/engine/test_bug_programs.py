"""The outside set of real loss bugs (benchmarks/bug_programs.py): skipped when its files are not cached.

A finding judged false on these programs must not come back, every finding on a fixed version must be
judged, and a bug the checker found must stay found.
"""

from __future__ import annotations

import pytest

from benchmarks import bug_programs


@pytest.fixture(scope="module")
def results() -> list[bug_programs.Result]:
    bugs = bug_programs.loss_bugs()
    missing = bug_programs.missing_files(bugs)
    if missing:
        pytest.skip(f"bug programs not cached under {bug_programs.CACHE} (e.g. {missing[0]})")
    return bug_programs.run(bugs)


def _keys(results: list[bug_programs.Result]) -> set[tuple[str, int, str]]:
    return {(path, f.span.start_line + 1, f.code) for path, f in bug_programs.judged(results)}


def test_no_finding_judged_false_comes_back(results: list[bug_programs.Result]) -> None:
    false = {key for key, entry in bug_programs.triage().items() if entry["verdict"] == "false"}
    assert sorted(_keys(results) & false) == []


def test_every_finding_on_a_fixed_version_is_judged(results: list[bug_programs.Result]) -> None:
    assert sorted(_keys(results) - set(bug_programs.triage())) == []


def test_found_bugs_stay_found(results: list[bug_programs.Result]) -> None:
    expected = {e["id"] for e in bug_programs.manifest()["bug"] if e.get("found")}
    missed = {r.bug.id for r in results if not r.found}
    assert sorted(expected & missed) == []
