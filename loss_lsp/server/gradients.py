"""The server side of ``loss-lsp.checkGradients``: run the gradient check, keep its verdicts.

The check itself lives in :mod:`loss_lsp.gradcheck` (TensorFlow runs in a worker
process there; this process never imports it). Here we only: find out whether it is
installed, run it on a thread of its own (it blocks for seconds), and carry its
verdicts over to later versions of the document while the code they judged is
unchanged.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from loss_lsp.server.scheduler import EngineThread
from loss_lsp.settings import Settings

if TYPE_CHECKING:
    from loss_lsp.engine import Analysis, Finding, Span

log = logging.getLogger(__name__)

_SEARCH = 200  # lines searched up and down to relocate a gradient-only finding after an edit


class GradientCheckUnavailable(Exception):
    """loss_lsp.gradcheck is missing or does not offer GradientChecker."""


def _flagged_text(lines: Sequence[str], span: Span) -> str:
    if span.start_line >= len(lines):
        return ""
    if span.start_line == span.end_line:
        return lines[span.start_line][span.start_col:span.end_col]
    parts = [lines[span.start_line][span.start_col:]]
    parts += lines[span.start_line + 1:min(span.end_line, len(lines))]
    if span.end_line < len(lines):
        parts.append(lines[span.end_line][:span.end_col])
    return "\n".join(parts)


@dataclass(frozen=True)
class GradientRun:
    """The outcome of one check of one document, tied to the text it judged."""

    lines: tuple[str, ...]
    findings: tuple[Finding, ...]

    def overlay(self, findings: list[Finding], lines: Sequence[str]) -> list[Finding]:
        """``findings`` of a (possibly newer) text with the verdicts that still apply to it.

        A static finding gets a verdict when the check judged the same rule on the same
        loss and the same flagged text; findings only the check produces (LL9xx) stay
        while their line is unchanged, even if it moved.
        """
        verdicts: dict[tuple[str, str, str], Finding] = {}
        extra: list[Finding] = []
        for checked in self.findings:
            if checked.verdict is not None:
                verdicts.setdefault((checked.code, checked.loss, _flagged_text(self.lines, checked.span)), checked)
            if checked.code.startswith("LL9"):  # produced by the check itself, not by the static rules
                extra.append(checked)
        out: list[Finding] = []
        seen: set[tuple[str, Span]] = set()
        for finding in findings:
            judged = verdicts.get((finding.code, finding.loss, _flagged_text(lines, finding.span)))
            if judged is not None:
                finding = replace(finding, verdict=judged.verdict, evidence=judged.evidence, probe=judged.probe)
            out.append(finding)
            seen.add((finding.code, finding.span))
        for checked in extra:
            moved = self._relocate(checked, lines)
            if moved is not None and (moved.code, moved.span) not in seen:
                out.append(moved)
                seen.add((moved.code, moved.span))
        return out

    def _relocate(self, finding: Finding, lines: Sequence[str]) -> Finding | None:
        line = finding.span.start_line
        if line >= len(self.lines):
            return None
        text = self.lines[line]
        if line < len(lines) and lines[line] == text:
            return finding
        for delta in range(1, _SEARCH):
            for candidate in (line - delta, line + delta):
                if 0 <= candidate < len(lines) and lines[candidate] == text:
                    return finding.shifted(candidate - line)
        return None


def load_checker_class() -> type:
    """``loss_lsp.gradcheck.GradientChecker``, or GradientCheckUnavailable saying why not."""
    try:
        module = importlib.import_module("loss_lsp.gradcheck")
        return module.GradientChecker  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise GradientCheckUnavailable(f"the gradient check is not installed ({exc})") from exc


def availability() -> tuple[bool, str]:
    """Whether the check's implementation loads, and why not."""
    try:
        load_checker_class()
    except GradientCheckUnavailable as exc:
        return False, str(exc)
    except Exception as exc:  # noqa: BLE001  (a broken install must not take the server down)
        return False, f"the gradient check cannot be loaded: {exc!r}"
    return True, ""


def missing_tensorflow(interpreter: str = "") -> str:
    """Why the worker's Python cannot run TensorFlow ("" when it may). The running interpreter
    is asked without importing TensorFlow; another one is only checked to exist (asking it
    would start a process). The check still runs without it: every verdict is then not_run."""
    if interpreter and os.path.realpath(interpreter) != os.path.realpath(sys.executable):
        return "" if os.access(interpreter, os.X_OK) else (
            f"gradientCheck.interpreter `{interpreter}` is not an executable file")
    if importlib.util.find_spec("tensorflow") is None:
        return (f"TensorFlow is not installed for {sys.executable}: install `tensorflow-cpu` (or "
                "`tensorflow`) there, or set gradientCheck.interpreter to a Python that has it")
    return ""


class GradientRunner:
    """One checker per settings, used from one thread of its own.

    The thread is a daemon (unlike a ThreadPoolExecutor's), so a check that is still
    running never holds up the server's exit.
    """

    def __init__(self, read_source: Callable[[str], str | None] | None = None) -> None:
        self._read_source = read_source  # an open editor buffer for a workspace module
        self._thread: EngineThread | None = None
        self._checker: Any = None
        self._checker_settings: Settings | None = None
        self._lock = threading.Lock()
        self.runs: dict[str, GradientRun] = {}  # uri -> latest run (read on the event loop)
        self.running = 0  # checks in progress on the thread
        self.last_losses: dict[str, int] = {}  # status -> count, of the last finished check

    @property
    def thread(self) -> EngineThread:
        if self._thread is None:
            self._thread = EngineThread("loss-lsp-gradcheck")
        return self._thread

    def check(self, settings: Settings, source: str, path: str, analysis: Analysis,
              loss_names: list[str] | None, on_progress: Callable[..., None] | None,
              cancelled: Callable[[], bool] | None) -> Any:
        """Blocking; call on :attr:`thread`."""
        self.running += 1
        try:
            with self._lock:
                checker = self._checker_for(settings)
            result = checker.check(source, path, analysis, loss_names=loss_names, on_progress=on_progress,
                                   cancelled=cancelled)
        finally:
            self.running -= 1
        counts: dict[str, int] = {}
        for report in result.losses:
            status = "cancelled" if report.reason == "cancelled" else report.status
            counts[status] = counts.get(status, 0) + 1
        self.last_losses = counts
        return result

    def _checker_for(self, settings: Settings) -> Any:
        if self._checker is None:
            self._checker = load_checker_class()(settings, read_source=self._read_source)
        elif self._checker_settings != settings:
            self._checker.settings = settings  # keeps the warm worker unless its process settings changed
        self._checker_settings = settings
        return self._checker

    def _close_checker(self) -> None:
        checker, self._checker = self._checker, None
        close = getattr(checker, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                log.exception("closing the gradient checker failed")

    def shutdown(self) -> None:
        if self._thread is not None:
            self._thread.stop()
        if self._lock.acquire(timeout=1.0):  # a running check holds it; its worker dies with us anyway
            try:
                self._close_checker()
            finally:
                self._lock.release()
