"""Server side of the worker: start it, talk to it, and survive anything it does.

The worker is started on the first request with the project's interpreter, a minimal
environment (no secrets it does not need) and a private temporary folder as its working
directory. It is shut down after an idle timeout and restarted transparently when it died,
hung past the per-loss timeout (it is killed then), ran out of memory, or was ended by the
user's code (``os._exit``, a crash, a fork).
"""

from __future__ import annotations

import logging
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loss_lsp.gradcheck.protocol import LineReader, decode, encode, write_all

log = logging.getLogger(__name__)

STARTUP_TIMEOUT = 120.0  # importing TensorFlow on a cold disk can be slow
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "SYSTEMROOT",
               "VIRTUAL_ENV", "CONDA_PREFIX", "PYENV_VERSION", "TZ")
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent.parent)
_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent) + os.sep


@dataclass
class Reply:
    """What one request produced: the worker's message, or why there is none."""

    message: dict[str, Any] | None = None
    failure: str = ""  # one line: timeout, crash, cancelled, ...
    restarted: bool = False  # the worker died or was killed on this request


class WorkerError(Exception):
    """The worker could not be started (the message says why, in one line)."""


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    reader: LineReader
    folder: str
    log_path: str
    info: dict[str, Any] = field(default_factory=dict)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class WorkerClient:
    """One worker process at a time; thread-safe (one request at a time)."""

    def __init__(self, interpreter: str = "", memory_mb: int = 4096, idle_timeout: float = 600.0) -> None:
        self.interpreter = interpreter or sys.executable
        self.memory_mb = memory_mb
        self.idle_timeout = idle_timeout
        self._lock = threading.RLock()
        self._process: _Process | None = None
        self._next_id = 0
        self._timer: threading.Timer | None = None
        self.starts = 0  # how many workers were started (tests and benchmarks read it)
        self.versions: dict[str, Any] = {}  # from the last "ready" message
        self.ready: dict[str, Any] = {}  # the last "ready" message (versions, pid, import_seconds)
        self._closing = False
        self._stopping: Any = None  # the worker being shut down: no longer running, even before it is reaped

    # -- lifecycle ---------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        process = self._process
        return process is not None and process is not self._stopping and process.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.popen.pid if self.running and self._process else None

    def _environment(self, folder: str) -> dict[str, str]:
        env = {key: os.environ[key] for key in _PASSED_ENV if key in os.environ}
        env.update({
            "HOME": folder,
            "TMPDIR": folder,
            "PYTHONPATH": _PACKAGE_PARENT,  # the worker package, even in a venv without loss-lsp
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONHASHSEED": "0",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "KERAS_BACKEND": "tensorflow",
            "KERAS_HOME": os.path.join(folder, ".keras"),
            "CUDA_VISIBLE_DEVICES": "",
            "TF_ENABLE_ONEDNN_OPTS": "0",
            # Address-space limit (RLIMIT_AS) vs. glibc's 64 MB per-thread malloc arenas: on a
            # many-core machine TensorFlow's thread pools alone would reserve gigabytes.
            "MALLOC_ARENA_MAX": "2",
        })
        return env

    def start(self, cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Start a worker if none runs; returns its "ready" message."""
        with self._lock:
            if self.running and self._process is not None:
                return self._process.info
            self._discard()
            folder = tempfile.mkdtemp(prefix="loss-lsp-worker-")
            log_path = os.path.join(folder, "worker.log")
            command = [self.interpreter, "-m", "loss_lsp.gradcheck.worker", "--memory-mb", str(self.memory_mb),
                       "--idle-timeout", str(self.idle_timeout + 60.0)]
            with open(log_path, "ab") as log_file:
                try:
                    popen = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file,
                                             cwd=folder, env=self._environment(folder), start_new_session=True,
                                             close_fds=True)
                except OSError as exc:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise WorkerError(f"cannot start the worker with {self.interpreter}: {exc}") from exc
            assert popen.stdout is not None
            process = _Process(popen, LineReader(popen.stdout.fileno()), folder, log_path)
            self._process = process
            self.starts += 1
            message = self._read(process, time.monotonic() + STARTUP_TIMEOUT, cancelled)
            if message is None and cancelled is not None and cancelled():
                self._discard()
                raise WorkerError("cancelled")
            if message is None or message.get("event") != "ready":
                if message is None and process.popen.poll() is None:
                    reason = f"no answer within {STARTUP_TIMEOUT:g} s"
                else:
                    reason = (message or {}).get("error") or self._death_reason(process, startup=True)
                self._discard()
                raise WorkerError(f"the worker did not start: {reason}")
            process.info = message
            self.ready = message
            self.versions = {k: message.get(k) for k in ("tensorflow", "keras", "python")}
            self._arm_idle_timer()
            return message

    def close(self) -> None:
        """Stop the worker. A request running in another thread ends at once (as not run)."""
        if not self._lock.acquire(timeout=0.5):
            self._closing = True
            process = self._process
            if process is not None and process.popen.poll() is None:
                try:
                    os.killpg(process.popen.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self._lock.acquire()
        try:
            self._close_locked()
        finally:
            self._closing = False
            self._lock.release()

    def _close_locked(self) -> None:
        with self._lock:
            self._cancel_idle_timer()
            process = self._process
            self._stopping = process
            if process is not None and process.popen.poll() is None:
                try:
                    assert process.popen.stdin is not None
                    write_all(process.popen.stdin.fileno(), encode({"id": -1, "op": "shutdown"}))
                    process.popen.wait(timeout=2.0)
                except (OSError, subprocess.TimeoutExpired, ValueError):
                    pass
            self._discard()

    def _discard(self) -> None:
        """Kill the worker (and anything it started) and forget it."""
        process = self._process
        if process is None:
            return
        self._stopping = process
        if process.popen.poll() is None:
            try:
                os.killpg(process.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            process.popen.wait(timeout=5.0)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        self._process = None
        self._stopping = None
        for stream in (process.popen.stdin, process.popen.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        shutil.rmtree(process.folder, ignore_errors=True)

    # -- idle shutdown -----------------------------------------------------------------------------------
    def _arm_idle_timer(self) -> None:
        self._cancel_idle_timer()
        timer = threading.Timer(self.idle_timeout, self._idle)
        timer.daemon = True
        timer.start()
        self._timer = timer

    def _cancel_idle_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _idle(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # busy: the request re-arms the timer when it ends
        try:
            log.info("gradient-check worker idle for %.0f s: shutting it down", self.idle_timeout)
            self._timer = None
            self.close()
        finally:
            self._lock.release()

    # -- requests ----------------------------------------------------------------------------------------
    def request(self, message: dict[str, Any], timeout: float,
                cancelled: Callable[[], bool] | None = None) -> Reply:
        """Send one request and wait for its reply; never raises for what the user's code did."""
        with self._lock:
            self._cancel_idle_timer()
            try:
                try:
                    self.start(cancelled)
                except WorkerError as exc:
                    return Reply(failure=str(exc))
                process = self._process
                assert process is not None and process.popen.stdin is not None
                self._next_id += 1
                message = {**message, "id": self._next_id, "memory_mb": self.memory_mb}
                _truncate(process.log_path)
                try:
                    write_all(process.popen.stdin.fileno(), encode(message))
                except OSError:
                    reason = self._death_reason(process)
                    self._discard()
                    return Reply(failure=f"the worker stopped before the request: {reason}", restarted=True)
                deadline = time.monotonic() + timeout
                reply = self._read(process, deadline, cancelled)
                if reply is None:
                    return self._failed(process, timeout, cancelled)
                if reply.get("fatal"):
                    self._discard()
                    return Reply(message=reply, failure=str(reply["fatal"]), restarted=True)
                return Reply(message=reply)
            finally:
                if self.running:
                    self._arm_idle_timer()

    def _read(self, process: _Process, deadline: float, cancelled: Callable[[], bool] | None) -> dict[str, Any] | None:
        """The next message, or None at end of file / deadline / cancellation."""
        while True:
            line = process.reader.pop_line()
            if line is not None:
                try:
                    return decode(line)
                except ValueError:
                    log.warning("gradient-check worker sent a malformed line: %r", line[:200])
                    continue
            if process.reader.eof:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (cancelled is not None and cancelled()):
                return None
            ready, _, _ = select.select([process.reader.fd], [], [], min(remaining, 0.1))
            if ready and not process.reader.fill():
                return None

    def _failed(self, process: _Process, timeout: float, cancelled: Callable[[], bool] | None) -> Reply:
        if self._closing:
            self._discard()
            return Reply(failure="stopped: the gradient check was closed", restarted=True)
        if process.reader.eof or process.popen.poll() is not None:
            reason = self._death_reason(process)
            self._discard()
            return Reply(failure=reason, restarted=True)
        if cancelled is not None and cancelled():
            self._discard()
            return Reply(failure="cancelled", restarted=True)
        where = self._where_stuck(process)
        self._discard()
        return Reply(failure=f"timed out after {timeout:g} s{where}; the worker was restarted", restarted=True)

    def _where_stuck(self, process: _Process) -> str:
        """Ask faulthandler (SIGUSR1) where the loss is looping, before the kill."""
        if not hasattr(signal, "SIGUSR1"):
            return ""
        try:
            os.kill(process.popen.pid, signal.SIGUSR1)
        except (ProcessLookupError, PermissionError):
            return ""
        time.sleep(0.3)
        user_line = _last_user_frame(_tail(process.log_path))
        return f" (running {user_line})" if user_line else ""

    def _death_reason(self, process: _Process, startup: bool = False) -> str:
        try:
            code = process.popen.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            return "the worker stopped answering"
        tail = _tail(process.log_path)
        where = _last_user_frame(tail)
        at = f" at {where}" if where else ""
        if code < 0:
            name = _signal_name(-code)
            if name == "SIGKILL" and not startup:
                return f"the worker was killed (SIGKILL{at}; out of memory?)"
            return f"the worker crashed ({name}{at})"
        if startup:
            last = [line for line in tail.splitlines() if line.strip()]
            return f"exit status {code}" + (f": {last[-1].strip()[:300]}" if last else "")
        return f"the loss ended the worker process (exit status {code}{at}, e.g. os._exit or sys.exit in a thread)"


def _truncate(path: str) -> None:
    try:
        os.truncate(path, 0)
    except OSError:
        pass


def _tail(path: str, size: int = 16384) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            length = handle.tell()
            handle.seek(max(0, length - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def _last_user_frame(text: str) -> str:
    """From a faulthandler dump: the innermost frame outside libraries ("line 7 of loss.py")."""
    for match in _FRAME.finditer(text):
        filename = match.group(1)
        if "site-packages" in filename or "/lib/python" in filename or filename.startswith(_PACKAGE_DIR):
            continue
        return f"line {match.group(2)} of {os.path.basename(filename)}"
    return ""
