"""The interpretation of a script is reused across edits only while nothing it read changed: a warm
analysis after an edit inside a class, a function or a module-level statement equals a cold one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loss_lsp.checker import analyze, clear_caches

SHAPES = Path(__file__).resolve().parents[2] / "fixtures" / "shapes"
SUBCLASSED = (SHAPES / "subclassed_model.py").read_text(encoding="utf-8")


def _findings(text: str, path: str = "reused.py") -> list[tuple]:
    analysis = analyze(text, path)
    return [(f.code, f.span, f.message, f.fix) for f in analysis.findings] + [e.message for e in analysis.errors]


def _cold(text: str, path: str = "reused.py") -> list[tuple]:
    clear_caches()
    return _findings(text, path)


def _codes(findings: list[tuple]) -> list[tuple[str, int]]:
    """The shape findings (LL3xx), by line: what the interpretation decides."""
    return [(f[0], f[1].start_line) for f in findings if not isinstance(f, str) and f[0].startswith("LL3")]


@pytest.mark.parametrize(("before", "after", "expected"), [
    # inside the model class the script instantiates: its output shape changes
    ("self.out = keras.layers.Dense(1)", "self.out = keras.layers.Dense(3)", [("LL306", 9), ("LL306", 13)]),
    ("return self.out(x)", "return tf.squeeze(self.out(x), axis=-1)", []),
    # inside a Loss subclass the script only names: nothing it read changed
    ("return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)  # expect: LL301",
     "return tf.reduce_mean(tf.square(y_true - y_pred) * 2.0, axis=-1)", [("LL301", 9), ("LL301", 13)]),
    # a module-level statement: the labels
    ("y = x.sum(axis=1)  # (128,)", "y = x.sum(axis=1, keepdims=True)", []),
    # a class's bases: no longer a Loss, so compile gets an instance of a plain class
    ("class MSE(keras.losses.Loss):", "class MSE:", [("LL301", 13)]),
    # an import inside a loss the script never entered joins the module's: `tf` is NumPy now, the
    # dataset the trainer iterates is unknown, so its direct call gets no shapes
    ("        return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)  # expect: LL301",
     "        import numpy as tf; return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)", [("LL301", 9)]),
])
def test_an_edit_the_interpretation_read_changes_the_findings(before: str, after: str,
                                                               expected: list[tuple[str, int]]) -> None:
    edited = SUBCLASSED.replace(before, after)
    assert edited != SUBCLASSED
    assert _codes(_cold(SUBCLASSED)) == [("LL301", 9), ("LL301", 13)]
    warm = _findings(edited)  # the original's interpretation is the one on hand
    assert _codes(warm) == expected
    assert warm == _cold(edited)
    assert _codes(_findings(SUBCLASSED)) == [("LL301", 9), ("LL301", 13)]  # and back


_FILES = sorted(SHAPES.glob("*.py"))
_SOURCES = [path.read_text(encoding="utf-8") for path in _FILES]
_NUMBER = re.compile(r"(?<![\w.])\d+(?![\w.])")


def _changed_number(source: str, index: int, value: int) -> str:
    """One integer literal of the file (a layer width, an axis, a size) replaced: same lines, new meaning."""
    matches = list(_NUMBER.finditer(source))
    match = matches[index % len(matches)]
    return source[:match.start()] + str(value) + source[match.end():]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(range(len(_SOURCES))), st.integers(0, 10_000), st.sampled_from([0, 1, 2, 3, 8, 16]))
def test_warm_equals_cold_after_a_number_changes_anywhere(which: int, index: int, value: int) -> None:
    source = _SOURCES[which]
    _findings(source, _FILES[which].name)
    edited = _changed_number(source, index, value)
    warm = _findings(edited, _FILES[which].name)
    assert warm == _cold(edited, _FILES[which].name)
