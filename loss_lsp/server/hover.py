"""Hover over a flagged expression: what the rule says, why it breaks training, the fix as a diff."""

from __future__ import annotations

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
    parts = [title, "", finding.message + (f" (in `{finding.loss}`)" if finding.loss else "")]
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


def hover(result: DocResult, position: types.Position, markdown: bool = True) -> types.Hover | None:
    line, column = result.lines.to_engine(position)
    hits = [f for f in result.findings if f.span.contains(line, column)]
    if not hits:
        return None
    lines = result.lines.lines or []
    not_reproduced = result.settings.not_reproduced_severity
    text = "\n\n---\n\n".join(explain(f, lines, not_reproduced) for f in hits)
    span = hits[0].span
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown if markdown else types.MarkupKind.PlainText,
                                     value=text),
        range=result.lines.range(span.start_line, span.start_col, span.end_line, span.end_col),
    )
