"""pygls 2.1.1's LanguageServerProtocol with its bookkeeping leaks and cancellation gaps closed.

Checked against the pygls 2.1.1 source (pygls/protocol/json_rpc.py, language_server.py, progress.py):

1. ``_handle_notification`` runs every notification through ``_execute_handler`` with a
   fresh uuid; the built-in didOpen/didChange/didClose handlers are generators, so a
   future is stored in ``_request_futures`` and nothing ever removes it (only request
   responses pop their entry). An ``async`` user handler adds a second one. We remove
   every entry once its future is done.
2. ``workspace/executeCommand`` is a built-in generator that runs the user's command
   under a new uuid. ``$/cancelRequest`` cancels the outer future (so the client gets
   "cancelled") but not the command's coroutine, which runs on. We remember which
   request started which inner future and cancel those too, and record cancelled ids
   so that work running in threads can poll :meth:`is_cancelled`.
3. ``lsp_shutdown`` cancels pending futures while iterating over ``_request_futures``;
   a cancelled concurrent future runs its callbacks at once and they pop from that dict
   ("dictionary changed size during iteration"). We cancel them first, on a copy.
4. ``Progress`` never forgets a token (see :mod:`loss_lsp.server.progress`).
5. Commands get their arguments but not the request's ``workDoneToken``; we keep it in
   a context variable that the command's coroutine inherits.
6. ``initialize`` picks the client's first position encoding; we prefer utf-8 (then
   utf-32) whenever the client offers it, by reordering the offer before pygls reads it.
7. pygls runs requests that arrive before ``initialize`` (handlers then meet a server
   that is not set up), runs a second ``initialize`` (a second engine thread and
   scheduler), and silently drops requests after ``shutdown`` (the client waits
   forever). LSP asks for error -32002 before ``initialize``, InvalidRequest after
   ``shutdown``, and for notifications before ``initialize`` to be dropped (except exit).
8. Its didChange splits lines with ``str.splitlines`` (form feeds, U+2028, ... count as
   line breaks) and raises KeyError for a document that is not open; we apply changes
   with LSP's line breaks (:mod:`loss_lsp.server.documents`) and ignore changes to
   documents that are not open, with a warning.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Generator
from concurrent.futures import Future
from contextvars import ContextVar
from functools import partial
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidRequest,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from loss_lsp.server.documents import apply_change
from loss_lsp.server.positions import UTF16, choose_encoding

log = logging.getLogger(__name__)

_CANCELLED_MEMORY = 256  # cancelled request ids kept for is_cancelled()
# The workDoneToken of the workspace/executeCommand being served (pygls passes commands
# only their arguments).
_COMMAND_TOKEN: ContextVar[types.ProgressToken | None] = ContextVar("loss_lsp_command_token", default=None)


class LossProtocol(LanguageServerProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._children: dict[Any, list[Future[Any]]] = {}
        self._cancelled: OrderedDict[Any, None] = OrderedDict()
        self._initialize_seen = False

    # --- 7: the LSP life cycle: nothing before initialize, initialize once, nothing after shutdown
    def handle_message(self, message: Any) -> None:
        method = getattr(message, "method", None)
        is_request = method is not None and hasattr(message, "id")
        if method == types.EXIT or method is None:  # exit, and responses to our own requests
            super().handle_message(message)
            return
        refusal: JsonRpcException | None = None
        if self._shutdown:
            refusal = JsonRpcInvalidRequest(f"Invalid request: the server is shutting down ({method} after shutdown)")
        elif method == types.INITIALIZE:
            if self._initialize_seen:
                refusal = JsonRpcInvalidRequest("Invalid request: initialize was already received")
        elif not self._initialize_seen:
            refusal = JsonRpcServerNotInitialized(f"Server not initialized: {method} before initialize")
        if refusal is None:
            if method == types.INITIALIZE:
                self._initialize_seen = True
            super().handle_message(message)
        elif is_request:
            log.warning("refused %s: %s", method, refusal.message)
            self._send_response(message.id, error=refusal.to_response_error())
        else:
            log.warning("dropped the notification %s: %s", method, refusal.message)

    # --- 1 + 2: forget finished futures, link command coroutines to their request -----------
    def _execute_handler(self, msg_id, handler, callback, args=None, kwargs=None):  # type: ignore[override]
        owner = self._ctx_msg_id.get()  # the request this runs for (None for notifications)
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        future = self._request_futures.get(msg_id)
        if future is None:
            return
        if owner is not None and owner != msg_id:
            self._children.setdefault(owner, []).append(future)
        future.add_done_callback(partial(self._forget, msg_id, owner))

    def _forget(self, msg_id: Any, owner: Any, future: Future[Any]) -> None:
        if self._request_futures.get(msg_id) is future:
            del self._request_futures[msg_id]
        children = self._children.get(owner)
        if children is not None:
            if future in children:
                children.remove(future)
            if not children:
                del self._children[owner]

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        self._cancelled[msg_id] = None
        while len(self._cancelled) > _CANCELLED_MEMORY:
            self._cancelled.popitem(last=False)
        for child in list(self._children.pop(msg_id, ())):
            child.cancel()
        super()._handle_cancel_notification(msg_id)

    def is_cancelled(self, msg_id: Any) -> bool:
        return msg_id in self._cancelled

    # --- 3: shutdown without mutating the dict it iterates -------------------------------------
    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        current = self.msg_id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current and not future.done():
                future.cancel()
        return (yield from super().lsp_shutdown(*args))

    # --- 5: position encoding ------------------------------------------------------------------
    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        general = params.capabilities.general
        if general is not None and general.position_encodings:
            chosen = choose_encoding(general.position_encodings)
            general.position_encodings = [chosen] + [e for e in general.position_encodings if e != chosen]
        return (yield from super().lsp_initialize(params))

    # --- 8: didChange with the editor's lines ------------------------------------------------------
    def _apply_changes(self, uri: str, changes: Any, version: int | None) -> bool:
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None:
            return False
        encoding = str(getattr(self.workspace.position_encoding, "value", self.workspace.position_encoding)
                       or UTF16)
        text = document.source
        for change in changes:
            text = apply_change(text, change, encoding)
        document._source = text  # pygls keeps the text there; its own apply_change is what we replace
        document.version = version
        return True

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        if not self._apply_changes(params.text_document.uri, params.content_changes, params.text_document.version):
            log.warning("didChange for %s, which is not open: ignored", params.text_document.uri)
            return
        handler = self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)
        if handler is not None:
            yield handler, (params,), None

    @lsp_method(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def lsp_notebook_document__did_change(self, params: types.DidChangeNotebookDocumentParams
                                          ) -> Generator[Any, Any, None]:
        """Cell edits with the editor's lines too; a change to a notebook that is not open is ignored
        (pygls raised KeyError)."""
        if self.workspace.get_notebook_document(notebook_uri=params.notebook_document.uri) is None:
            log.warning("notebookDocument/didChange for %s, which is not open: ignored", params.notebook_document.uri)
            return
        cells = params.change.cells
        text_content = cells.text_content if cells is not None else None
        if cells is not None:
            cells.text_content = None  # applied below, not by pygls
        try:
            self.workspace.update_notebook_document(params)
        finally:
            if cells is not None:
                cells.text_content = text_content
        for text in text_content or []:
            if not self._apply_changes(text.document.uri, text.changes, text.document.version):
                log.warning("a change to cell %s, which is not open: ignored", text.document.uri)
        handler = self.fm.features.get(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
        if handler is not None:
            yield handler, (params,), None

    # --- the command's progress token ---------------------------------------------------------
    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams) -> Generator[Any, Any, Any]:
        _COMMAND_TOKEN.set(params.work_done_token)  # inherited by the command's coroutine
        return (yield from super().lsp_workspace__execute_command(params))

    @staticmethod
    def command_token() -> types.ProgressToken | None:
        return _COMMAND_TOKEN.get()

    @property
    def pending_futures(self) -> int:
        return len(self._request_futures)
