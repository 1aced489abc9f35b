"""The background index of each workspace folder (losses defined here, compiled there).

All engine ``Workspace`` calls (and so every jedi call) run on the engine thread, one
file per job at indexing priority, so an edit waits for at most one file.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from loss_lsp.server.scheduler import INDEX, REFRESH, EngineThread

if TYPE_CHECKING:
    from loss_lsp.engine import Workspace
    from loss_lsp.server.progress import WorkDone

log = logging.getLogger(__name__)


class Indexer:
    def __init__(self, engine: EngineThread) -> None:
        self._engine = engine
        self.roots: list[str] = []
        self.workspaces: dict[str, Workspace] = {}  # folder root -> index (made once the engine is loaded)
        self.indexed_files = 0
        self.ready = asyncio.Event()  # set when the first full index has finished
        self._edited: dict[str, str] = {}  # path -> latest unsaved text not yet indexed

    def add_folder(self, root: str) -> None:
        if root not in self.roots:
            self.roots.append(root)
        if "loss_lsp.engine" in sys.modules:  # else prepare() makes it (importing the engine takes a while)
            self.prepare()

    def prepare(self) -> None:
        """Make the engine's index objects (on the engine thread, which imports the engine)."""
        from loss_lsp.engine import Workspace

        for root in self.roots:
            if root not in self.workspaces:
                self.workspaces[root] = Workspace(root)

    def remove_folder(self, root: str) -> None:
        if root in self.roots:
            self.roots.remove(root)
        self.workspaces.pop(root, None)

    def workspace_of(self, folder: str | None) -> Workspace | None:
        return self.workspaces.get(folder) if folder is not None else None

    async def index_all(self, progress: WorkDone, cancelled: Callable[[], bool]) -> int:
        """Index every Python file of every folder; returns the number of files indexed."""
        done = 0
        for root, workspace in list(self.workspaces.items()):
            files = await asyncio.wrap_future(self._engine.submit(workspace.python_files, priority=INDEX))
            total = len(files)
            for number, path in enumerate(files, 1):
                if cancelled() or progress.cancelled():
                    log.info("indexing of %s cancelled after %d files", root, done)
                    return done
                await asyncio.wrap_future(self._engine.submit(workspace.update, path, priority=INDEX))
                done += 1
                progress.report(f"{number}/{total} {Path(path).name}", int(100 * number / max(total, 1)))
        self.indexed_files = done
        return done

    async def file_changed(self, folder: str | None, path: str, text: str | None, deleted: bool = False,
                           priority: int = REFRESH) -> set[str]:
        """Update the index for one file; returns the files whose analysis may have changed.

        ``text`` is the editor's text for an open document (None: read the file from disk).
        """
        workspace = self.workspace_of(folder)
        if workspace is None:
            return set()

        def update() -> set[str]:
            from loss_lsp.engine.limits import MAX_CHARS

            if deleted:
                before = {str(p) for p in workspace.definitions_used_by(path)}
                workspace.remove(path)
                return before
            if text is not None and len(text) > MAX_CHARS:
                # Workspace.set_source indexes an editor buffer of any size (a 50 MB buffer: 3.4 s
                # of the engine thread, ahead of every edit). Too large to analyse, too large to index.
                before = {str(p) for p in workspace.definitions_used_by(path)}
                workspace.set_source(path, None)
                workspace.remove(path)
                return before
            return {str(p) for p in workspace.set_source(path, text)}

        return await asyncio.wrap_future(self._engine.submit(update, priority=priority))

    def note_edit(self, path: str, text: str) -> bool:
        """Keep the latest unsaved text of an open document for the index; True when no job is queued for it
        yet (then call :meth:`index_edited`). Only the text is kept per burst of keystrokes: a task per
        keystroke holding its own copy of a large module made the server's memory grow during a storm."""
        queued = path in self._edited
        self._edited[path] = text
        return not queued

    async def index_edited(self, folder: str | None, path: str) -> set[str]:
        """Index the latest text noted for ``path``, behind the edits and re-runs; returns the files whose
        uses from it changed."""
        workspace = self.workspace_of(folder)

        def update() -> set[str]:
            from loss_lsp.engine.limits import MAX_CHARS

            latest = self._edited.pop(path, None)
            if workspace is None or latest is None or len(latest) > MAX_CHARS:
                return set()  # too large to analyse, too large to index (see file_changed)
            return {str(p) for p in workspace.set_source(path, latest)}

        return await asyncio.wrap_future(self._engine.submit(update, priority=INDEX))
