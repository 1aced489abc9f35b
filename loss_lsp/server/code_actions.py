"""Code actions: a quick fix per diagnostic, a suppression comment, and fix-all.

When the client can resolve code actions lazily (``codeAction/resolve`` with the
``edit`` property), the list carries no edits, only ``data`` naming the document
version and the finding; the edit is computed when the user picks the action.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from loss_lsp.engine import Edit, Span
from loss_lsp.engine.fixes import select_fixes
from loss_lsp.engine.suppression import suppress_comment
from loss_lsp.server.diagnostics import SOURCE, finding_key

if TYPE_CHECKING:
    from loss_lsp.engine import Finding
    from loss_lsp.server.pipeline import DocResult

from loss_lsp.server.capabilities import FIX_ALL, QUICKFIX, ClientSupport


def wanted(kind: str, only: Sequence[str] | None) -> bool:
    """LSP kinds are hierarchical: asking for "source" includes "source.fixAll.loss-lsp"."""
    if not only:
        return True
    return any(kind == k or kind.startswith(f"{k}.") for k in only)


def _overlaps(span: Span, start: tuple[int, int], end: tuple[int, int]) -> bool:
    return (span.start_line, span.start_col) <= end and start <= (span.end_line, span.end_col)


def findings_in(result: DocResult, rng: types.Range, context_diagnostics: Iterable[types.Diagnostic]) -> list[int]:
    """Indexes of the findings the request is about: under the range, or named by the client."""
    keys = set()
    for diagnostic in context_diagnostics:
        data = diagnostic.data
        if diagnostic.source == SOURCE and isinstance(data, dict) and isinstance(data.get("key"), list):
            keys.add(tuple(data["key"]))
    start = result.lines.to_engine(rng.start)
    end = result.lines.to_engine(rng.end)
    return [i for i, finding in enumerate(result.findings)
            if tuple(finding_key(finding)) in keys or _overlaps(finding.span, start, end)]


def text_edits(result: DocResult, edits: Iterable[Edit]) -> list[types.TextEdit]:
    out = []
    for edit in edits:
        span = edit.span
        out.append(types.TextEdit(range=result.lines.range(span.start_line, span.start_col, span.end_line,
                                                            span.end_col), new_text=edit.content))
    return out


def workspace_edit(result: DocResult, edits: list[types.TextEdit], support: ClientSupport,
                   keys: Iterable[Sequence[Any]] = ()) -> types.WorkspaceEdit:
    """The edits of this document, plus, in a notebook cell, the parts of the fixes named by ``keys``
    that fall in other cells (an import added to the first cell)."""
    documents: dict[str, tuple[int | None, list[types.TextEdit]]] = {result.uri: (result.version, edits)}
    for key in keys:
        for uri, (version, extra) in (result.other_cells or {}).get(tuple(key), {}).items():
            collected = documents.setdefault(uri, (version, []))[1]
            collected.extend(e for e in extra if e not in collected)  # the same import wanted twice: once
    if support.document_changes:
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
            edits=doc_edits) for uri, (version, doc_edits) in documents.items()])  # type: ignore[misc]
    return types.WorkspaceEdit(changes={uri: doc_edits for uri, (_, doc_edits) in documents.items()})


def suppress_edit(result: DocResult, finding: Finding) -> Edit | None:
    """Append (or extend) ``# loss-lsp: ignore[CODE]`` on a line the engine checks for it."""
    lines = result.lines.lines or []
    for index in dict.fromkeys((finding.span.start_line, finding.span.end_line)):
        if index >= len(lines):
            continue
        line = lines[index]
        if line.rstrip().endswith("\\"):
            continue  # a comment after a line continuation would break the code
        new = suppress_comment(line, finding.code)
        if new == line:
            return None
        common = 0
        while common < min(len(line), len(new)) and line[common] == new[common]:
            common += 1
        return Edit(Span(index, common, index, len(line)), new[common:])
    return None


def _fix_all(findings: list[Finding]) -> tuple[list[Edit], list[list[Any]]]:
    """Fix-all's edits (the safe fixes that can be applied together, the same choice as
    ``apply_fixes``), and the keys of the findings whose fixes it applies."""
    edits: dict[tuple[Span, str], Edit] = {}
    chosen = {id(fix) for fix in select_fixes(findings, unsafe=False)}
    keys = []
    for finding in findings:
        if finding.fix is not None and id(finding.fix) in chosen:
            keys.append(finding_key(finding))
            for edit in finding.fix.edits:
                edits.setdefault((edit.span, edit.content), edit)
    return list(edits.values()), keys


def _edit_for(result: DocResult, kind: str, key: Sequence[Any] | None) -> tuple[list[Edit], list[Any]] | None:
    """The edits of an action in this document, and the keys of the findings whose fixes it applies."""
    if kind == "fixAll":
        return _fix_all(result.findings)
    finding = next((f for f in result.findings if finding_key(f) == list(key or ())), None)
    if finding is None:
        return None
    if kind == "fix":
        return (list(finding.fix.edits), [finding_key(finding)]) if finding.fix is not None else None
    edit = suppress_edit(result, finding)
    return ([edit], []) if edit is not None else None


def _action(result: DocResult, title: str, kind: str, action: str, key: list[Any] | None,
            support: ClientSupport, diagnostics: list[types.Diagnostic] | None = None,
            preferred: bool | None = None) -> types.CodeAction | None:
    data = {"uri": result.uri, "version": result.version, "action": action, "key": key}
    edit = None
    if not support.lazy_edits:
        found = _edit_for(result, action, key)
        if not found or not found[0]:
            return None
        edit = workspace_edit(result, text_edits(result, found[0]), support, found[1])
    return types.CodeAction(title=title, kind=kind, diagnostics=diagnostics, is_preferred=preferred, edit=edit,
                            data=data)


def code_actions(result: DocResult, rng: types.Range, context: types.CodeActionContext,
                 support: ClientSupport) -> list[types.CodeAction]:
    actions: list[types.CodeAction | None] = []
    if wanted(QUICKFIX, context.only):
        for index in findings_in(result, rng, context.diagnostics):
            finding = result.findings[index]
            diagnostic = result.diagnostics[index] if index < len(result.diagnostics) else None
            diagnostics = [diagnostic] if diagnostic is not None else None
            key = finding_key(finding)
            if finding.fix is not None and finding.fix.edits:
                unsafe = finding.fix.applicability == "unsafe"
                title = f"{finding.fix.message} ({finding.code}{', unsafe: review the change' if unsafe else ''})"
                actions.append(_action(result, title, QUICKFIX, "fix", key, support, diagnostics,
                                       preferred=not unsafe))
            actions.append(_action(result, f"Ignore {finding.code} on this line (# loss-lsp: ignore[{finding.code}])",
                                   QUICKFIX, "suppress", key, support, diagnostics))
    if wanted(FIX_ALL, context.only) and any(
            f.fix is not None and f.fix.applicability == "safe" for f in result.findings):
        actions.append(_action(result, "Fix all safe loss-lsp problems", FIX_ALL, "fixAll", None, support))
    return [a for a in actions if a is not None]


class StaleAction(Exception):
    """The document changed since the action was offered."""


def resolve(action: types.CodeAction, result: DocResult, support: ClientSupport) -> types.CodeAction:
    data = action.data if isinstance(action.data, dict) else {}
    if data.get("version") != result.version:
        raise StaleAction(f"{result.uri} changed (version {data.get('version')} -> {result.version})")
    found = _edit_for(result, str(data.get("action")), data.get("key"))
    if found and found[0]:
        action.edit = workspace_edit(result, text_edits(result, found[0]), support, found[1])
    return action
