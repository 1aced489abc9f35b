"""The job the engine thread runs for one document version, and what it produces.

Besides calling the engine, it converts the findings to LSP diagnostics (columns in
the client's encoding) here, off the event loop, so the loop only sends them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lsprotocol import types

from loss_lsp.server.diagnostics import to_diagnostics
from loss_lsp.server.positions import Lines
from loss_lsp.settings import Settings

if TYPE_CHECKING:  # the engine is imported on the engine thread, after `initialize` was answered
    from loss_lsp.engine import Analysis, Finding, InputError, Workspace
    from loss_lsp.server.gradients import GradientRun
    from loss_lsp.server.notebooks import CellResult, NotebookView, OtherCells
    from loss_lsp.server.scheduler import Snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    """Everything besides the text that a result depends on, captured when the job is queued."""

    path: str | None  # filesystem path; None for untitled documents
    settings: Settings
    encoding: str
    workspace: Workspace | None = None
    python: bool = True  # False: not a Python document, nothing to analyse
    gradients: GradientRun | None = None
    related_support: bool = True
    notebook: NotebookView | None = None  # the text is this notebook's joined code cells


@dataclass
class DocResult:
    uri: str
    path: str | None
    version: int | None
    epoch: int
    text: str
    lines: Lines
    settings: Settings
    findings: list[Finding] = field(default_factory=list)
    diagnostics: list[types.Diagnostic] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    analysis: Analysis | None = None
    seconds: float = 0.0  # the job on the engine thread
    queued: float = 0.0  # perf_counter() when the job was queued
    notebook: NotebookView | None = None
    cells: dict[str, CellResult] | None = None  # a notebook's result per cell URI (cell-relative)
    other_cells: OtherCells | None = None  # a cell's view: the parts of its fixes in other cells
    _result_id: str = ""

    @property
    def result_id(self) -> str:
        """Names the diagnostics' content, so a re-run that changes nothing reports "unchanged"."""
        if not self._result_id:
            digest = hashlib.blake2b(repr(self.diagnostics).encode("utf-8", "surrogatepass"), digest_size=12)
            self._result_id = f"{_SESSION}:{digest.hexdigest()}"
        return self._result_id


_SESSION = f"{os.getpid()}-{int(time.time())}"


class TextCache:
    """Lines of files other than the one analysed (for related locations), by mtime."""

    def __init__(self, open_text: Callable[[str], str | None], size: int = 64) -> None:
        self._open_text = open_text
        self._items: OrderedDict[tuple[str, float], list[str]] = OrderedDict()
        self._size = size

    def lines(self, path: str) -> list[str] | None:
        from loss_lsp.engine.chunks import split_lines

        text = self._open_text(path)
        if text is not None:
            return split_lines(text)
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return None
        key = (path, mtime)
        hit = self._items.get(key)
        if hit is None:
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    hit = split_lines(handle.read())
            except OSError:
                return None
            self._items[key] = hit
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return hit


def run(snapshot: Snapshot, context: JobContext, text_cache: TextCache) -> DocResult:
    from loss_lsp.engine.limits import MAX_CHARS
    from loss_lsp.engine.chunks import split_lines

    started = time.perf_counter()
    # A file the engine will not analyse has no findings to place: its lines (a 50 MB buffer
    # split into ~80 MB of line strings) are not needed.
    too_large = len(snapshot.text) > MAX_CHARS
    lines = Lines(None if too_large else split_lines(snapshot.text), context.encoding)
    result = DocResult(snapshot.uri, context.path, snapshot.version, snapshot.epoch, snapshot.text, lines,
                       context.settings, queued=snapshot.queued)
    if not context.python:
        return result
    try:
        return _analyse(snapshot, context, text_cache, result, started)
    except Exception as exc:  # an engine bug: logged, and the editor gets an answer instead of -32603
        from loss_lsp.engine import InputError

        log.exception("internal error analysing %s (version %s)", snapshot.uri, snapshot.version)
        result.analysis, result.findings, result.diagnostics = None, [], []
        result.errors = [InputError(context.path or snapshot.uri, f"internal error: {exc!r}; no findings for "
                                                                  "this version (please report it)")]
        result.seconds = time.perf_counter() - started
        return result


def _analyse(snapshot: Snapshot, context: JobContext, text_cache: TextCache, result: DocResult,
             started: float) -> DocResult:
    from loss_lsp.checker import analyze

    lines = result.lines
    analysis = analyze(snapshot.text, context.path or snapshot.uri, context.settings, context.workspace)
    findings = list(analysis.findings)
    if context.gradients is not None:
        findings = context.gradients.overlay(findings, lines.lines)

    def lines_for(path: str) -> Lines | None:
        found = text_cache.lines(path)
        return Lines(found, context.encoding) if found is not None else None

    result.analysis = analysis
    result.findings = findings
    result.errors = list(analysis.errors)
    not_reproduced = context.settings.not_reproduced_severity
    result.diagnostics = to_diagnostics(findings, lines, snapshot.version, lines_for, context.related_support,
                                        not_reproduced)
    if context.notebook is not None:
        from loss_lsp.server.notebooks import split_by_cell

        result.notebook = context.notebook
        result.cells = split_by_cell(findings, context.notebook, context.encoding, lines_for, context.related_support,
                                     not_reproduced)
    result.seconds = time.perf_counter() - started
    return result
