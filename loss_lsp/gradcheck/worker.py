"""The gradient-check worker: ``python -m loss_lsp.gradcheck.worker [--memory-mb N] [--idle-timeout S]``.

A long-lived process that imports TensorFlow once and checks one loss per request.
The protocol (JSON lines) arrives on the process's stdin and leaves on its stdout, but
both are moved to private descriptors before anything else runs: file descriptors 0 and 1
then point at /dev/null, so whatever the user's code prints cannot corrupt the channel.
See docs/gradcheck-protocol.md. Only the standard library, TensorFlow and Keras are
imported here (the user's interpreter may not have loss-lsp's dependencies).
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import select
import signal
import sys
import time
import traceback
from typing import Any

from loss_lsp.gradcheck.protocol import PROTOCOL_VERSION, LineReader, decode, encode, write_all

# The protocol's private descriptors (set first thing in main(); importing this module does nothing).
PROTO_IN = -1
PROTO_OUT = -1


def _take_protocol_fds() -> tuple[int, int]:
    """Move the protocol off fds 0/1 and point those at /dev/null: user prints go nowhere."""
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    return proto_in, proto_out


class _State:
    running_user_code = False
    forked = False
    checks = 0


def _after_fork_in_child() -> None:
    if _State.running_user_code:
        os._exit(0)  # the loss forked: the copy must not run on (nor touch the protocol)


def _after_fork_in_parent() -> None:
    if _State.running_user_code:
        _State.forked = True


def _limit_memory(megabytes: int) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    limit = megabytes * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError) as exc:
        print(f"loss-lsp worker: cannot set the memory limit: {exc}", file=sys.stderr)


def send(message: dict[str, Any]) -> None:
    write_all(PROTO_OUT, encode(message))


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    return type(exc).__name__ == "ResourceExhaustedError"


def check(request: dict[str, Any], tf: Any) -> dict[str, Any]:
    from loss_lsp.gradcheck.loader import SliceSession, SourceModule, build
    from loss_lsp.gradcheck.probes import run_probes

    modules = [SourceModule.from_json(m) for m in request["modules"]]
    user_files = {m.path for m in modules}
    session = SliceSession(modules, request.get("workspace", ""), list(request.get("sys_path", [])))
    started = time.perf_counter()
    cpu_started = time.process_time()
    reply: dict[str, Any] = {}
    _State.forked = False
    _State.running_user_code = True
    try:
        with session:
            try:
                module = session.import_main(request["main"])
            except BaseException as exc:  # noqa: BLE001 - the user's module may raise anything
                if _is_out_of_memory(exc):
                    raise
                reply["load_error"] = _describe(exc, user_files)
                module = None
            construct = request["construct"]

            def evaluate(expression: str) -> Any:
                try:
                    return build(module, expression)
                except BaseException as exc:  # noqa: BLE001
                    if _is_out_of_memory(exc) or expression != construct:
                        raise
                    raise _ConstructError(exc) from exc

            try:
                if module is not None:
                        reply["probes"] = run_probes(evaluate, construct, request.get("call_path", "direct"),
                                                 user_files,
                                                 request["shapes"], frozenset(request.get("codes", ())),
                                                 bool(request.get("stated")), str(request.get("bare", "")),
                                                 int(request.get("seed", 0)))
            except _ConstructError as wrapped:
                reply["construct_error"] = _describe(wrapped.inner, user_files)
    except BaseException as exc:  # noqa: BLE001
        if _is_out_of_memory(exc):
            reply["fatal"] = f"out of memory (limit {request.get('memory_mb', '?')} MB): {type(exc).__name__}"
        else:
            reply["internal_error"] = "".join(traceback.format_exception(exc))[-2000:]
    finally:
        _State.running_user_code = False
        _reset_globals(tf)
    if _State.forked:
        reply["fatal"] = "the loss called os.fork(); the child was stopped"
    reply["seconds"] = time.perf_counter() - started
    reply["cpu_seconds"] = time.process_time() - cpu_started  # all threads: TensorFlow's pools too
    return reply


class _ConstructError(Exception):
    def __init__(self, inner: BaseException) -> None:
        super().__init__(str(inner))
        self.inner = inner


def _describe(exc: BaseException, user_files: set[str]) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    line = None
    for frame in frames:
        if frame.filename in user_files:
            line = (frame.lineno or 1) - 1
    if isinstance(exc, SyntaxError) and exc.filename in user_files:
        line = (exc.lineno or 1) - 1
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, SystemExit):
        message = f"SystemExit({exc.code!r})"
    return {"type": type(exc).__name__, "message": message[:400], "line": line,
            "name": getattr(exc, "name", None) if isinstance(exc, (NameError, ImportError)) else None}


CLEAR_EVERY = 50  # checks between clearing Keras's global state (names, caches): bounded memory


def _reset_globals(tf: Any) -> None:
    """Undo global switches a loss may have flipped, so the next check starts the same."""
    _State.checks += 1
    if _State.checks % CLEAR_EVERY == 0:
        try:
            import gc

            import keras
            keras.backend.clear_session()
            gc.collect()
        except Exception:  # noqa: BLE001
            pass
    try:
        tf.config.run_functions_eagerly(False)
        tf.debugging.disable_check_numerics()
        import keras
        keras.config.set_floatx("float32")
    except Exception:  # noqa: BLE001
        pass


def main(argv: list[str] | None = None) -> int:
    global PROTO_IN, PROTO_OUT
    PROTO_IN, PROTO_OUT = _take_protocol_fds()
    parser = argparse.ArgumentParser(prog="loss_lsp.gradcheck.worker")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--idle-timeout", type=float, default=0.0)
    args = parser.parse_args(argv)
    faulthandler.enable(file=sys.stderr, all_threads=True)
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)  # "where is it stuck?"
    if args.memory_mb > 0:
        _limit_memory(args.memory_mb)
    os.register_at_fork(after_in_child=_after_fork_in_child, after_in_parent=_after_fork_in_parent)
    started = time.perf_counter()
    try:
        import keras
        import tensorflow as tf
    except BaseException as exc:  # noqa: BLE001
        send({"event": "fatal", "error": f"cannot import TensorFlow: {type(exc).__name__}: {exc}"})
        return 2
    try:  # small tensors: a few threads are plenty, and each one costs address space under the limit
        threads = min(4, os.cpu_count() or 1)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except (RuntimeError, ValueError):
        pass
    send({"event": "ready", "protocol": PROTOCOL_VERSION, "pid": os.getpid(), "tensorflow": tf.__version__,
          "keras": keras.__version__, "python": sys.version.split()[0],
          "import_seconds": time.perf_counter() - started})
    reader = LineReader(PROTO_IN)
    while True:
        line = reader.pop_line()
        if line is None:
            timeout = args.idle_timeout if args.idle_timeout > 0 else None
            ready, _, _ = select.select([PROTO_IN], [], [], timeout)
            if not ready:
                return 0  # idle: the server starts a new worker when it needs one
            if not reader.fill():
                return 0  # the server went away
            continue
        try:
            request = decode(line)
        except ValueError as exc:
            send({"id": None, "error": f"bad request: {exc}"})
            continue
        op = request.get("op")
        if op == "shutdown":
            send({"id": request.get("id"), "ok": True})
            return 0
        if op == "ping":
            send({"id": request.get("id"), "ok": True})
            continue
        if op != "check":
            send({"id": request.get("id"), "error": f"unknown op {op!r}"})
            continue
        reply = check(request, tf)
        reply["id"] = request.get("id")
        send(reply)
        if reply.get("fatal"):
            return 3  # a clean process for the next loss


def _remove_own_folder() -> None:
    """The server removes the worker's folder; if the server died first, the worker does."""
    folder = os.getcwd()
    if os.path.basename(folder).startswith("loss-lsp-worker-"):
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    code = main()
    _remove_own_folder()
    sys.exit(code)
