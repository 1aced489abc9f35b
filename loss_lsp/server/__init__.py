"""The loss-lsp language server (pygls): ``serve("stdio")`` or ``serve("tcp", host, port)``.

Start it with ``loss-lsp serve`` / ``python -m loss_lsp serve``. See docs/server.md.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["create_server", "serve"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


class _ClientLogHandler(logging.Handler):
    """Errors of the server's own code also go to the client as window/logMessage."""

    def __init__(self, server: object) -> None:
        super().__init__(logging.ERROR)
        self._server = server
        self._busy = False

    def emit(self, record: logging.LogRecord) -> None:
        if self._busy:  # sending failed and logged: do not loop
            return
        self._busy = True
        try:
            from lsprotocol import types

            server = self._server
            loop = getattr(server, "loop", None)
            message = types.LogMessageParams(type=types.MessageType.Error,
                                             message=f"loss-lsp: {record.getMessage()}")
            if loop is not None and loop.is_running():
                loop.call_soon_threadsafe(server.window_log_message, message)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001,S110  (logging must never break the server; nowhere left to report)
            pass
        finally:
            self._busy = False


def _configure_logging(log_file: str | None) -> None:
    level = getattr(logging, os.environ.get("LOSS_LSP_LOG_LEVEL", "INFO").upper(), logging.INFO)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.WARNING)
    stderr.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(stderr)
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    # pygls logs every message body at INFO: megabytes per minute while typing.
    if level > logging.DEBUG:
        logging.getLogger("pygls").setLevel(logging.WARNING)


def create_server():  # type: ignore[no-untyped-def]
    from loss_lsp.server.server import create_server as _create

    return _create()


def serve(transport: str = "stdio", host: str = "127.0.0.1", port: int = 2087, log_file: str | None = None) -> None:
    """Run the language server until the client exits."""
    _configure_logging(log_file)
    server = create_server()
    logging.getLogger("loss_lsp").addHandler(_ClientLogHandler(server))
    log = logging.getLogger(__name__)
    log.info("loss-lsp %s serving over %s (pid %d)", server.version, transport, os.getpid())
    try:
        if transport == "tcp":
            server.start_tcp(host, port)
        elif transport == "stdio":
            server.start_io()
        else:
            raise ValueError(f"unknown transport {transport!r} (expected 'stdio' or 'tcp')")
    finally:
        server.shutdown_workers()
        log.info("loss-lsp stopped")
    if not server.protocol._shutdown:  # LSP: exit without a shutdown request (or a lost client) is code 1
        raise SystemExit(1)
