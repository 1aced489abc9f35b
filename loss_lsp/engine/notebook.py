"""A notebook's code cells as one Python module, and positions between the two.

Jupyter runs the cells of a notebook in one namespace, so a loss defined in one cell and
compiled in a later one is one program: the engine analyses the cells joined in order.
IPython syntax that is not Python (``%magic`` and ``!shell`` lines, ``obj?`` help, non-Python
``%%cell`` magics) is blanked line for line, so that every line of the joined module is the
same line of its cell and columns are unchanged. :class:`JoinedCells` maps module lines to
(cell, cell-relative line) and module edits back to edits of one cell.

Pure: no file format here (see :mod:`loss_lsp.engine.ipynb` for ``.ipynb`` files).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from loss_lsp.engine.chunks import split_lines
from loss_lsp.engine.findings import Edit, Finding, Fix, Span

# Cell magics whose body is Python (timed, captured or profiled, but run as code).
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
_LINE_MAGIC = re.compile(r"^\s*(?:[\w.,\[\]() ]+=\s*)?[%!]")  # `%pip ...`, `!ls`, `files = !ls`
_HELP = re.compile(r"^\s*(?:\?\??[\w.]+|[\w.]+\?\??)\s*$")  # `tf.reduce_mean?`, `??keras`
_CELL_MAGIC = re.compile(r"^\s*%%(\w+)")
_LINE_REFERENCE = re.compile(r"\bline (\d+)\b")


def _blank(line: str) -> str:
    """A line that is not Python, replaced by one that parses where it stands."""
    indent = line[:len(line) - len(line.lstrip())]
    return f"{indent}pass" if indent else ""  # an indented magic may be a block's only statement


def mask_magics(source: str) -> str:
    """``source`` with IPython-only lines blanked; the same number of lines, the other lines unchanged."""
    lines = split_lines(source)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and (cell_magic := _CELL_MAGIC.match(lines[first])):
        if cell_magic.group(1) not in _PYTHON_CELL_MAGICS:  # %%bash, %%writefile, %%html: not Python at all
            return "\n".join("" for _ in lines)
        lines[first] = ""
    return "\n".join(_blank(line) if _LINE_MAGIC.match(line) or _HELP.match(line) else line for line in lines)


@dataclass(frozen=True)
class CodeCell:
    """One code cell: its place in the notebook and in the joined module."""

    index: int  # 0-based position among all the notebook's cells (markdown included)
    source: str  # as written, magics included
    first_line: int  # its first line in the joined module
    line_count: int

    @property
    def number(self) -> int:
        """1-based, as reported to the user ("cell 3")."""
        return self.index + 1

    def contains(self, line: int) -> bool:
        return self.first_line <= line < self.first_line + self.line_count


@dataclass(frozen=True)
class JoinedCells:
    text: str  # the module the engine analyses
    cells: tuple[CodeCell, ...]

    def cell_at(self, line: int) -> CodeCell | None:
        """The cell holding this module line."""
        starts = [cell.first_line for cell in self.cells]
        position = bisect.bisect_right(starts, line) - 1
        if position < 0:
            return None
        cell = self.cells[position]
        return cell if cell.contains(line) else None

    def cell_span(self, span: Span) -> tuple[CodeCell, Span] | None:
        """A module span as (cell, cell-relative span); None when it is not inside one cell."""
        cell = self.cell_at(span.start_line)
        if cell is None or not cell.contains(span.end_line):
            return None
        return cell, span.shifted(-cell.first_line)

    def edits_by_cell(self, edits: Iterable[Edit]) -> dict[int, list[Edit]] | None:
        """Module edits as cell-relative edits per cell index; None if one crosses cells or
        touches a blanked (IPython) line, where applying it would change what was not analysed."""
        out: dict[int, list[Edit]] = {}
        for edit in edits:
            located = self.cell_span(edit.span)
            if located is None:
                return None
            cell, span = located
            original, masked = split_lines(cell.source), split_lines(mask_magics(cell.source))
            if original[span.start_line:span.end_line + 1] != masked[span.start_line:span.end_line + 1]:
                return None
            out.setdefault(cell.index, []).append(Edit(span, edit.content))
        return out

    def cell_lines_in(self, text: str) -> str:
        """Text that names module lines ("-Inf first from Log (line 6)") with cell lines instead."""
        def cell_line(match: re.Match[str]) -> str:
            line = int(match.group(1)) - 1
            cell = self.cell_at(line)
            return f"cell {cell.number}, line {line - cell.first_line + 1}" if cell is not None else match.group(0)

        return _LINE_REFERENCE.sub(cell_line, text) if text else text

    def finding_in_cell(self, finding: Finding) -> tuple[CodeCell, Finding] | None:
        """The finding at cell-relative positions, with the part of its fix in that cell (no fix when
        the fix cannot be applied to cells); :meth:`edits_by_cell` of ``finding.fix`` has the rest."""
        located = self.cell_span(finding.span)
        if located is None:
            return None
        cell, span = located
        fix = None
        if finding.fix is not None:
            edits = self.edits_by_cell(finding.fix.edits)
            if edits is not None and edits.get(cell.index):
                fix = Fix(finding.fix.message, finding.fix.applicability, tuple(edits[cell.index]))
        return cell, replace(finding, span=span, fix=fix, evidence=self.cell_lines_in(finding.evidence))


def join_cells(cells: Sequence[tuple[int, str]]) -> JoinedCells:
    """``(index, source)`` of the code cells, in notebook order, as one module."""
    parts: list[str] = []
    placed: list[CodeCell] = []
    line = 0
    for index, source in cells:
        masked = mask_magics(source)
        count = len(split_lines(masked))
        placed.append(CodeCell(index, source, line, count))
        parts.append(masked)
        line += count
    return JoinedCells("\n".join(parts), tuple(placed))
