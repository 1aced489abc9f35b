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

__all__ = ["SOURCE", "data_of", "finding_key", "message_of", "to_diagnostic", "to_diagnostics"]

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}
_VERDICT_SUFFIX = {
    "confirmed": "confirmed by the gradient check",
    "not_reproduced": "not reproduced by the gradient check",
    "not_run": "gradient check not run",
}

_EVIDENCE_CHARS = 100
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
    suffix = _VERDICT_SUFFIX.get(finding.verdict or "")
    if not suffix:
        return finding.message
    evidence = finding.evidence
    if len(evidence) > _EVIDENCE_CHARS:  # the whole evidence is in the hover and in data
        evidence = evidence[:_EVIDENCE_CHARS - 1].rstrip() + "…"
    return f"{finding.message} [{suffix}: {evidence}]" if evidence else f"{finding.message} [{suffix}]"


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
                  related_support: bool = True) -> types.Diagnostic:
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
        severity=severity(finding.severity),
        code=finding.code,
        code_description=types.CodeDescription(href=finding.url) if finding.url else None,
        source=SOURCE,
        related_information=related,
        data=data_of(finding, version),
    )


def to_diagnostics(findings: Iterable[Finding], lines: Lines, version: int | None,
                   lines_for: LinesFor | None = None, related_support: bool = True) -> list[types.Diagnostic]:
    return [to_diagnostic(f, lines, version, lines_for, related_support) for f in findings]
