"""Notebook cells as one module: IPython lines blanked in place, positions mapped back to cells."""

from __future__ import annotations

import json

import pytest

from loss_lsp.checker import analyze
from loss_lsp.engine import Edit, Span
from loss_lsp.engine.ipynb import NotebookError, parse_notebook, replace_sources
from loss_lsp.engine.notebook import join_cells, mask_magics
from loss_lsp.settings import Settings

DEFINE = "import tensorflow as tf\n%matplotlib inline\n\ndef my_loss(y_true, y_pred):\n    !nvidia-smi\n" \
         "    return -tf.reduce_mean(y_true * tf.math.log(y_pred))\n"
COMPILE = "%%time\nmodel.compile(optimizer='adam', loss=my_loss)\n"


def test_magics_are_blanked_line_for_line_and_python_is_kept() -> None:
    masked = mask_magics(DEFINE)
    assert masked.split("\n") == ["import tensorflow as tf", "", "", "def my_loss(y_true, y_pred):", "    pass",
                                  "    return -tf.reduce_mean(y_true * tf.math.log(y_pred))", ""]
    assert mask_magics("%%bash\necho hi\n") == "\n\n"
    assert mask_magics("files = !ls\ntf.reduce_mean?\nx = 5 % 2\n") == "\n\nx = 5 % 2\n"


def test_a_finding_in_one_cell_is_placed_in_that_cell() -> None:
    joined = join_cells([(0, "# setup\n"), (2, DEFINE), (4, COMPILE)])
    findings = analyze(joined.text, "nb.ipynb", Settings(), None).findings
    [finding] = [f for f in findings if f.code == "LL201"]
    cell, local = joined.finding_in_cell(finding)  # type: ignore[misc]
    assert cell.index == 2 and cell.number == 3
    line = DEFINE.split("\n")[local.span.start_line]
    assert line[local.span.start_col:local.span.end_col] == "tf.math.log(y_pred)"
    [edit] = local.fix.edits  # type: ignore[union-attr]
    assert DEFINE.split("\n")[edit.span.start_line][edit.span.start_col:edit.span.end_col] == "y_pred"


def test_edits_that_cross_cells_or_touch_a_magic_are_refused() -> None:
    joined = join_cells([(0, "a = 1\n"), (1, "%time b = 2\nc = 3\n")])
    assert joined.edits_by_cell([Edit(Span(0, 0, 2, 1), "x")]) is None  # from cell 1 into cell 2
    assert joined.edits_by_cell([Edit(Span(2, 0, 2, 1), "x")]) is None  # the %time line
    assert joined.edits_by_cell([Edit(Span(3, 0, 3, 1), "d")]) == {1: [Edit(Span(1, 0, 1, 1), "d")]}


def _notebook(**top: object) -> str:
    data = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                       "source": ["x = 1\n", "y = 2"]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    data.update(top)
    return json.dumps(data, indent=1) + "\n"


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "invalid JSON at line 1"),
    ("[]", "not an object"),
    (_notebook(nbformat=3), "unsupported nbformat 3"),
    (_notebook(cells={}), 'no "cells" list'),
    (_notebook(cells=[{"cell_type": "code", "source": 7}]), "source of cell 1 is not text"),
])
def test_a_bad_notebook_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(NotebookError, match=message):
        parse_notebook(text)


def test_replacing_a_source_keeps_every_other_byte() -> None:
    text = _notebook().replace('"metadata": {}', '"metadata": {"zeta": 1, "alpha": [1,  2]}', 1)
    new = replace_sources(text, {0: "x = 10\ny = 2"})
    assert new == text.replace('"x = 1\\n"', '"x = 10\\n"')
