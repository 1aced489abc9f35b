"""Output formats of ``loss-lsp check``: text (like ruff), JSON, SARIF 2.1.0.

Positions in a notebook are given per cell: ``train.ipynb:cell 3:2:5`` in text, a ``cell``
field with cell-relative rows in JSON, and in SARIF the region of the code in the
``.ipynb`` file itself (with the cell location as properties).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loss_lsp import __version__
from loss_lsp.cli.files import display
from loss_lsp.engine.findings import Finding, InputError, Span
from loss_lsp.engine.ipynb import file_offset, source_spans
from loss_lsp.engine.notebook import CodeCell, JoinedCells

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
from loss_lsp.rules import RULES


@dataclass
class Places:
    """Where the findings of notebooks are: path -> (the joined cells, the notebook's JSON text)."""

    notebooks: dict[str, tuple[JoinedCells, str]] = field(default_factory=dict)
    _spans: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)

    def place(self, path: str, span: Span) -> tuple[CodeCell | None, Span]:
        """(the cell, or None for a .py file; the span relative to that cell)."""
        entry = self.notebooks.get(path)
        cell = entry[0].cell_at(span.start_line) if entry is not None else None
        if cell is None:
            return None, span
        return cell, span.shifted(-cell.first_line)

    def where(self, path: str, span: Span) -> str:
        cell, local = self.place(path, span)
        prefix = f"{display(path)}:cell {cell.number}" if cell is not None else display(path)
        return f"{prefix}:{local.start_line + 1}:{local.start_col + 1}"

    def evidence(self, finding: Finding) -> str:
        """The gradient check's evidence; in a notebook, with lines named by cell."""
        return self.lines_named(finding.path, finding.evidence)

    def lines_named(self, path: str, text: str) -> str:
        """Text that names lines ("syntax error ... (line 9)"); in a notebook, named by cell."""
        entry = self.notebooks.get(path)
        return entry[0].cell_lines_in(text) if entry is not None else text

    def file_region(self, path: str, span: Span) -> dict[str, int] | None:
        """A notebook span as a region of the .ipynb file's own text (None for a .py file)."""
        cell, local = self.place(path, span)
        if cell is None:
            return None
        text = self.notebooks[path][1]
        if path not in self._spans:
            self._spans[path] = source_spans(text)
        starts = [0] + [m.end() for m in _LINE_BREAK.finditer(cell.source)]
        ends = []
        for line, col in ((local.start_line, local.start_col), (local.end_line, local.end_col)):
            offset = starts[min(line, len(starts) - 1)] + col
            found = file_offset(text, self._spans[path], cell.index, min(offset, len(cell.source)))
            if found is None:
                return None
            before = text.rfind("\n", 0, found)
            ends.append((text.count("\n", 0, found) + 1, found - before))
        (start_line, start_col), (end_line, end_col) = ends
        return {"startLine": start_line, "startColumn": start_col, "endLine": end_line, "endColumn": end_col}


NO_PLACES = Places()


def _verdict_suffix(finding: Finding, places: Places | None = None) -> str:
    if finding.verdict is None:
        return ""
    label = finding.verdict.replace("_", " ")
    evidence = places.evidence(finding) if places is not None else finding.evidence
    return f" [{label}: {evidence}]" if evidence else f" [{label}]"


def text_line(finding: Finding, places: Places = NO_PLACES) -> str:
    mark = " [*]" if finding.fix is not None and finding.fix.applicability == "safe" else ""
    return (f"{places.where(finding.path, finding.span)}: "
            f"{finding.code}{mark} [{finding.name}] {finding.message}{_verdict_suffix(finding, places)}")


def error_line(error: InputError, places: Places = NO_PLACES) -> str:
    where = places.where(error.path, error.span) if error.span is not None else display(error.path)
    return f"{where}: error: {places.lines_named(error.path, error.message)}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def summary(findings: list[Finding], errors: Sequence[InputError] = (), fixed: int | None = None) -> str:
    """The last line(s): success only when every file was checked and nothing was found."""
    lines = []
    if fixed is not None:
        lines.append(f"Fixed {_plural(fixed, 'finding')} ({len(findings)} remaining).")
    unchecked = len({e.path for e in errors})
    if unchecked:
        lines.append(f"{_plural(unchecked, 'file')} could not be checked fully (errors above).")
    if not findings:
        lines.append("No findings in the files that could be checked." if unchecked else "All checks passed!")
        return "\n".join(lines)
    safe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "safe")
    unsafe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "unsafe")
    lines.append(f"Found {_plural(len(findings), 'finding')}.")
    if safe:
        lines.append(f"[*] {safe} fixable with `--fix`.")
    if unsafe:
        lines.append(f"({unsafe} more fixable with `--fix --unsafe-fixes`.)")
    return "\n".join(lines)


def verdict_tally(findings: list[Finding]) -> str:
    """``--gradients``: how many findings TensorFlow confirmed, did not reproduce, or could not run."""
    counts = Counter(f.verdict or "not_run" for f in findings)
    return (f"Gradient check: {counts['confirmed']} confirmed, {counts['not_reproduced']} not reproduced, "
            f"{counts['not_run']} not run.")


def statistics(findings: list[Finding]) -> str:
    counts = Counter(f.code for f in findings)
    fixable = {f.code for f in findings if f.fix is not None and f.fix.applicability == "safe"}
    rows = []
    for code, count in counts.most_common():
        mark = "[*]" if code in fixable else "   "
        rows.append(f"{count:>5}  {code}  {mark} {RULES[code].name if code in RULES else ''}")
    return "\n".join(rows)


def _location(span: Span) -> tuple[dict[str, int], dict[str, int]]:
    return ({"row": span.start_line + 1, "column": span.start_col + 1},
            {"row": span.end_line + 1, "column": span.end_col + 1})


def as_json(findings: list[Finding], places: Places = NO_PLACES) -> str:
    """Rows and columns 1-based; in a notebook, relative to the cell named by ``cell`` (1-based)."""
    out: list[dict[str, Any]] = []
    for finding in findings:
        cell, span = places.place(finding.path, finding.span)
        start, end = _location(span)
        fix = None
        if finding.fix is not None:
            edits = []
            for edit in finding.fix.edits:
                edit_cell, edit_span = places.place(finding.path, edit.span)
                e_start, e_end = _location(edit_span)
                edits.append({"content": edit.content, "location": e_start, "end_location": e_end})
                if edit_cell is not None:
                    edits[-1]["cell"] = edit_cell.number
            fix = {"applicability": finding.fix.applicability, "message": finding.fix.message, "edits": edits}
        item: dict[str, Any] = {
            "filename": str(Path(finding.path)), "code": finding.code, "name": finding.name,
            "message": finding.message, "severity": finding.severity, "location": start, "end_location": end,
            "fix": fix, "url": finding.url, "loss": finding.loss,
        }
        if cell is not None:
            item["cell"] = cell.number
        if finding.verdict is not None:
            item["verdict"] = finding.verdict
            item["evidence"] = places.evidence(finding)
            item["probe"] = finding.probe
        out.append(item)
    return json.dumps(out, indent=2, ensure_ascii=False)


_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note", "hint": "note"}


def as_sarif(findings: list[Finding], errors: list[InputError], places: Places = NO_PLACES) -> str:
    rules = [
        {
            "id": rule.code, "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.why},
            "helpUri": rule.url,
            "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
        }
        for rule in RULES.values()
    ]
    index = {rule.code: i for i, rule in enumerate(RULES.values())}
    results = []
    for finding in findings:
        result: dict[str, Any] = {
            "ruleId": finding.code, "ruleIndex": index.get(finding.code, -1),
            "level": _SARIF_LEVEL[finding.severity],
            "message": {"text": finding.message + _verdict_suffix(finding, places)},
            "locations": [_sarif_location(finding.path, finding.span, places)],
        }
        cell, local = places.place(finding.path, finding.span)
        if cell is not None:  # the region is in the .ipynb text; where it is in the cell, as properties
            result["properties"] = {"cell": cell.number, "cellLine": local.start_line + 1,
                                    "cellColumn": local.start_col + 1}
        if finding.fix is not None and cell is None:  # a fix in a notebook's JSON text is not a text replacement
            result["fixes"] = [{
                "description": {"text": finding.fix.message},
                "artifactChanges": [{
                    "artifactLocation": {"uri": Path(finding.path).resolve().as_uri()},
                    "replacements": [{"deletedRegion": _region(e.span), "insertedContent": {"text": e.content}}
                                     for e in finding.fix.edits],
                }],
            }]
        results.append(result)
    notifications = [{"level": "error", "message": {"text": f"{e.path}: {e.message}"}} for e in errors]
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "loss-lsp", "version": __version__, "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "results": results,
            "invocations": [{"executionSuccessful": not errors, "toolExecutionNotifications": notifications}],
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False)


def _region(span: Span) -> dict[str, int]:
    return {"startLine": span.start_line + 1, "startColumn": span.start_col + 1,
            "endLine": span.end_line + 1, "endColumn": span.end_col + 1}


def _sarif_location(path: str, span: Span, places: Places) -> dict[str, Any]:
    region = places.file_region(path, span) or _region(span)
    return {"physicalLocation": {"artifactLocation": {"uri": Path(path).resolve().as_uri()}, "region": region}}
