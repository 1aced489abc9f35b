"""Cached re-analysis after edits gives exactly what a fresh analysis gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from loss_lsp.checker import analyze
from loss_lsp.checker import clear_caches
from tests.expectations import fixture_files

SOURCES = [p.read_text(encoding="utf-8") for p in fixture_files()]


def _edit(source: str, index: int, kind: int) -> str:
    lines = source.split("\n")
    at = index % (len(lines) + 1)
    if kind == 0:
        lines.insert(at, "")  # a blank line moves everything below
    elif kind == 1:
        lines.insert(at, "# a comment")
    elif kind == 2 and at < len(lines):
        del lines[at]  # may break the syntax of a function: the rest must still be right
    else:
        lines.insert(at, "    x = (")  # half-typed code
    return "\n".join(lines)


def _key(source: str) -> list[tuple]:
    analysis = analyze(source, "edited.py")
    return ([(f.code, f.span, f.message, f.fix) for f in analysis.findings]
            + [(e.message, e.span) for e in analysis.errors])


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(range(len(SOURCES))), st.integers(0, 10_000), st.integers(0, 3))
def test_warm_result_equals_cold_result(which: int, index: int, kind: int) -> None:
    source = SOURCES[which]
    analyze(source, "edited.py")  # warm the caches with the text before the edit
    edited = _edit(source, index, kind)
    warm = _key(edited)
    clear_caches()
    assert warm == _key(edited)
