"""Reading JSON-RPC messages off the wire: robust against garbage, and fast under load.

pygls 2.1.1's ``run_async`` (pygls/io_.py) has these problems, checked in its source and
through the real server:

* A header it cannot read (``Content-Length: abc``, a lower-case name, ``\\n`` line ends,
  bytes before the header) is skipped, but then the next body is read as a header line
  glued to the following header: every later message is lost, the server goes deaf.
* A body that is not JSON, not UTF-8, not an object, or whose parameters do not fit the
  method's types only gets a log line: a request then never gets an answer, and the
  client waits forever. JSON-RPC asks for -32700 (parse error), -32600 (invalid request)
  or -32602 (invalid params).
* A ``Content-Length`` of gigabytes makes it allocate that much before reading.
* Each message costs three hops through the thread pool (header line, blank line, body),
  and each hop needs the GIL, which the engine thread holds while it analyses: under an
  edit storm the server read about one message per 3 ms.

Here a :class:`FrameParser` finds the header by name anywhere in a line (case-insensitive),
so it falls back into step after garbage, and skips bodies above :data:`MAX_BODY` instead
of allocating them; :func:`handle_body` answers every request it cannot run with a
JSON-RPC error; and over stdio one thread of its own reads large chunks and hands the
event loop all complete messages at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
)

log = logging.getLogger(__name__)

MAX_BODY = 512 * 1024 * 1024  # bytes; a 50 MB didOpen is fine, a 5 GB claim is skipped
_MAX_HEADER_LINE = 64 * 1024  # a "header" longer than this without a line end is garbage
_READ = 1 << 20
_HEADER = re.compile(rb"content-length[ \t]*:[ \t]*(\d+)", re.IGNORECASE)


def valid_id(value: Any) -> int | str | None:
    """The message id to answer with (JSON-RPC: null when the request's id cannot be used)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return value


def _send_error(protocol: Any, msg_id: Any, error: JsonRpcException) -> None:
    msg_id = valid_id(msg_id)
    try:
        if msg_id is None:  # pygls' serializer drops None fields, but JSON-RPC wants "id": null here
            protocol._send_data({"jsonrpc": "2.0", "id": None,
                                 "error": {"code": error.code, "message": error.message}})
        else:
            protocol._send_response(msg_id, error=error.to_response_error())
    except Exception:  # noqa: BLE001  (the client is gone or the writer broke; nothing to answer)
        log.warning("could not send the error response %r", error.message)


def _describe(exc: BaseException) -> str:
    """What cattrs found wrong with the parameters, as "expected int @ $.params.position.line"."""
    cause = exc.__cause__ or exc
    try:
        import cattrs
        from cattrs.v import format_exception

        def explain(error: BaseException, type_: Any) -> str:
            text = format_exception(error, type_)
            return f"{text} ({error})" if text == "invalid value" and str(error) else text

        details = cattrs.transform_error(cause, format_exception=explain)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001  (not a cattrs error: keep its own text)
        details = [str(cause)]
    # cattrs names the Python attributes ($.params.text_document); the client sent JSON names.
    return "; ".join(_PATH.sub(lambda m: _SNAKE.sub(lambda s: s.group(1).upper(), m.group(0)), d) for d in details[:5])


_PATH = re.compile(r"@ \$[\w.\[\]]*")
_SNAKE = re.compile(r"_([a-z])")


def handle_body(protocol: Any, body: bytes) -> None:
    """Decode one message body and hand it to the protocol; answer requests that cannot run."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        log.warning("malformed JSON-RPC body (%d bytes): %s", len(body), exc)
        _send_error(protocol, None, JsonRpcParseError(f"Parse error: {exc}"))
        return
    if not isinstance(data, dict):
        kind = "a batch" if isinstance(data, list) else f"a {type(data).__name__}"
        log.warning("JSON-RPC message is %s, not an object", kind)
        _send_error(protocol, None, JsonRpcInvalidRequest(f"Invalid request: the message is {kind}, not an object"
                                                          + (" (batches are not supported by LSP)"
                                                             if isinstance(data, list) else "")))
        return
    msg_id, method = data.get("id"), data.get("method")
    is_request = "id" in data and "method" in data
    if data.get("jsonrpc") != "2.0" or (method is not None and not isinstance(method, str)) or (
            "id" in data and data["id"] is not None and valid_id(data["id"]) is None):
        log.warning("invalid JSON-RPC message: %.200r", data)
        if is_request or "method" not in data:  # a notification gets no answer, even an error
            _send_error(protocol, msg_id, JsonRpcInvalidRequest(
                "Invalid request: expected an object with \"jsonrpc\": \"2.0\", a string \"method\" "
                "and an integer or string \"id\""))
        return
    if "method" not in data and "result" not in data and "error" not in data:
        log.warning("JSON-RPC message without method, result or error: %.200r", data)
        _send_error(protocol, msg_id, JsonRpcInvalidRequest("Invalid request: no \"method\""))
        return
    try:
        message = protocol.structure_message(data)
    except JsonRpcException as exc:
        details = _describe(exc)
        if is_request:
            log.warning("invalid parameters for %s (request %r): %s", method, msg_id, details)
            _send_error(protocol, msg_id, JsonRpcInvalidParams(f"Invalid params for {method}: {details}"))
        else:
            log.warning("dropped %s with invalid parameters: %s", method or "a response", details)
        return
    protocol.handle_message(message)


@dataclass(frozen=True)
class TooLarge:
    """A message over :data:`MAX_BODY`: skipped unread."""

    length: int


class FrameParser:
    """Bytes in, message bodies out (``Content-Length`` framing), whatever the bytes are."""

    def __init__(self, max_body: int = MAX_BODY) -> None:
        self._buffer = bytearray()
        self._pos = 0
        self._length: int | None = None  # from the headers read so far
        self._need = 0  # > 0: reading a body of this many bytes
        self._skip = 0  # > 0: discarding an oversized body
        self._max_body = max_body

    @property
    def wanted(self) -> int:
        """Bytes still missing for the body being read (a hint for the read size)."""
        return max(self._need - (len(self._buffer) - self._pos), 0)

    def feed(self, data: bytes) -> list[bytes | TooLarge]:
        out: list[bytes | TooLarge] = []
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        self._buffer += data
        while True:
            if self._skip:
                dropped = min(self._skip, len(self._buffer) - self._pos)
                self._skip -= dropped
                self._pos += dropped
                if self._skip:
                    break
            if self._need:
                if len(self._buffer) - self._pos < self._need:
                    break
                end = self._pos + self._need
                out.append(bytes(self._buffer[self._pos:end]))
                self._pos, self._need = end, 0
                continue
            newline = self._buffer.find(b"\n", self._pos)
            if newline < 0:
                if len(self._buffer) - self._pos > _MAX_HEADER_LINE:
                    log.warning("skipped %d bytes without a line end where a header was expected",
                                len(self._buffer) - self._pos - 64)
                    self._pos = len(self._buffer) - 64  # a header may be starting at the very end
                break
            line = bytes(self._buffer[self._pos:newline + 1])
            self._pos = newline + 1
            self._header_line(line, out)
        if self._pos:
            del self._buffer[:self._pos]
            self._pos = 0
        return out

    def _header_line(self, line: bytes, out: list[bytes | TooLarge]) -> None:
        if line.strip() == b"":
            if self._length is None:
                return
            length, self._length = self._length, None
            if length > self._max_body:
                log.error("skipping a %d-byte message (limit %d)", length, self._max_body)
                out.append(TooLarge(length))
                self._skip = length
            elif length == 0:
                out.append(b"")
            else:
                self._need = length
            return
        found = None
        for found in _HEADER.finditer(line):
            pass
        if found is not None:
            if found.start() > 0:
                log.warning("skipped %d bytes before a header", found.start())
            self._length = int(found.group(1))
        elif not line.lower().startswith(b"content-type"):
            log.warning("skipped a line that is not a header: %.80r", line)


def dispatch(protocol: Any, item: bytes | TooLarge) -> None:
    """Handle one framed message; one bad message never ends the loop."""
    if isinstance(item, TooLarge):
        _send_error(protocol, None, JsonRpcInvalidRequest(
            f"Invalid request: a {item.length}-byte message is over the server's limit of {MAX_BODY} bytes"))
        return
    try:
        handle_body(protocol, item)
    except Exception:
        log.exception("handling a message failed")


_IN_FLIGHT = 4  # chunks read but not yet handled: beyond that the reader waits and the pipe pushes back


def _read_stdin(fd: int, deliver: Callable[[list[bytes | TooLarge] | None], None],
                room: threading.Semaphore) -> None:
    """The reader thread: large reads (the GIL is free while it waits), every complete message at once."""
    parser = FrameParser()
    try:
        while True:
            try:
                data = os.read(fd, max(_READ, min(parser.wanted, 64 * _READ)))
            except InterruptedError:
                continue
            except OSError as exc:
                log.error("reading stdin failed: %s", exc)
                data = b""
            if not data:
                deliver(None)
                return
            items = parser.feed(data)
            if items:
                room.acquire()  # released by the event loop once it has handled them
                deliver(items)
    except RuntimeError:  # the event loop is closed: the server is stopping
        return


async def serve_stdio(stop_event: threading.Event, fd: int, protocol: Any) -> None:
    """Read messages from ``fd`` (stdin) until end of input or ``stop_event``."""
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()
    room = threading.Semaphore(_IN_FLIGHT)

    def handle(items: list[bytes | TooLarge] | None) -> None:
        if items is None:
            if not finished.done():
                finished.set_result(None)
            return
        try:
            for item in items:
                if stop_event.is_set():
                    break
                dispatch(protocol, item)
        finally:
            room.release()
        if stop_event.is_set() and not finished.done():
            finished.set_result(None)

    def deliver(items: list[bytes | TooLarge] | None) -> None:
        loop.call_soon_threadsafe(handle, items)

    thread = threading.Thread(target=_read_stdin, args=(fd, deliver, room), name="loss-lsp-stdin", daemon=True)
    thread.start()
    await finished


async def serve_stream(stop_event: threading.Event, reader: asyncio.StreamReader, protocol: Any) -> None:
    """The same over an asyncio stream (TCP)."""
    parser = FrameParser()
    while not stop_event.is_set():
        data = await reader.read(max(_READ, min(parser.wanted, 64 * _READ)))
        if not data:
            return
        for item in parser.feed(data):
            if stop_event.is_set():
                return
            dispatch(protocol, item)


__all__ = ["MAX_BODY", "FrameParser", "TooLarge", "dispatch", "handle_body", "serve_stdio", "serve_stream"]
