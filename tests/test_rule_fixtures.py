"""Every rule fixture: the findings are exactly the ones its ``# expect:`` comments announce."""

from __future__ import annotations

from pathlib import Path

import pytest

from loss_lsp.checker import analyze

from loss_lsp.engine import Workspace
from loss_lsp.rules import RULES
from tests.expectations import FIXTURES, expected, fixture_files

FILES = fixture_files()


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(FIXTURES)) for p in FILES])
def test_fixture_findings_match_expectations(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    workspace = Workspace(path.parent)  # the fixture's folder is its workspace (cross-file cases)
    workspace.index()
    analysis = analyze(source, str(path), workspace=workspace)
    assert not [e for e in analysis.errors if "internal error" in e.message], analysis.errors
    found = {(f.span.start_line + 1, f.code) for f in analysis.findings}
    want = expected(source)
    missing = sorted(want - found)
    unexpected = sorted(found - want)
    details = {(f.span.start_line + 1, f.code): f.message for f in analysis.findings}
    assert not missing and not unexpected, (
        f"missing: {missing}\nunexpected: {[(k, details[k]) for k in unexpected]}")


def test_every_static_rule_has_a_fixture_that_fires_and_one_that_stays_quiet() -> None:
    fired = set()
    for path in FILES:
        fired |= {code for _line, code in expected(path.read_text(encoding="utf-8"))}
    static = {code for code, rule in RULES.items() if rule.scope != "gradient-check"}
    assert static - fired == set()
    rule_files = {p.name[:5] for p in (FIXTURES / "rules").glob("LL*.py")}
    assert static - rule_files == set()
