"""Hover over a flagged expression: what the rule says, why it breaks training, the fix as a diff."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lsprotocol import types

from loss_lsp.engine import Edit, Finding, Span
from loss_lsp.engine.fixes import apply_edits
from loss_lsp.server.diagnostics import VERDICT_LABELS, severity_in_effect

if TYPE_CHECKING:
    from loss_lsp.server.pipeline import DocResult

_VERDICT_DETAIL = {
    "confirmed": "TensorFlow reproduced the problem",
    "not_reproduced": "TensorFlow did not show the problem on the probe inputs",
    "not_run": "TensorFlow did not run this loss",
}


def _rules() -> dict:
    from loss_lsp.rules import RULES

    return RULES


def diff_preview(lines: Sequence[str], edits: Sequence[Edit]) -> str:
    """The fix as ``-``/``+`` lines, one hunk per group of touched lines (never the whole file)."""
    groups: list[list[Edit]] = []
    for edit in sorted(edits, key=lambda e: e.span):
        if groups and edit.span.start_line <= max(e.span.end_line for e in groups[-1]) + 1:
            groups[-1].append(edit)
        else:
            groups.append([edit])
    hunks = []
    for group in groups:
        first = group[0].span.start_line
        last = max(e.span.end_line for e in group)
        old = list(lines[first:last + 1])
        if not old:
            old = [""]
        rebased = [Edit(Span(e.span.start_line - first, e.span.start_col, e.span.end_line - first, e.span.end_col),
                        e.content) for e in group]
        new = apply_edits("\n".join(old), rebased).split("\n")
        if old == [""]:
            hunks.append("\n".join(f"+{line}" for line in new))
        else:
            hunks.append("\n".join([f"-{line}" for line in old] + [f"+{line}" for line in new]))
    return "\n".join(hunks)


def explain(finding: Finding, lines: Sequence[str], not_reproduced: str = "hint") -> str:
    """What is wrong, the fix, then why: the fix is on screen without scrolling the hover."""
    rule = _rules().get(finding.code)
    name = finding.name or (rule.name if rule else "")
    title = f"**{finding.code} {name}** · {severity_in_effect(finding, not_reproduced)}"
    if finding.verdict:
        title += f" · gradient check: **{VERDICT_LABELS.get(finding.verdict, finding.verdict)}**"
    parts = [title, "", finding.message + (f" (in `{finding.loss}`)" if finding.loss and not finding.sink else "")]
    if finding.sink:  # a training step rather than a loss: say what differentiates it
        parts += ["", f"In `{finding.loss}`, {finding.sink}."]
    if finding.fix is not None and finding.fix.edits:
        safety = "safe" if finding.fix.applicability == "safe" else "unsafe: review the change"
        parts += ["", f"**Fix:** {finding.fix.message} ({safety})", "```diff",
                  diff_preview(lines, finding.fix.edits), "```"]
    elif rule is not None and rule.fix_title:
        parts += ["", f"**How to fix:** {rule.fix_title}"]
    if finding.verdict:
        detail = _VERDICT_DETAIL.get(finding.verdict, "")
        evidence = f": {finding.evidence.rstrip('.')}" if finding.evidence else ""
        probe = f" (probe: `{finding.probe}`)" if finding.probe else ""
        parts += ["", f"**Gradient check: {VERDICT_LABELS.get(finding.verdict, finding.verdict)}.** "
                      f"{detail}{evidence}{probe}."]
    if rule is not None and rule.why:
        parts += ["", "**Why it breaks training.** " + rule.why]
    if finding.url:
        parts += ["", f"[{finding.code} documentation]({finding.url})"]
    return "\n".join(parts)


def shapes_note(result: DocResult, line: int, column: int) -> str:
    """``y_true (batch,) float32 (continuous), from `y = x.sum(axis=1)`, line 12`` when the cursor is on a
    loss's y_true / y_pred parameter (by name, inside that loss) and the engine knows its shape."""
    lines = result.lines.lines or []
    text = lines[line] if 0 <= line < len(lines) else ""
    match = next((m for m in re.finditer(r"\w+", text) if m.start() <= column <= m.end()), None)
    losses = result.analysis.losses if result.analysis is not None else []
    owner = max((info for info in losses if info.span.start_line <= line), key=lambda i: i.span.start_line,
                default=None)
    if match is None or owner is None or owner.kind == "lambda":
        return ""
    first = owner.span.start_line
    if owner.kind == "loss_class":  # the class line: the parameters are on `def call(...)` below it
        first = max((n for n in range(first, line + 1) if lines[n].lstrip().startswith("def ")), default=first)
        if not lines[first].lstrip().startswith("def call("):
            return ""
    header = lines[first]
    indent = len(header) - len(header.lstrip())
    if line != first and text.strip() and len(text) - len(text.lstrip()) <= indent:
        return ""  # past the end of that loss
    params = re.findall(r"\w+", header[header.find("(") + 1:header.find(")")] if "(" in header else "")
    params = [p for p in params if p != "self"][:2]
    if match.group() not in params:
        return ""
    role = ("y_true", "y_pred")[params.index(match.group())]
    shape = owner.y_true_shape if role == "y_true" else owner.y_pred_shape
    if shape is None:
        return ""
    extra = owner.y_true_dtype if role == "y_true" else owner.y_pred_range and f"{owner.y_pred_range} output"
    domain = f" ({owner.y_true_domain})" if role == "y_true" and owner.y_true_domain else ""
    origin = next((part.split(" from ", 1)[1] for part in owner.source.split("; ")
                   if part.startswith(role + " ") and " from " in part), "")
    dims = "(" + ", ".join("batch" if i == 0 else "?" if d is None else str(d) for i, d in enumerate(shape)) + (
        ",)" if len(shape) == 1 else ")")
    return f"`{role}` {dims}{' ' + extra if extra else ''}{domain}" + (f", from {origin}" if origin else "")


def hover(result: DocResult, position: types.Position, markdown: bool = True) -> types.Hover | None:
    line, column = result.lines.to_engine(position)
    hits = [f for f in result.findings if f.span.contains(line, column)]
    note = shapes_note(result, line, column)
    if not hits and not note:
        return None
    lines = result.lines.lines or []
    not_reproduced = result.settings.not_reproduced_severity
    parts = [explain(f, lines, not_reproduced) for f in hits] + ([f"**Shape:** {note}"] if note else [])
    text = "\n\n---\n\n".join(parts)
    if not hits:
        return types.Hover(contents=types.MarkupContent(
            kind=types.MarkupKind.Markdown if markdown else types.MarkupKind.PlainText, value=text))
    span = hits[0].span
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown if markdown else types.MarkupKind.PlainText,
                                     value=text),
        range=result.lines.range(span.start_line, span.start_col, span.end_line, span.end_col),
    )
