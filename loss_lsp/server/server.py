"""The language server: LSP messages in, engine calls out, LSP messages back.

Handlers here only translate. The analysis is the engine's (run by
:mod:`~loss_lsp.server.scheduler` on its own thread); conversions live in
:mod:`~loss_lsp.server.diagnostics`, :mod:`~loss_lsp.server.code_actions`,
:mod:`~loss_lsp.server.hover` and :mod:`~loss_lsp.server.positions`; settings in
:mod:`~loss_lsp.server.config`; the workspace index in :mod:`~loss_lsp.server.indexer`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Coroutine
from threading import Event
from typing import Any, BinaryIO
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcContentModified,
    JsonRpcException,
    JsonRpcInvalidParams,
)
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from loss_lsp import __version__
from loss_lsp.server.capabilities import CODE_ACTION_KINDS, SOURCE, ClientSupport
from loss_lsp.server.config import SECTION, ConfigStore, editor_settings
from loss_lsp.server import gradient_command, notebooks, workspace_diagnostics
from loss_lsp.server.gradient_command import CHECK_GRADIENTS, REQUEST_FAILED
from loss_lsp.server.gradients import GradientRunner
from loss_lsp.server.indexer import Indexer
from loss_lsp.server.notebooks import NOTEBOOK_SYNC, Notebooks
from loss_lsp.server.pipeline import DocResult, JobContext, TextCache
from loss_lsp.server.positions import UTF16
from loss_lsp.server.progress import WorkDone
from loss_lsp.server.protocol import LossProtocol
from loss_lsp.server.scheduler import INDEX, EngineThread, Scheduler, Snapshot
from loss_lsp.server.transport import serve_stdio, serve_stream
from loss_lsp.server.uris import path_to_uri, uri_to_path
from loss_lsp.server.workspace_diagnostics import PYTHON_SUFFIXES

log = logging.getLogger(__name__)

SERVER_INFO = "loss-lsp.serverInfo"
# JSON-RPC errors that answer a request the client got wrong or that could not be done, and say
# why: MethodNotFound, InvalidParams, InvalidRequest, ServerNotInitialized, RequestCancelled,
# ContentModified, RequestFailed. The client has the answer; they are not errors of the server.
_CLIENT_ERRORS = frozenset({-32601, -32602, -32600, -32002, -32800, -32801, REQUEST_FAILED})
_CONFIG_TIMEOUT = 5.0  # seconds to wait for the client's workspace/configuration answer


def _cap(caps: Any, dotted: str) -> Any:
    """``caps.a.b.c`` or None when any step is missing."""
    for name in dotted.split("."):
        caps = getattr(caps, name, None)
        if caps is None:
            return None
    return caps


class LossLanguageServer(LanguageServer):
    protocol: LossProtocol

    def __init__(self) -> None:
        # max_workers: nothing is put on pygls' pool (stdin has a reader thread of its own, transport.py).
        super().__init__("loss-lsp", __version__, protocol_cls=LossProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         notebook_document_sync=NOTEBOOK_SYNC, max_workers=2)
        self.config = ConfigStore()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.engine: EngineThread | None = None
        self.scheduler: Scheduler[DocResult] | None = None
        self.indexer: Indexer | None = None
        self.gradients = GradientRunner(read_source=self._open_text)
        self.encoding = UTF16
        self.pull_diagnostics = False
        self.refresh_support = False
        self.related_support = True
        self.markdown_hover = True
        self.actions_support = ClientSupport()
        self.configuration_support = False
        self.non_python: set[str] = set()
        self.notebooks = Notebooks()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.text_cache = TextCache(self._open_text)
        self._logged_errors: dict[str, set[str]] = {}

    # --- the wire: robust framing, JSON-RPC errors, a reader thread of its own (transport.py) --
    def _start_io_async(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        self._stop_event = Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        try:
            asyncio.run(serve_stdio(self._stop_event, (stdin or sys.stdin.buffer).fileno(), self.protocol))
        except BrokenPipeError:
            log.error("the connection to the client is lost: shutting down")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    def start_tcp(self, host: str, port: int) -> None:
        self._stop_event = stop_event = Event()

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.protocol.set_writer(writer)  # type: ignore[arg-type]
            try:
                await serve_stream(stop_event, reader, self.protocol)
            finally:
                self.shutdown()

        async def listen() -> None:
            self._server = await asyncio.start_server(connection, host, port, limit=1 << 20)
            log.info("serving on %s", ", ".join(str(s.getsockname()) for s in self._server.sockets))
            async with self._server:
                await self._server.serve_forever()

        try:
            asyncio.run(listen())
        except asyncio.CancelledError:
            pass

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log it (errors reach the client as window/logMessage) instead of pygls' pop-up per failure.

        A request the client got wrong (unknown method or command, bad arguments, cancelled,
        outdated) already gets its JSON-RPC error: that is a warning here, not a server error."""
        if isinstance(error, JsonRpcException) and error.code in _CLIENT_ERRORS:
            log.warning("%s: %s", getattr(source, "__name__", source), error)
            return
        log.error("%s: %s", getattr(source, "__name__", source), error)

    # --- plumbing used by the handlers -----------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                log.error("%s failed: %r", what, exc, exc_info=(type(exc), exc, exc.__traceback__))

        task.add_done_callback(done)
        return task

    def log_to_client(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=f"loss-lsp: {message}"))

    def setup(self, params: types.InitializeParams) -> None:
        self.loop = asyncio.get_event_loop()
        caps = params.capabilities
        self.encoding = str(getattr(self.workspace.position_encoding, "value", self.workspace.position_encoding)
                            or UTF16)
        self.pull_diagnostics = _cap(caps, "text_document.diagnostic") is not None
        self.refresh_support = bool(_cap(caps, "workspace.diagnostics.refresh_support"))
        related = _cap(caps, "text_document.publish_diagnostics.related_information")
        self.related_support = related is not False
        formats = _cap(caps, "text_document.hover.content_format") or [types.MarkupKind.Markdown]
        self.markdown_hover = types.MarkupKind.Markdown in formats
        properties = _cap(caps, "text_document.code_action.resolve_support.properties") or []
        self.actions_support = ClientSupport(
            lazy_edits="edit" in properties and bool(_cap(caps, "text_document.code_action.data_support")),
            document_changes=bool(_cap(caps, "workspace.workspace_edit.document_changes")))
        self.configuration_support = bool(_cap(caps, "workspace.configuration"))
        self.config.init_options = editor_settings(params.initialization_options)
        roots = [uri_to_path(f.uri) for f in params.workspace_folders or []]
        if not roots and (params.root_uri or params.root_path):
            roots = [uri_to_path(params.root_uri) if params.root_uri else params.root_path]
        self.config.set_folders([r for r in roots if r])
        self.engine = EngineThread()
        self.indexer = Indexer(self.engine)
        for root in self.config.folders:
            self.indexer.add_folder(root)
        self.scheduler = Scheduler(self.loop, self.engine, self._job, self._on_result,
                                   context_for=self.context_for)
        if params.process_id:
            self.spawn(_watch_parent(params.process_id), "client process watch")

    def shutdown_workers(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.engine is not None:
            self.engine.stop()
        self.gradients.shutdown()

    # --- documents -------------------------------------------------------------------------
    def _open_text(self, path: str) -> str | None:
        """The editor's text of an open document (called on the engine thread: a dict read)."""
        scheduler = self.scheduler
        if scheduler is None:
            return None
        state = scheduler.docs.get(path_to_uri(path))
        return state.text if state is not None else None

    def context_for(self, uri: str) -> JobContext:
        path = uri_to_path(uri)
        settings = self.config.settings_for(path)
        folder = self.config.folder_of(path) if path else None
        return JobContext(path=path, settings=settings, encoding=self.encoding,
                          workspace=self.indexer.workspace_of(folder) if self.indexer and path else None,
                          python=uri not in self.non_python, gradients=self.gradients.runs.get(uri),
                          related_support=self.related_support, notebook=self.notebooks.views.get(uri))

    def _job(self, snapshot: Snapshot) -> DocResult:
        from loss_lsp.server.pipeline import run

        return run(snapshot, snapshot.context, self.text_cache)

    def _on_result(self, state: Any, result: DocResult) -> None:
        self._log_input_errors(result)
        if result.cells is not None:  # a notebook: pushed per cell, pull or not (see notebooks.py)
            notebooks.publish(self, result)
        elif not self.pull_diagnostics:
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
                uri=result.uri, diagnostics=result.diagnostics, version=result.version))
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s v%s: %d diagnostics; engine job %.1f ms, queued to sent %.1f ms", result.uri,
                      result.version, len(result.diagnostics), result.seconds * 1e3,
                      (time.perf_counter() - result.queued) * 1e3)

    def _log_input_errors(self, result: DocResult) -> None:
        messages = {e.message for e in result.errors}
        if result.notebook is not None:  # lines of the joined module, named by cell
            messages = {result.notebook.joined.cell_lines_in(m) for m in messages}
        seen = self._logged_errors.setdefault(result.uri, set())
        for message in sorted(messages - seen):
            if "internal error" in message:
                kind = types.MessageType.Error
            elif message.startswith("syntax error"):  # normal while typing: the least severe level
                kind = types.MessageType.Log
            else:
                kind = types.MessageType.Warning
            self.log_to_client(f"{result.path or result.uri}: {message}", kind)
        self._logged_errors[result.uri] = messages

    def is_python(self, uri: str, language_id: str | None) -> bool:
        if language_id:
            return language_id == "python"
        return uri.endswith(PYTHON_SUFFIXES)

    def uris_of(self, paths: set[str]) -> list[str]:
        """The open documents among these filesystem paths."""
        if self.scheduler is None or not paths:
            return []
        wanted = {os.path.realpath(p) for p in paths}
        return [uri for uri in self.scheduler.docs if (p := uri_to_path(uri)) and os.path.realpath(p) in wanted]

    def refresh_documents(self, uris: list[str] | None = None) -> None:
        """Re-analyse open documents after a change outside them (settings, index, gradient check)."""
        if self.scheduler is None:
            return
        if uris is None:
            self.scheduler.invalidate()
        else:
            for uri in uris:
                self.scheduler.invalidate(uri)
        if self.pull_diagnostics and self.refresh_support:
            self.workspace_diagnostic_refresh(None)

    async def result_for(self, uri: str) -> DocResult | None:
        """The current result of an open document; for a notebook cell, the notebook's seen from the cell."""
        notebook = self.notebooks.notebook_of.get(uri)
        if notebook is not None:
            result = await self.result_for(notebook)
            return notebooks.cell_result(result, uri) if result is not None else None
        if self.scheduler is None or uri not in self.scheduler.docs:
            return None
        try:
            return await self.scheduler.current(uri)
        except LookupError:  # closed meanwhile
            return None

    def version_of(self, uri: str) -> int | None:
        if self.notebooks.is_cell(uri):
            document = self.workspace.text_documents.get(unquote(uri))
            return document.version if document is not None else None
        state = self.scheduler.docs.get(uri) if self.scheduler else None
        return state.version if state is not None else None

    # --- settings --------------------------------------------------------------------------
    async def pull_configuration(self) -> None:
        if not self.configuration_support:
            return
        folders = self.config.folders
        items = [types.ConfigurationItem(section=SECTION)]
        items += [types.ConfigurationItem(scope_uri=path_to_uri(root), section=SECTION) for root in folders]
        try:
            answer = await asyncio.wait_for(
                self.workspace_configuration_async(types.ConfigurationParams(items=items)), _CONFIG_TIMEOUT)
        except (JsonRpcException, asyncio.TimeoutError) as exc:  # a client that cannot answer keeps its settings
            log.warning("workspace/configuration failed: %r", exc)
            return
        answer = list(answer or [])
        self.config.editor_global = editor_settings(answer[0] if answer else None)
        self.config.editor_folder = {root: editor_settings(value) for root, value in zip(folders, answer[1:])
                                     if value is not None}

    def apply_settings(self) -> None:
        changed = self.config.refresh()
        for warning in self.config.new_warnings():
            self.log_to_client(warning, types.MessageType.Warning)
        if changed and self.scheduler is not None:
            self.refresh_documents([uri for uri in self.scheduler.docs
                                    if (p := uri_to_path(uri)) is None
                                    or self.config.entry_for(p).root in changed])

    # --- background work -------------------------------------------------------------------
    async def index_workspace(self) -> None:
        if self.indexer is None or not self.indexer.roots:
            if self.indexer is not None:
                self.indexer.ready.set()
            return
        progress = WorkDone(self, "loss-lsp: indexing Python files", cancellable=True)
        await progress.begin()
        count = 0
        try:
            count = await self.indexer.index_all(progress, lambda: False)
        finally:
            progress.end(f"{count} files indexed")
            self.indexer.ready.set()
        log.info("indexed %d files", count)
        self.refresh_documents()

    async def update_index(self, path: str, text: str | None, deleted: bool = False) -> None:
        if self.indexer is None:
            return
        self._refresh_others(path, await self.indexer.file_changed(self.config.folder_of(path), path, text, deleted))

    def index_soon(self, path: str, text: str) -> None:
        """An unsaved edit: index its latest text once (one job per burst of keystrokes, behind the edits);
        the files whose helpers or losses it uses are re-analysed when those uses changed."""
        if self.indexer is not None and self.indexer.note_edit(path, text):
            self.spawn(self._index_edited(path), "index update")

    async def _index_edited(self, path: str) -> None:
        if self.indexer is not None:
            self._refresh_others(path, await self.indexer.index_edited(self.config.folder_of(path), path))

    def _refresh_others(self, path: str, affected: set[str]) -> None:
        uris = [u for u in self.uris_of(affected) if uri_to_path(u) != path]
        if uris:
            self.refresh_documents(uris)

    def server_info(self) -> dict[str, Any]:
        from loss_lsp.server.gradients import availability, missing_tensorflow

        available, why = availability()
        if available and (missing := missing_tensorflow(self.config.settings_for(None).interpreter)):
            available, why = False, missing
        scheduler = self.scheduler
        return {
            "name": self.name,
            "version": self.version,
            "pid": os.getpid(),
            "python": sys.executable,
            "positionEncoding": self.encoding,
            "diagnostics": "pull" if self.pull_diagnostics else "push",
            "workspaceFolders": self.config.folders,
            "settings": self.config.snapshot(),
            "gradientCheck": {"available": available, "reason": why, "running": self.gradients.running,
                              "lastLosses": self.gradients.last_losses},
            "tensorflowImported": "tensorflow" in sys.modules,
            "openDocuments": len(scheduler.docs) if scheduler else 0,
            "openNotebooks": len(self.notebooks.views),
            "indexedFiles": self.indexer.indexed_files if self.indexer else 0,
            "published": scheduler.published if scheduler else 0,
            "droppedStaleResults": scheduler.dropped if scheduler else 0,
            "pendingFutures": self.protocol.pending_futures,
            "progressTokens": len(self.work_done_progress.tokens),
        }


def create_server() -> LossLanguageServer:
    server = LossLanguageServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: LossLanguageServer, params: types.InitializeParams) -> None:
        ls.setup(params)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: LossLanguageServer, params: types.InitializedParams) -> None:
        # `initialize` is answered before the engine is even imported: that happens here, off the loop.
        warm = ls.engine.submit(_warm_up, ls.indexer)  # type: ignore[union-attr]
        await _register_watchers(ls)
        await ls.pull_configuration()
        ls.apply_settings()
        try:
            await asyncio.wrap_future(warm)  # the index objects exist once the engine is loaded
        except Exception:
            log.exception("loading the analysis engine failed")
        ls.scheduler.release()  # type: ignore[union-attr]
        ls.spawn(ls.index_workspace(), "workspace indexing")

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: LossLanguageServer, params: None) -> None:
        ls.shutdown_workers()

    # --- text synchronisation --------------------------------------------------------------
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LossLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        if ls.notebooks.is_cell(doc.uri):  # analysed with its notebook
            return
        if not ls.is_python(doc.uri, doc.language_id):
            ls.non_python.add(doc.uri)
        ls.scheduler.open(doc.uri, doc.version, doc.text)  # type: ignore[union-attr]
        path = uri_to_path(doc.uri)
        if path and doc.uri not in ls.non_python:
            ls.spawn(ls.update_index(path, doc.text), "index update")

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LossLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if ls.notebooks.is_cell(uri):
            return
        document = ls.workspace.get_text_document(uri)
        ls.scheduler.change(uri, params.text_document.version, document.source)  # type: ignore[union-attr]
        path = uri_to_path(uri)
        if path and uri not in ls.non_python:  # helpers it calls elsewhere are judged by its unsaved text
            ls.index_soon(path, document.source)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: LossLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        path = uri_to_path(uri)
        if path is None:
            return
        if os.path.basename(path) == "pyproject.toml":
            ls.apply_settings()
            return
        if uri in ls.non_python:
            return
        ls.spawn(ls.update_index(path, ls.workspace.get_text_document(uri).source), "index update")
        if ls.config.settings_for(path).check_gradients_on_save:
            ls.spawn(gradient_command.check_gradients(ls, [uri], None, None, None), "gradient check on save")

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LossLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        if ls.notebooks.is_cell(uri):
            return
        ls.scheduler.close(uri)  # type: ignore[union-attr]
        ls._logged_errors.pop(uri, None)
        ls.gradients.runs.pop(uri, None)
        if not ls.pull_diagnostics:
            ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        path = uri_to_path(uri)
        if path and uri not in ls.non_python:
            ls.spawn(ls.update_index(path, None), "index update")
        if ls.engine is not None:  # the engine's caches need not keep the closed file's blocks
            ls.engine.submit(_forget, path or uri, priority=INDEX)
        ls.non_python.discard(uri)

    # --- notebook synchronisation (notebooks.py) -------------------------------------------
    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_did_open(ls: LossLanguageServer, params: types.DidOpenNotebookDocumentParams) -> None:
        notebooks.did_open(ls, params)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_did_change(ls: LossLanguageServer, params: types.DidChangeNotebookDocumentParams) -> None:
        notebooks.did_change(ls, params)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
    def notebook_did_save(ls: LossLanguageServer, params: types.DidSaveNotebookDocumentParams) -> None:
        uri = params.notebook_document.uri
        path = uri_to_path(uri)
        notebooks.index(ls, uri)
        if path is not None and ls.config.settings_for(path).check_gradients_on_save:
            ls.spawn(gradient_command.check_gradients(ls, [uri], None, None, None), "gradient check on save")

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_did_close(ls: LossLanguageServer, params: types.DidCloseNotebookDocumentParams) -> None:
        notebooks.did_close(ls, params)

    # --- workspace -------------------------------------------------------------------------
    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: LossLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
        settings_changed = False
        for change in params.changes:
            path = uri_to_path(change.uri)
            if path is None:
                continue
            if os.path.basename(path) == "pyproject.toml":
                settings_changed = True
            elif path.endswith(".py") and change.uri not in (ls.scheduler.docs if ls.scheduler else {}):
                ls.spawn(ls.update_index(path, None, deleted=change.type == types.FileChangeType.Deleted),
                         "index update")
        if settings_changed:
            ls.apply_settings()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: LossLanguageServer, params: types.DidChangeConfigurationParams) -> None:
        # Synchronous on purpose: an async handler runs as a task, so a didSave sent right after
        # would be handled with the old settings.
        if ls.configuration_support:
            ls.spawn(_pull_and_apply(ls), "configuration pull")
        else:
            ls.config.editor_global = editor_settings(params.settings)
            ls.apply_settings()

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(ls: LossLanguageServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        for folder in params.event.removed:
            root = uri_to_path(folder.uri)
            if root:
                ls.config.remove_folder(root)
                ls.indexer.remove_folder(root)  # type: ignore[union-attr]
        for folder in params.event.added:
            root = uri_to_path(folder.uri)
            if root:
                ls.config.add_folder(root)
                ls.indexer.add_folder(root)  # type: ignore[union-attr]
        ls.spawn(_reconfigure_and_index(ls), "workspace folders change")

    # --- language features -----------------------------------------------------------------
    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=CODE_ACTION_KINDS, resolve_provider=True))
    async def code_action(ls: LossLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        from loss_lsp.server import code_actions

        result = await ls.result_for(params.text_document.uri)
        if result is None or result.version != ls.version_of(params.text_document.uri):
            return None
        return code_actions.code_actions(result, params.range, params.context, ls.actions_support) or None

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def code_action_resolve(ls: LossLanguageServer, action: types.CodeAction) -> types.CodeAction:
        from loss_lsp.server import code_actions

        data = action.data if isinstance(action.data, dict) else {}
        uri = data.get("uri")
        if not isinstance(uri, str):
            raise JsonRpcInvalidParams("code action data without a document uri")
        result = await ls.result_for(uri)
        if result is None:
            raise JsonRpcContentModified(f"{uri} is no longer open")
        try:
            return code_actions.resolve(action, result, ls.actions_support)
        except code_actions.StaleAction as exc:
            raise JsonRpcContentModified(str(exc)) from exc

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: LossLanguageServer, params: types.HoverParams) -> types.Hover | None:
        from loss_lsp.server import hover

        result = await ls.result_for(params.text_document.uri)
        if result is None:
            return None
        return hover.hover(result, params.position, ls.markdown_hover)

    @server.feature(types.TEXT_DOCUMENT_DIAGNOSTIC, types.DiagnosticOptions(
        identifier=SOURCE, inter_file_dependencies=True, workspace_diagnostics=True))
    async def document_diagnostic(ls: LossLanguageServer, params: types.DocumentDiagnosticParams
                                  ) -> types.DocumentDiagnosticReport:
        return await workspace_diagnostics.document_report(ls, params)

    @server.feature(types.WORKSPACE_DIAGNOSTIC)
    async def workspace_diagnostic(ls: LossLanguageServer, params: types.WorkspaceDiagnosticParams
                                   ) -> types.WorkspaceDiagnosticReport:
        return await workspace_diagnostics.workspace_report(ls, params)

    # --- commands --------------------------------------------------------------------------
    @server.command(SERVER_INFO)
    def server_info(ls: LossLanguageServer, *args: Any) -> dict[str, Any]:
        return ls.server_info()

    @server.command(CHECK_GRADIENTS)
    async def check_gradients(ls: LossLanguageServer, *args: Any) -> dict[str, Any]:
        uri, position, loss = gradient_command.parse_arguments(args)
        return await gradient_command.check_gradients(ls, [uri] if uri else None, position, loss,
                                      LossProtocol.command_token(), ls.protocol.msg_id)

    return server


async def _watch_parent(pid: int, every: float = 5.0) -> None:
    """Exit when the editor that started us is gone (it may die without sending exit)."""
    while True:
        await asyncio.sleep(every)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.warning("the client process %d is gone: exiting", pid)
            os._exit(1)
        except PermissionError:  # alive, owned by someone else
            pass


def _warm_up(indexer: Indexer) -> None:
    import loss_lsp.engine  # noqa: F401
    from loss_lsp.rules import RULES  # noqa: F401  (every rule module, before the first analysis)

    indexer.prepare()


async def _register_watchers(ls: LossLanguageServer) -> None:
    caps = ls.client_capabilities
    registrations = []
    if _cap(caps, "workspace.did_change_watched_files.dynamic_registration"):
        registrations.append(types.Registration(
            id="loss-lsp-watched-files", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=[
                types.FileSystemWatcher(glob_pattern="**/*.py"),
                types.FileSystemWatcher(glob_pattern="**/pyproject.toml")])))
    if _cap(caps, "workspace.did_change_configuration.dynamic_registration"):
        registrations.append(types.Registration(id="loss-lsp-configuration",
                                                method=types.WORKSPACE_DID_CHANGE_CONFIGURATION))
    if not registrations:
        return
    try:
        await asyncio.wait_for(ls.client_register_capability_async(
            types.RegistrationParams(registrations=registrations)), _CONFIG_TIMEOUT)
    except (JsonRpcException, asyncio.TimeoutError) as exc:
        log.warning("client/registerCapability failed: %r", exc)


async def _reconfigure_and_index(ls: LossLanguageServer) -> None:
    await ls.pull_configuration()
    ls.apply_settings()
    await ls.index_workspace()


def _forget(path: str) -> None:
    from loss_lsp.checker import forget

    forget(path)


async def _pull_and_apply(ls: LossLanguageServer) -> None:
    await ls.pull_configuration()
    ls.apply_settings()
