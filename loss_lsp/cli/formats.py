"""Output formats of ``loss-lsp check``: text (like ruff), JSON, SARIF 2.1.0."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from loss_lsp import __version__
from loss_lsp.cli.files import display
from loss_lsp.engine.findings import Finding, InputError, Span
from loss_lsp.rules import RULES


def _verdict_suffix(finding: Finding) -> str:
    if finding.verdict is None:
        return ""
    label = finding.verdict.replace("_", " ")
    return f" [{label}: {finding.evidence}]" if finding.evidence else f" [{label}]"


def text_line(finding: Finding) -> str:
    mark = " [*]" if finding.fix is not None and finding.fix.applicability == "safe" else ""
    return (f"{display(finding.path)}:{finding.span.start_line + 1}:{finding.span.start_col + 1}: "
            f"{finding.code}{mark} [{finding.name}] {finding.message}{_verdict_suffix(finding)}")


def error_line(error: InputError) -> str:
    where = display(error.path)
    if error.span is not None:
        where += f":{error.span.start_line + 1}:{error.span.start_col + 1}"
    return f"{where}: error: {error.message}"


def summary(findings: list[Finding]) -> str:
    if not findings:
        return "All checks passed!"
    safe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "safe")
    unsafe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "unsafe")
    noun = "finding" if len(findings) == 1 else "findings"
    text = f"Found {len(findings)} {noun}."
    if safe:
        text += f"\n[*] {safe} fixable with `--fix`."
    if unsafe:
        text += f"\n({unsafe} more fixable with `--fix --unsafe-fixes`.)"
    return text


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


def as_json(findings: list[Finding]) -> str:
    out: list[dict[str, Any]] = []
    for finding in findings:
        start, end = _location(finding.span)
        fix = None
        if finding.fix is not None:
            edits = []
            for edit in finding.fix.edits:
                e_start, e_end = _location(edit.span)
                edits.append({"content": edit.content, "location": e_start, "end_location": e_end})
            fix = {"applicability": finding.fix.applicability, "message": finding.fix.message, "edits": edits}
        item: dict[str, Any] = {
            "filename": str(Path(finding.path)), "code": finding.code, "name": finding.name,
            "message": finding.message, "severity": finding.severity, "location": start, "end_location": end,
            "fix": fix, "url": finding.url, "loss": finding.loss,
        }
        if finding.verdict is not None:
            item["verdict"] = finding.verdict
            item["evidence"] = finding.evidence
            item["probe"] = finding.probe
        out.append(item)
    return json.dumps(out, indent=2, ensure_ascii=False)


_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note", "hint": "note"}


def as_sarif(findings: list[Finding], errors: list[InputError]) -> str:
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
            "message": {"text": finding.message + _verdict_suffix(finding)},
            "locations": [_sarif_location(finding.path, finding.span)],
        }
        if finding.fix is not None:
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


def _sarif_location(path: str, span: Span) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": {"uri": Path(path).resolve().as_uri()}, "region": _region(span)}}
