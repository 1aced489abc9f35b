"""Work-done progress that frees its token and tells the work when the user cancels it.

pygls 2.1.1's ``Progress`` keeps a future per token in ``Progress.tokens`` forever
(``end`` does not remove it), so every indexing run or gradient check would leak one.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcException

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer
    from typing_extensions import Self  # typing.Self is 3.11+; the server supports 3.10

log = logging.getLogger(__name__)


class WorkDone:
    """One progress bar in the client (or nothing, when the client has no progress support)."""

    def __init__(self, server: LanguageServer, title: str, token: types.ProgressToken | None = None,
                 cancellable: bool = False) -> None:
        self._server = server
        self._title = title
        self._token = token
        self._cancellable = cancellable
        self._active = False
        self._last_report = 0.0

    @property
    def token(self) -> types.ProgressToken | None:
        return self._token

    async def begin(self, message: str = "") -> None:
        server = self._server
        if self._token is None:
            caps = server.client_capabilities.window
            if caps is None or not caps.work_done_progress:
                return
            self._token = f"loss-lsp/{uuid.uuid4()}"
            try:
                await server.work_done_progress.create_async(self._token)
            except JsonRpcException as exc:  # the client refused: work on without a progress bar
                log.info("work done progress refused: %s", exc)
                self._token = None
                return
        self._active = True
        server.work_done_progress.begin(self._token, types.WorkDoneProgressBegin(
            title=self._title, message=message or None, cancellable=self._cancellable, percentage=0))

    def report(self, message: str, percentage: int | None = None, force: bool = False) -> None:
        """Report at most ten times a second (a progress notification per file would flood the client)."""
        if not self._active or self._token is None:
            return
        now = time.monotonic()
        if not force and now - self._last_report < 0.1:
            return
        self._last_report = now
        self._server.work_done_progress.report(self._token, types.WorkDoneProgressReport(
            message=message, percentage=percentage, cancellable=self._cancellable))

    def cancelled(self) -> bool:
        """True once the user pressed cancel on this progress bar."""
        if self._token is None:
            return False
        future = self._server.work_done_progress.tokens.get(self._token)
        return future is not None and future.cancelled()

    def end(self, message: str = "") -> None:
        if self._token is None:
            return
        if self._active:
            self._server.work_done_progress.end(self._token, types.WorkDoneProgressEnd(message=message or None))
        self._active = False
        self._server.work_done_progress.tokens.pop(self._token, None)

    async def __aenter__(self) -> Self:
        await self.begin()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.end()
