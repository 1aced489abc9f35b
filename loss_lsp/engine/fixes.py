"""Apply the fixes of findings to source text."""

from __future__ import annotations

from collections.abc import Iterable

from loss_lsp.engine.findings import Edit, Finding, Fix, Span


def _line_offsets(source: str) -> list[int]:
    offsets = [0]
    index = 0
    while True:
        nl = _next_newline(source, index)
        if nl < 0:
            return offsets
        end = nl + (2 if source.startswith("\r\n", nl) else 1)
        offsets.append(end)
        index = end


def _next_newline(source: str, start: int) -> int:
    n = source.find("\n", start)
    r = source.find("\r", start)
    if r < 0:
        return n
    if n < 0:
        return r
    return min(n, r)


def offset_of(offsets: list[int], source: str, line: int, col: int) -> int:
    if line >= len(offsets):
        return len(source)
    return min(offsets[line] + col, len(source))


def newline_of(source: str) -> str:
    """The file's own line ending, so that inserted lines match it."""
    first = _next_newline(source, 0)
    if first < 0 or source.startswith("\n", first):
        return "\n"
    return "\r\n" if source.startswith("\r\n", first) else "\r"


def apply_edits(source: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping edits (positions refer to ``source``)."""
    offsets = _line_offsets(source)
    newline = newline_of(source)
    if newline != "\n":
        edits = [Edit(e.span, e.content.replace("\n", newline)) for e in edits]
    resolved = sorted(
        ((offset_of(offsets, source, e.span.start_line, e.span.start_col),
          offset_of(offsets, source, e.span.end_line, e.span.end_col), e.content) for e in edits),
        reverse=True,
    )
    out = source
    for start, end, content in resolved:
        out = out[:start] + content + out[end:]
    return out


def _overlaps(a: Span, b: Span) -> bool:
    a_start, a_end = (a.start_line, a.start_col), (a.end_line, a.end_col)
    b_start, b_end = (b.start_line, b.start_col), (b.end_line, b.end_col)
    if a_start == a_end == b_start == b_end:
        return False  # two insertions at one point (e.g. the same import) are merged below
    return a_start < b_end and b_start < a_end


def select_fixes(findings: Iterable[Finding], unsafe: bool = False) -> list[Fix]:
    """The fixes that can be applied together: first come, first served, no overlaps."""
    chosen: list[Fix] = []
    taken: list[Span] = []
    for finding in sorted(findings, key=Finding.sort_key):
        fix = finding.fix
        if fix is None or (fix.applicability == "unsafe" and not unsafe):
            continue
        spans = [e.span for e in fix.edits]
        if any(_overlaps(s, t) for s in spans for t in taken):
            continue
        chosen.append(fix)
        taken.extend(spans)
    return chosen


def apply_fixes(source: str, findings: Iterable[Finding], unsafe: bool = False) -> tuple[str, int]:
    """Apply every compatible fix once; returns the new text and how many fixes were applied."""
    fixes = select_fixes(findings, unsafe)
    edits: dict[tuple[Span, str], Edit] = {}
    for fix in fixes:
        for edit in fix.edits:
            edits.setdefault((edit.span, edit.content), edit)  # the same import added twice counts once
    return apply_edits(source, edits.values()), len(fixes)
