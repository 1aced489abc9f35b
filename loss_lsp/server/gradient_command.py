"""``loss-lsp.checkGradients``: run the gradient check on documents and report every verdict.

The check itself runs on :class:`~loss_lsp.server.gradients.GradientRunner`'s thread (and
TensorFlow in its worker process); here the command's arguments are read, the documents'
current analyses gathered, progress and cancellation wired, and the answer built.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from loss_lsp.server import notebooks
from loss_lsp.server.gradients import GradientRun, availability
from loss_lsp.server.pipeline import DocResult
from loss_lsp.server.progress import WorkDone
from loss_lsp.server.scheduler import INDEX
from loss_lsp.server.uris import path_to_uri, uri_to_path
from loss_lsp.server.workspace_diagnostics import closed_file_result

if TYPE_CHECKING:
    from loss_lsp.server.server import LossLanguageServer

CHECK_GRADIENTS = "loss-lsp.checkGradients"
REQUEST_FAILED = -32803  # LSP ErrorCodes.RequestFailed


def parse_arguments(args: tuple[Any, ...]) -> tuple[str | None, types.Position | None, str | None]:
    """``[]`` (workspace), ``[uri]``, ``[uri, {line, character}]`` or ``[uri, "loss name"]``."""
    uri = position = loss = None
    if len(args) > 2:
        raise JsonRpcInvalidParams(f"{CHECK_GRADIENTS} takes at most 2 arguments (uri, position or loss name)")
    if args:
        if not isinstance(args[0], str):
            raise JsonRpcInvalidParams(f"{CHECK_GRADIENTS}: the first argument must be a document URI")
        uri = args[0]
    if len(args) == 2:
        second = args[1]
        if isinstance(second, str):
            loss = second
        elif isinstance(second, dict) and isinstance(second.get("line"), int) and isinstance(
                second.get("character"), int):
            position = types.Position(line=second["line"], character=second["character"])
        elif second is not None:
            raise JsonRpcInvalidParams(f"{CHECK_GRADIENTS}: the second argument must be a position or a loss name")
    return uri, position, loss


async def check_gradients(ls: LossLanguageServer, uris: list[str] | None, position: types.Position | None,
                           loss: str | None, token: types.ProgressToken | None = None,
                           request_id: Any = None) -> dict[str, Any]:
    """Run the gradient check on documents (None: every Python file of the workspace)."""
    available, why = availability()
    if not available:
        raise JsonRpcException(f"{CHECK_GRADIENTS} is unavailable: {why}", code=REQUEST_FAILED)
    if uris is None:
        uris = list(ls.scheduler.docs) if ls.scheduler else []
        if ls.indexer is not None and ls.engine is not None:
            for workspace in ls.indexer.workspaces.values():
                found = await asyncio.wrap_future(ls.engine.submit(workspace.python_files, priority=INDEX))
                uris += [u for u in map(path_to_uri, map(str, found)) if u not in uris]
    else:
        cell = uris[0] if len(uris) == 1 else None
        notebook_view = ls.notebooks.views.get(ls.notebooks.notebook_of.get(cell, "")) if cell else None
        if notebook_view is not None and cell is not None:  # a cell: check its notebook's losses
            uris = [notebook_view.uri]
            if position is not None:
                position = notebooks.to_module_position(notebook_view, cell, position)
        for uri in uris:
            path = uri_to_path(uri)
            if path is None:  # untitled:, vscode-notebook-cell:, ...: there is no module to import the loss from
                raise JsonRpcException(f"{CHECK_GRADIENTS}: {uri} is not a file; the check imports the loss "
                                       "from its module on disk: save the document first", code=REQUEST_FAILED)
            if (ls.scheduler is None or uri not in ls.scheduler.docs) and not os.path.isfile(path):
                raise JsonRpcException(f"{CHECK_GRADIENTS}: {uri} is neither open nor a file", code=REQUEST_FAILED)
    progress = WorkDone(ls, "loss-lsp: gradient check", token=token, cancellable=True)
    stop = threading.Event()
    loop = asyncio.get_running_loop()

    def cancelled() -> bool:
        return stop.is_set() or progress.cancelled() or (
            request_id is not None and ls.protocol.is_cancelled(request_id))

    files: list[dict[str, Any]] = []
    await progress.begin()
    try:
        for number, uri in enumerate(uris, 1):
            if cancelled():
                break
            result = await ls.result_for(uri) or await closed_file_result(ls, uri)
            if result is None or result.analysis is None or result.path is None:
                continue
            names = [loss] if loss else _loss_at(result, position) if position is not None else None
            label = f"{os.path.basename(result.path)}" + (f" ({number}/{len(uris)})" if len(uris) > 1 else "")
            progress.report(label, int(100 * (number - 1) / max(len(uris), 1)), force=True)

            def on_progress(message: str = "", index: int = 0, total: int = 0, _label: str = label,
                            _done: int = number - 1) -> None:
                share = (_done + (index / total if total else 0)) / max(len(uris), 1)
                loop.call_soon_threadsafe(progress.report, f"{_label}: {message}", int(100 * share))

            checked = await asyncio.wrap_future(ls.gradients.thread.submit(
                ls.gradients.check, result.settings, result.text, result.path, result.analysis, names,
                on_progress, cancelled))
            findings = list(checked.findings)
            ls.gradients.runs[uri] = GradientRun(tuple(result.lines.lines or ()), tuple(findings))
            files.append({"uri": uri, "findings": [_finding_summary(f, result.notebook) for f in findings],
                          "losses": [{"name": r.name, "status": r.status, "reason": r.reason,
                                      "seconds": round(r.seconds, 3)} for r in checked.losses]})
            if ls.scheduler is not None and uri in ls.scheduler.docs:
                ls.refresh_documents([uri])
    except asyncio.CancelledError:
        stop.set()  # the thread polls cancelled() between probes
        raise
    finally:
        progress.end()
    return {"summary": _summary(files, cancelled()), "files": files,
            "losses": [loss for file in files for loss in file["losses"]]}


def _loss_at(result: DocResult, position: types.Position) -> list[str] | None:
    line, column = result.lines.to_engine(position)
    for finding in result.findings:
        if finding.loss and finding.span.contains(line, column):
            return [finding.loss]
    losses = [info for info in (result.analysis.losses if result.analysis else []) if info.span.start_line <= line]
    if not losses:
        return None
    return [max(losses, key=lambda info: info.span.start_line).name]


def _finding_summary(finding: Any, notebook: notebooks.NotebookView | None = None) -> dict[str, Any]:
    """In a notebook, ``span`` is relative to the cell named by ``cell`` (its URI)."""
    cell = None
    if notebook is not None and (located := notebook.joined.finding_in_cell(finding)) is not None:
        code_cell, finding = located
        cell = notebook.cell_uris[notebook.joined.cells.index(code_cell)]
    span = finding.span
    summary = {"code": finding.code, "loss": finding.loss, "verdict": finding.verdict, "evidence": finding.evidence,
               "message": finding.message,
               "span": [span.start_line, span.start_col, span.end_line, span.end_col]}
    if cell is not None:
        summary["cell"] = cell
    return summary


def _summary(files: list[dict[str, Any]], cancelled: bool) -> str:
    counts: dict[str, int] = {}
    for file in files:
        for finding in file["findings"]:
            verdict = (finding["verdict"] or "not_run").replace("_", " ")
            counts[verdict] = counts.get(verdict, 0) + 1
    parts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items())) or "no findings"
    return f"gradient check{' (cancelled)' if cancelled else ''}: {parts} in {len(files)} file(s)"
