"""Analysis off the event loop, one version at a time, never a stale result.

* :class:`EngineThread` is the one thread that runs engine code. The engine's parse
  and summary caches and jedi (used by the workspace index) are not thread-safe, and
  pygls' own thread pool also reads stdin, so neither a pool nor ``@server.thread()``
  is used for this work. Jobs are taken by priority: the document being edited first,
  background indexing last, so a long index never delays a diagnostic by more than
  one file.
* :class:`Scheduler` keeps, per open document, an *epoch* bumped by every change that
  could alter its result (new text, new settings, new index or gradient facts). A
  result is published only if its epoch is still current, so a result computed for
  an older version is dropped. While one analysis runs, further edits only bump the
  epoch: they coalesce into one follow-up run of the latest text.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

EDIT = 0  # a document the user is typing in
REFRESH = 1  # open documents re-run after a settings or index change
INDEX = 2  # background workspace indexing
BULK = 3  # workspace diagnostics of closed files


class EngineThread:
    """A single worker thread with a priority queue."""

    def __init__(self, name: str = "loss-lsp-engine") -> None:
        self._queue: list[tuple[int, int, Callable[[], Any], Future[Any]]] = []
        self._counter = itertools.count()
        self._cv = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], *args: Any, priority: int = EDIT) -> Future[T]:
        future: Future[T] = Future()
        with self._cv:
            if self._stopped:
                future.cancel()
                return future
            heapq.heappush(self._queue, (priority, next(self._counter), lambda: fn(*args), future))
            self._cv.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stopped:
                    self._cv.wait()
                if self._stopped:
                    return
                _, _, job, future = heapq.heappop(self._queue)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as exc:  # noqa: BLE001  (handed to whoever awaits the future)
                future.set_exception(exc)

    def pending(self) -> int:
        with self._cv:
            return len(self._queue)

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            for _, _, _, future in self._queue:
                future.cancel()
            self._queue.clear()
            self._cv.notify_all()

    @property
    def thread(self) -> threading.Thread:
        return self._thread


R = TypeVar("R")


@dataclass
class DocState(Generic[R]):
    uri: str
    version: int | None
    text: str
    epoch: int = 0
    job_epoch: int | None = None  # epoch of the analysis queued or running
    result: R | None = None
    result_epoch: int = -1
    closed: bool = False
    timer: asyncio.TimerHandle | None = None
    waiters: list[asyncio.Future[R]] = field(default_factory=list)
    dropped: int = 0  # results thrown away because the document had moved on


@dataclass(frozen=True)
class Snapshot:
    """What one analysis run sees: immutable, handed to the engine thread."""

    uri: str
    version: int | None
    text: str
    epoch: int
    context: Any = None  # settings etc. in effect when the job was queued
    queued: float = 0.0  # perf_counter() at queueing, for the latency log


class Scheduler(Generic[R]):
    def __init__(self, loop: asyncio.AbstractEventLoop, engine: EngineThread,
                 job: Callable[[Snapshot], R], publish: Callable[[DocState[R], R], None],
                 context_for: Callable[[str], Any] | None = None, debounce: float = 0.0) -> None:
        self._loop = loop
        self._engine = engine
        self._job = job
        self._publish = publish
        self._context_for = context_for
        self.debounce = debounce
        self._held = True  # until the settings are known: see release()
        self.docs: dict[str, DocState[R]] = {}
        self.dropped = 0
        self.published = 0

    # --- document lifecycle (event loop thread) -------------------------------------------
    def release(self) -> None:
        """Start analysing (held until the client's settings have been read, so that the first
        diagnostics already use them)."""
        if self._held:
            self._held = False
            for state in self.docs.values():
                self._schedule(state, EDIT, delay=0.0)

    def open(self, uri: str, version: int | None, text: str) -> DocState[R]:
        old = self.docs.get(uri)
        state: DocState[R] = DocState(uri, version, text, epoch=(old.epoch + 1) if old else 0)
        if old is not None:
            self._close_state(old)
        self.docs[uri] = state
        self._schedule(state, EDIT, delay=0.0)
        return state

    def change(self, uri: str, version: int | None, text: str) -> None:
        state = self.docs.get(uri)
        if state is None:
            self.open(uri, version, text)
            return
        state.version, state.text = version, text
        state.epoch += 1
        self._schedule(state, EDIT, delay=self.debounce)

    def invalidate(self, uri: str | None = None, priority: int = REFRESH) -> None:
        """Re-run analysis (settings, index or gradient facts changed) for one or every document."""
        targets = [self.docs[uri]] if uri is not None and uri in self.docs else (
            list(self.docs.values()) if uri is None else [])
        for state in targets:
            state.epoch += 1
            self._schedule(state, priority, delay=0.0)

    def close(self, uri: str) -> None:
        state = self.docs.pop(uri, None)
        if state is not None:
            self._close_state(state)

    def _close_state(self, state: DocState[R]) -> None:
        state.closed = True
        if state.timer is not None:
            state.timer.cancel()
        for waiter in state.waiters:
            if not waiter.done():
                waiter.set_exception(LookupError(f"{state.uri} was closed"))
        state.waiters.clear()

    # --- results -------------------------------------------------------------------------------
    async def current(self, uri: str) -> R:
        """The result for the document's current text and settings (waits for it if needed)."""
        state = self.docs.get(uri)
        if state is None:
            raise LookupError(f"{uri} is not open")
        if state.result is not None and state.result_epoch == state.epoch:
            return state.result
        waiter: asyncio.Future[R] = self._loop.create_future()
        state.waiters.append(waiter)
        try:
            return await waiter  # our own future: cancelling the request cancels only this wait
        finally:
            if waiter in state.waiters and waiter.cancelled():
                state.waiters.remove(waiter)

    def latest(self, uri: str) -> R | None:
        state = self.docs.get(uri)
        return state.result if state is not None else None

    # --- internals ---------------------------------------------------------------------------
    def _schedule(self, state: DocState[R], priority: int, delay: float) -> None:
        if self._held or state.job_epoch is not None:
            return  # running: _finished starts one follow-up run with the latest epoch
        if state.timer is not None:
            state.timer.cancel()
        if delay > 0:
            state.timer = self._loop.call_later(delay, self._start, state, priority)
        else:
            self._start(state, priority)

    def _start(self, state: DocState[R], priority: int) -> None:
        state.timer = None
        if state.closed or state.job_epoch is not None:
            return
        context = self._context_for(state.uri) if self._context_for is not None else None
        snapshot = Snapshot(state.uri, state.version, state.text, state.epoch, context, time.perf_counter())
        state.job_epoch = snapshot.epoch
        future = self._engine.submit(self._job, snapshot, priority=priority)
        started = time.perf_counter()
        future.add_done_callback(
            lambda f: self._loop.call_soon_threadsafe(self._finished, state, snapshot, f, started))

    def _finished(self, state: DocState[R], snapshot: Snapshot, future: Future[R], started: float) -> None:
        state.job_epoch = None
        if state.closed:
            return
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None and snapshot.epoch == state.epoch:
            result = future.result()
            state.result, state.result_epoch = result, snapshot.epoch
            self.published += 1
            self._publish(state, result)
            waiters, state.waiters = state.waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(result)
            return
        if exc is not None:
            log.error("analysis of %s (version %s) failed", snapshot.uri, snapshot.version,
                      exc_info=(type(exc), exc, exc.__traceback__))
        if snapshot.epoch != state.epoch:
            if exc is None:
                state.dropped += 1
                self.dropped += 1
                log.debug("dropped result of %s version %s (document is at version %s)",
                          snapshot.uri, snapshot.version, state.version)
            self._start(state, EDIT)
            return
        # The current text cannot be analysed: nothing better will come, release the waiters.
        waiters, state.waiters = state.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(exc)  # type: ignore[arg-type]
