"""Pull diagnostics: ``textDocument/diagnostic`` and ``workspace/diagnostic``.

Open documents answer with their current result; files that are not open are analysed
from disk on the engine thread at the lowest priority, so typing is never delayed by them.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from loss_lsp.server.pipeline import DocResult
from loss_lsp.server.progress import WorkDone
from loss_lsp.server.scheduler import BULK, INDEX, Snapshot
from loss_lsp.server.uris import path_to_uri, uri_to_path

if TYPE_CHECKING:
    from loss_lsp.server.server import LossLanguageServer

PYTHON_SUFFIXES = (".py", ".pyi")


async def document_report(ls: LossLanguageServer, params: types.DocumentDiagnosticParams
                          ) -> types.DocumentDiagnosticReport:
    if ls.notebooks.is_cell(params.text_document.uri):  # cells get theirs pushed (notebooks.py)
        return types.RelatedFullDocumentDiagnosticReport(items=[])
    result = await ls.result_for(params.text_document.uri)
    if result is None:
        result = await closed_file_result(ls, params.text_document.uri)
    if result is None or result.cells is not None:  # a notebook: its diagnostics are its cells', pushed
        return types.RelatedFullDocumentDiagnosticReport(items=[])
    if params.previous_result_id == result.result_id:
        return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result.result_id)
    return types.RelatedFullDocumentDiagnosticReport(items=result.diagnostics, result_id=result.result_id)


async def closed_file_result(ls: LossLanguageServer, uri: str) -> DocResult | None:
    """Analyse a file that is not open (pull diagnostics for it), from disk."""
    path = uri_to_path(uri)
    if path is None or not path.endswith(PYTHON_SUFFIXES) or ls.engine is None:
        return None
    context = ls.context_for(uri)

    def job() -> DocResult | None:  # on the engine thread: disk reads stay off the event loop too
        from loss_lsp.server.pipeline import run

        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return None
        epoch = hash((mtime, repr(context.settings), id(context.gradients))) & 0x7FFFFFFF
        return run(Snapshot(uri, None, text, epoch, context), context, ls.text_cache)

    return await asyncio.wrap_future(ls.engine.submit(job, priority=BULK))


async def workspace_report(ls: LossLanguageServer, params: types.WorkspaceDiagnosticParams
                                 ) -> types.WorkspaceDiagnosticReport:
    previous = {p.uri: p.value for p in params.previous_result_ids or []}
    items: list[Any] = []
    progress = WorkDone(ls, "loss-lsp: workspace diagnostics", token=params.work_done_token)
    await progress.begin()
    try:
        open_uris = list(ls.scheduler.docs) if ls.scheduler else []
        for uri in open_uris:
            result = await ls.result_for(uri)
            if result is not None and result.cells is None:  # a notebook's cells are pushed, not pulled
                items.append(_file_report(result, previous.get(uri)))
        files: list[str] = []
        if ls.indexer is not None and ls.engine is not None:
            for workspace in ls.indexer.workspaces.values():
                found = await asyncio.wrap_future(ls.engine.submit(workspace.python_files, priority=INDEX))
                files += [str(p) for p in found]
        closed = [f for f in files if path_to_uri(f) not in open_uris]
        for number, path in enumerate(closed, 1):
            if progress.cancelled():
                break
            result = await closed_file_result(ls, path_to_uri(path))
            if result is not None:
                items.append(_file_report(result, previous.get(result.uri)))
            progress.report(f"{number}/{len(closed)}", int(100 * number / max(len(closed), 1)))
    finally:
        progress.end()
    return types.WorkspaceDiagnosticReport(items=items)


def _file_report(result: DocResult, previous: str | None) -> Any:
    if previous == result.result_id:
        return types.WorkspaceUnchangedDocumentDiagnosticReport(uri=result.uri, result_id=result.result_id,
                                                                version=result.version)
    return types.WorkspaceFullDocumentDiagnosticReport(uri=result.uri, items=result.diagnostics,
                                                       version=result.version, result_id=result.result_id)
