"""Reading JSON-RPC messages off the wire, robust against clients that send garbage.

pygls 2.1.1's ``run_async`` (pygls/io_.py) has three failure modes on bad input, checked
in its source and through the real server:

* A header it cannot read (``Content-Length: abc``, a lower-case name, ``\\n`` line ends,
  bytes before the header) is skipped, but then the next body is read as a header line
  glued to the following header: every later message is lost, the server goes deaf.
* A body that is not JSON, not UTF-8, not an object, or whose parameters do not fit the
  method's types only gets a log line: a request then never gets an answer, and the
  client waits forever. JSON-RPC asks for -32700 (parse error), -32600 (invalid request)
  or -32602 (invalid params).
* A ``Content-Length`` of gigabytes makes it allocate that much before reading.

This loop finds the header by name anywhere in a line (case-insensitive), so it falls
back into step after garbage; answers every request it cannot run with a JSON-RPC error;
and skips bodies above :data:`MAX_BODY` instead of allocating them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from typing import Any, Protocol

from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
)

log = logging.getLogger(__name__)

MAX_BODY = 512 * 1024 * 1024  # bytes; a 50 MB didOpen is fine, a 5 GB claim is skipped
_CHUNK = 1 << 20
_HEADER = re.compile(rb"content-length[ \t]*:[ \t]*(\d+)", re.IGNORECASE)


class Reader(Protocol):
    async def readline(self) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...


def valid_id(value: Any) -> int | str | None:
    """The message id to answer with (JSON-RPC: null when the request's id cannot be used)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return value


def _send_error(protocol: Any, msg_id: Any, error: JsonRpcException) -> None:
    try:
        protocol._send_response(valid_id(msg_id), error=error.to_response_error())
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
    return "; ".join(details[:5])


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


async def _discard(reader: Reader, length: int) -> bool:
    while length > 0:
        chunk = await reader.readexactly(min(length, _CHUNK))
        if not chunk:
            return False
        length -= len(chunk)
    return True


async def read_messages(stop_event: threading.Event, reader: Reader, protocol: Any) -> None:
    """The server's main loop: read framed messages until end of input or ``stop_event``."""
    length: int | None = None
    while not stop_event.is_set():
        try:
            line = await reader.readline()
        except ValueError:  # asyncio.StreamReader: a line over its limit (it drops the buffered data)
            log.warning("skipped an over-long header line")
            continue
        if not line:
            break
        if line.strip() == b"":
            if length is None:
                continue
            wanted, length = length, None
            try:
                if wanted > MAX_BODY:
                    log.error("skipped a %d-byte message (limit %d)", wanted, MAX_BODY)
                    _send_error(protocol, None, JsonRpcInvalidRequest(
                        f"Invalid request: a {wanted}-byte message is over the server's limit of {MAX_BODY} bytes"))
                    if not await _discard(reader, wanted):
                        break
                    continue
                body = await reader.readexactly(wanted)
            except asyncio.IncompleteReadError:
                break
            if len(body) < wanted:
                break  # end of input in the middle of a body
            try:
                handle_body(protocol, body)
            except Exception:
                log.exception("handling a message failed")
            continue
        found = None
        for found in _HEADER.finditer(line):
            pass
        if found is not None:
            if found.start() > 0:
                log.warning("skipped %d bytes before a header", found.start())
            length = int(found.group(1))
        elif not line.lower().startswith(b"content-type"):
            log.warning("skipped a line that is not a header: %.80r", line)


__all__ = ["MAX_BODY", "handle_body", "read_messages"]
