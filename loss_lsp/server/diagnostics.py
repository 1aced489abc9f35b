"""Engine findings -> LSP diagnostics.

Every diagnostic carries ``source: "loss-lsp"``, the rule code, a link to the rule's
page, the severity in effect, the range of the offending expression, related
locations (compile sites in other files) and ``data`` describing its fix, so that a
client can offer the quick fix without asking the server what it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from loss_lsp.server.capabilities import SOURCE
from loss_lsp.server.positions import Lines
from loss_lsp.server.uris import path_to_uri

if TYPE_CHECKING:  # the engine is imported after `initialize` has been answered
    from loss_lsp.engine import Finding, Span

__all__ = ["SOURCE", "VERDICT_LABELS", "data_of", "finding_key", "message_of", "severity_in_effect", "to_diagnostic",
           "to_diagnostics"]

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}
# The verdict leads the message: the Problems panel cuts long messages at the panel's width,
# and the evidence is in the hover and in ``data`` (a client can show it as it likes).
VERDICT_LABELS = {
    "confirmed": "confirmed",
    "not_reproduced": "not reproduced",
    "not_run": "check not run",
}

_RANK = {name: rank for rank, name in enumerate(_SEVERITY)}  # error 0 ... hint 3
LinesFor = Callable[[str], "Lines | None"]


def severity(name: str) -> types.DiagnosticSeverity:
    return _SEVERITY.get(name, types.DiagnosticSeverity.Warning)


def span_range(lines: Lines, span: Span) -> types.Range:
    return lines.range(span.start_line, span.start_col, span.end_line, span.end_col)


def finding_key(finding: Finding) -> list[Any]:
    """Identifies a finding within one analysed version (code + span)."""
    s = finding.span
    return [finding.code, s.start_line, s.start_col, s.end_line, s.end_col]


def message_of(finding: Finding) -> str:
    label = VERDICT_LABELS.get(finding.verdict or "")
    return f"[{label}] {finding.message}" if label else finding.message


def severity_in_effect(finding: Finding, not_reproduced: str = "hint") -> str:
    """A finding the gradient check did not reproduce drops to ``not_reproduced`` (a setting,
    hint by default: dots under the code, out of the Problems panel's count), never up."""
    if finding.verdict == "not_reproduced" and _RANK[not_reproduced] > _RANK.get(finding.severity, 1):
        return not_reproduced
    return finding.severity


def data_of(finding: Finding, version: int | None) -> dict[str, Any]:
    data: dict[str, Any] = {"key": finding_key(finding), "version": version, "loss": finding.loss}
    if finding.fix is not None:
        data["fix"] = {"title": finding.fix.message, "applicability": finding.fix.applicability}
    if finding.verdict:
        data["verdict"] = finding.verdict
        data["evidence"] = finding.evidence
        if finding.probe:
            data["probe"] = finding.probe
    return data


def to_diagnostic(finding: Finding, lines: Lines, version: int | None, lines_for: LinesFor | None = None,
                  related_support: bool = True, not_reproduced: str = "hint") -> types.Diagnostic:
    related = None
    if related_support and finding.related:
        related = []
        for item in finding.related:
            other = lines_for(item.path) if lines_for is not None else None
            other = other or Lines(None, lines.encoding)
            related.append(types.DiagnosticRelatedInformation(
                location=types.Location(uri=path_to_uri(item.path),
                                        range=span_range(other, item.span)),
                message=item.message))
    return types.Diagnostic(
        range=span_range(lines, finding.span),
        message=message_of(finding),
        severity=severity(severity_in_effect(finding, not_reproduced)),
        code=finding.code,
        code_description=types.CodeDescription(href=finding.url) if finding.url else None,
        source=SOURCE,
        related_information=related,
        data=data_of(finding, version),
    )


def to_diagnostics(findings: Iterable[Finding], lines: Lines, version: int | None,
                   lines_for: LinesFor | None = None, related_support: bool = True,
                   not_reproduced: str = "hint") -> list[types.Diagnostic]:
    return [to_diagnostic(f, lines, version, lines_for, related_support, not_reproduced) for f in findings]
