"""The message protocol between the server and the gradient-check worker.

Standard library only: the worker imports this module under the user's interpreter.
One JSON object per line, UTF-8, in both directions; see docs/gradcheck-protocol.md.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

PROTOCOL_VERSION = 1
# Bumped whenever a probe changes what it reports, so cached results are not reused.
PROBES_VERSION = 3
MAX_LINE = 16 * 1024 * 1024  # a reply larger than this is a protocol error


def _clean(value: Any) -> Any:
    """JSON has no NaN/Inf: such numbers travel as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(_clean(message), separators=(",", ":"), default=str, allow_nan=False) + "\n").encode("utf-8")


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line.decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("a protocol message must be a JSON object")
    return message


class LineReader:
    """Splits what arrives on a raw file descriptor into lines (no Python buffering,
    so ``select`` on the descriptor tells the truth)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()
        self.eof = False

    def pop_line(self) -> bytes | None:
        at = self._buffer.find(b"\n")
        if at < 0:
            if len(self._buffer) > MAX_LINE:
                raise ValueError("protocol line too long")
            return None
        line = bytes(self._buffer[:at])
        del self._buffer[:at + 1]
        return line

    def fill(self) -> bool:
        """Read what is available (call after ``select`` says readable); False at end of file."""
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            self.eof = True
            return False
        self._buffer.extend(chunk)
        return True


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
