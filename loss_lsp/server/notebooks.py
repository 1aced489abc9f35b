"""Notebook documents (LSP 3.17 ``notebookDocument/*``): the code cells analysed as one module.

pygls keeps the notebook and its cells' text (``LossProtocol`` applies cell edits with LSP's
line breaks). Here, on every open or change, the Python code cells are joined in order
(:mod:`loss_lsp.engine.notebook`) and the join is scheduled like any document, under the
notebook's URI: so a loss defined in cell 2 and compiled in cell 5 is found. The job splits
the result per cell (on the engine thread); diagnostics are *pushed* per cell URI at
cell-relative positions (even to clients that pull: VS Code's client pulls for cells only
from vscode-languageclient 10), and requests on a cell (code actions, resolve, hover) get
a per-cell view of the notebook's result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from lsprotocol import types

from loss_lsp.server.diagnostics import finding_key, span_range, to_diagnostic
from loss_lsp.server.positions import Lines
from loss_lsp.server.scheduler import INDEX
from loss_lsp.server.uris import uri_to_path

if TYPE_CHECKING:
    from loss_lsp.engine import Finding
    from loss_lsp.engine.notebook import CodeCell, JoinedCells
    from loss_lsp.server.pipeline import DocResult
    from loss_lsp.server.server import LossLanguageServer

NOTEBOOK_SYNC = types.NotebookDocumentSyncOptions(
    notebook_selector=[types.NotebookDocumentFilterWithCells(
        cells=[types.NotebookCellLanguage(language="python")], notebook="jupyter-notebook")],
    save=True)


@dataclass(frozen=True)
class NotebookView:
    """One version of a notebook as analysed: its joined cells and the cell documents behind them."""

    uri: str
    joined: JoinedCells
    cell_uris: tuple[str, ...]  # aligned with joined.cells
    cell_versions: tuple[int | None, ...]
    cell_lines: tuple[tuple[str, ...], ...]  # each cell's text as the editor has it

    def position_of(self, cell_uri: str) -> int | None:
        try:
            return self.cell_uris.index(cell_uri)
        except ValueError:
            return None


# The part of a fix in other cells (an import added to the first cell): finding key -> cell URI ->
# (that cell's version, its edits).
OtherCells = dict[tuple[Any, ...], dict[str, tuple[int | None, list[types.TextEdit]]]]


@dataclass
class CellResult:
    findings: list[Finding] = field(default_factory=list)  # cell-relative
    diagnostics: list[types.Diagnostic] = field(default_factory=list)
    other_cells: OtherCells = field(default_factory=dict)


def split_by_cell(findings: list[Finding], view: NotebookView, encoding: str,
                  lines_for: Callable[[str], Lines | None], related_support: bool,
                  not_reproduced: str = "hint") -> dict[str, CellResult]:
    """The notebook's findings per cell URI, at cell-relative positions (runs on the engine thread)."""
    out = {uri: CellResult() for uri in view.cell_uris}
    cells = {cell.index: position for position, cell in enumerate(view.joined.cells)}
    for finding in findings:
        located = view.joined.finding_in_cell(finding)
        if located is None:
            continue
        cell, local = located
        position = cells[cell.index]
        uri = view.cell_uris[position]
        lines = Lines(view.cell_lines[position], encoding)
        inside = tuple(r for r in local.related if r.path == finding.path)  # sites in this notebook
        diagnostic = to_diagnostic(
            _without_related(local, inside), lines, view.cell_versions[position], lines_for, related_support,
            not_reproduced)
        if related_support and inside:
            diagnostic.related_information = (diagnostic.related_information or []) + [
                types.DiagnosticRelatedInformation(location=location, message=item.message)
                for item in inside if (location := _cell_location(view, item.span, encoding)) is not None]
        out[uri].findings.append(local)
        out[uri].diagnostics.append(diagnostic)
        if local.fix is not None and finding.fix is not None:
            others = _other_cells(view, finding.fix.edits, cell.index, encoding)
            if others:
                out[uri].other_cells[tuple(finding_key(local))] = others
    return out


def _other_cells(view: NotebookView, edits: Any, own: int, encoding: str
                 ) -> dict[str, tuple[int | None, list[types.TextEdit]]]:
    out: dict[str, tuple[int | None, list[types.TextEdit]]] = {}
    for position, cell in enumerate(view.joined.cells):
        cell_edits = (view.joined.edits_by_cell(edits) or {}).get(cell.index)
        if cell.index == own or not cell_edits:
            continue
        lines = Lines(view.cell_lines[position], encoding)
        out[view.cell_uris[position]] = (view.cell_versions[position], [
            types.TextEdit(range=span_range(lines, e.span), new_text=e.content) for e in cell_edits])
    return out


def _without_related(finding: Finding, drop: tuple[Any, ...]) -> Finding:
    return replace(finding, related=tuple(r for r in finding.related if r not in drop)) if drop else finding


def _cell_location(view: NotebookView, span: Any, encoding: str) -> types.Location | None:
    located = view.joined.cell_span(span)
    if located is None:
        return None
    cell, local = located
    position = next(i for i, c in enumerate(view.joined.cells) if c.index == cell.index)
    return types.Location(uri=view.cell_uris[position],
                          range=span_range(Lines(view.cell_lines[position], encoding), local))


class Notebooks:
    """The open notebooks (touched on the event loop only)."""

    def __init__(self) -> None:
        self.views: dict[str, NotebookView] = {}
        self.notebook_of: dict[str, str] = {}  # cell URI -> notebook URI
        # notebook URI -> cell URI -> (version, diagnostics) last sent, for the cells that have some
        self.shown: dict[str, dict[str, tuple[int | None, list[types.Diagnostic]]]] = {}

    def is_cell(self, uri: str) -> bool:
        return uri in self.notebook_of

    def build(self, ls: LossLanguageServer, uri: str) -> NotebookView | None:
        """Join the notebook's Python code cells as pygls holds them now."""
        from loss_lsp.engine.chunks import split_lines
        from loss_lsp.engine.notebook import join_cells

        notebook = ls.workspace.get_notebook_document(notebook_uri=uri)
        if notebook is None:
            return None
        sources: list[tuple[int, str]] = []
        uris: list[str] = []
        versions: list[int | None] = []
        for index, cell in enumerate(notebook.cells):
            document = ls.workspace.text_documents.get(unquote(cell.document))  # pygls keys them unquoted
            if cell.kind != types.NotebookCellKind.Code or document is None:
                continue
            if (document.language_id or "python") != "python":
                continue
            sources.append((index, document.source))
            uris.append(cell.document)
            versions.append(document.version)
        joined = join_cells(sources)
        for old in [c for c, n in self.notebook_of.items() if n == uri]:
            del self.notebook_of[old]
        self.notebook_of.update({cell_uri: uri for cell_uri in uris})
        view = NotebookView(uri, joined, tuple(uris), tuple(versions),
                            tuple(tuple(split_lines(source)) for _, source in sources))
        self.views[uri] = view
        return view

    def forget(self, uri: str) -> set[str]:
        """Drop a closed notebook; returns the cells whose diagnostics must be cleared."""
        self.views.pop(uri, None)
        for cell in [c for c, n in self.notebook_of.items() if n == uri]:
            del self.notebook_of[cell]
        return set(self.shown.pop(uri, {}))


# --- handlers' bodies ----------------------------------------------------------------------------
def did_open(ls: LossLanguageServer, params: types.DidOpenNotebookDocumentParams) -> None:
    uri = params.notebook_document.uri
    view = ls.notebooks.build(ls, uri)
    if view is not None and ls.scheduler is not None:
        ls.scheduler.open(uri, params.notebook_document.version, view.joined.text)
        index(ls, uri)


def index(ls: LossLanguageServer, uri: str, closed: bool = False) -> None:
    """The workspace index sees a notebook as its joined cells (its compile sites of losses defined
    in .py modules), updated on open and save like a .py document; removed when it closes."""
    path = uri_to_path(uri)
    view = ls.notebooks.views.get(uri)
    if path is None or (view is None and not closed):
        return
    text = None if closed or view is None else view.joined.text
    ls.spawn(ls.update_index(path, text, deleted=closed), "index update")


def did_change(ls: LossLanguageServer, params: types.DidChangeNotebookDocumentParams) -> None:
    uri = params.notebook_document.uri
    view = ls.notebooks.build(ls, uri)
    if view is None or ls.scheduler is None:
        return
    # Even when the joined text is the same (a magic line edited), the cells' versions moved on:
    # the result must carry them, or code actions on those cells would be refused as stale.
    ls.scheduler.change(uri, params.notebook_document.version, view.joined.text)
    path = uri_to_path(uri)
    if path is not None:  # its uses of .py modules' losses and helpers follow the unsaved cells
        ls.index_soon(path, view.joined.text)


def did_close(ls: LossLanguageServer, params: types.DidCloseNotebookDocumentParams) -> None:
    uri = params.notebook_document.uri
    if ls.scheduler is not None:
        ls.scheduler.close(uri)
    ls.gradients.runs.pop(uri, None)
    if ls.engine is not None:  # the engine's caches need not keep the closed notebook's blocks
        ls.engine.submit(_forget, uri_to_path(uri) or uri, priority=INDEX)
    index(ls, uri, closed=True)
    cleared = ls.notebooks.forget(uri) | {cell.uri for cell in params.cell_text_documents}
    for cell in sorted(cleared):
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=cell, diagnostics=[]))


def _forget(path: str) -> None:
    from loss_lsp.checker import forget

    forget(path)


def publish(ls: LossLanguageServer, result: DocResult) -> None:
    """Push the diagnostics of the cells whose diagnostics changed; clear cells that had some and
    have none (or left the notebook).

    Positions are cell-relative, so an edit in one cell leaves the other cells' diagnostics
    equal: they are not sent again (with 40 cells with findings, resending them all costs
    more than the analysis of the edit).
    """
    if result.cells is None:
        return
    shown = ls.notebooks.shown.get(result.uri, {})
    view = result.notebook
    versions = dict(zip(view.cell_uris, view.cell_versions)) if view is not None else {}
    now: dict[str, tuple[int | None, list[types.Diagnostic]]] = {}
    for cell_uri in sorted(set(shown) - set(result.cells)):
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=cell_uri, diagnostics=[]))
    for cell_uri, cell in result.cells.items():
        sent = (versions.get(cell_uri), cell.diagnostics)
        if cell.diagnostics:
            now[cell_uri] = sent
        if shown.get(cell_uri) == sent or (not cell.diagnostics and cell_uri not in shown):
            continue
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=cell_uri, diagnostics=cell.diagnostics, version=sent[0]))
    ls.notebooks.shown[result.uri] = now


def cell_result(result: DocResult, cell_uri: str) -> DocResult | None:
    """The notebook's result as seen from one cell: its findings, diagnostics, text and version."""
    from loss_lsp.server.pipeline import DocResult

    view = result.notebook
    position = view.position_of(cell_uri) if view is not None else None
    if view is None or position is None or result.cells is None:
        return None
    cell = result.cells.get(cell_uri) or CellResult()
    lines = Lines(view.cell_lines[position], result.lines.encoding)
    code_cell: CodeCell = view.joined.cells[position]
    return DocResult(cell_uri, result.path, view.cell_versions[position], result.epoch, code_cell.source, lines,
                     result.settings, findings=list(cell.findings), diagnostics=list(cell.diagnostics),
                     seconds=result.seconds, queued=result.queued, other_cells=cell.other_cells)


def to_module_position(view: NotebookView, cell_uri: str, position: types.Position) -> types.Position | None:
    """A position in a cell as a position in the joined module (the gradient check's loss at the cursor)."""
    index = view.position_of(cell_uri)
    if index is None:
        return None
    return types.Position(line=view.joined.cells[index].first_line + position.line, character=position.character)
