"""Every quick fix, applied alone, removes the finding it belongs to and leaves valid Python."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from loss_lsp.checker import analyze

from loss_lsp.engine import Workspace, apply_fixes
from tests.expectations import FIXTURES, fixture_files

CASES = []
for _path in fixture_files():
    _source = _path.read_text(encoding="utf-8")
    _workspace = Workspace(_path.parent)
    _workspace.index()
    for _finding in analyze(_source, str(_path), workspace=_workspace).findings:
        if _finding.fix is not None:
            CASES.append((_path, _finding))


@pytest.mark.parametrize(
    ("path", "finding"), CASES,
    ids=[f"{p.relative_to(FIXTURES)}:{f.span.start_line + 1}:{f.code}" for p, f in CASES])
def test_fix_removes_its_finding(path: Path, finding) -> None:  # type: ignore[no-untyped-def]
    source = path.read_text(encoding="utf-8")
    fixed, count = apply_fixes(source, [finding], unsafe=True)
    assert count == 1 and fixed != source
    ast.parse(fixed)
    workspace = Workspace(path.parent)
    workspace.index()
    after = analyze(fixed, str(path), workspace=workspace)
    before_same = [f for f in analyze(source, str(path), workspace=workspace).findings
                   if f.code == finding.code and f.loss == finding.loss]
    after_same = [f for f in after.findings if f.code == finding.code and f.loss == finding.loss]
    assert len(after_same) < len(before_same), f"{finding.fix.message} left: {[f.message for f in after_same]}"


def test_fix_all_in_one_pass_keeps_every_fixture_valid() -> None:
    for path in fixture_files():
        source = path.read_text(encoding="utf-8")
        findings = analyze(source, str(path)).findings
        fixed, _ = apply_fixes(source, findings, unsafe=True)
        ast.parse(fixed)


def test_import_is_added_once_when_the_file_lacks_it() -> None:
    source = ("import numpy as np\n\n\ndef a(y_true, y_pred):\n    return np.mean(y_pred - y_true)\n\n\n"
              "def b(y_true, y_pred):\n    return np.sum(y_pred)\n")
    fixed, count = apply_fixes(source, analyze(source, "x.py").findings)
    assert count == 2
    assert fixed.count("import tensorflow as tf") == 1
    assert "tf.reduce_mean(y_pred - y_true)" in fixed and "tf.reduce_sum(y_pred)" in fixed
