"""Columns between the engine (Unicode code points) and the client (its negotiated encoding).

The engine reports 0-based columns counted in code points (Python ``str`` indices).
LSP counts columns in UTF-16 code units unless the client and server agree on
something else during ``initialize``. We prefer ``utf-8`` when the client offers it
(then the client does no conversion either) and ``utf-32`` next (no conversion at
all here); otherwise we convert to UTF-16, which every client must support.
"""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types

UTF8 = types.PositionEncodingKind.Utf8.value
UTF16 = types.PositionEncodingKind.Utf16.value
UTF32 = types.PositionEncodingKind.Utf32.value


def choose_encoding(offered: Sequence[str] | None) -> str:
    """The position encoding the server will use, given the client's offer."""
    offered = [str(getattr(kind, "value", kind)) for kind in offered or ()]
    for preferred in (UTF8, UTF32):
        if preferred in offered:
            return preferred
    return UTF16


def _units(char: str, encoding: str) -> int:
    code = ord(char)
    if encoding == UTF16:
        return 2 if code > 0xFFFF else 1
    if encoding == UTF8:
        if code < 0x80:
            return 1
        if code < 0x800:
            return 2
        return 3 if code < 0x10000 else 4
    return 1


def to_client_column(line: str, column: int, encoding: str) -> int:
    """Code-point column -> client column (clamped to the end of the line)."""
    column = max(0, min(column, len(line)))
    if encoding == UTF32 or line.isascii():
        return column
    prefix = line[:column]
    if encoding == UTF8:
        return len(prefix.encode("utf-8", "surrogatepass"))
    return len(prefix.encode("utf-16-le", "surrogatepass")) // 2


def from_client_column(line: str, column: int, encoding: str) -> int:
    """Client column -> code-point column (clamped; a column inside a character rounds down)."""
    if column <= 0:
        return 0
    if encoding == UTF32 or line.isascii():
        return min(column, len(line))
    units = 0
    for index, char in enumerate(line):
        units += _units(char, encoding)
        if units > column:
            return index
        if units == column:
            return index + 1
    return len(line)


class Lines:
    """The lines of one document text, split the way the engine splits them."""

    __slots__ = ("encoding", "lines")

    def __init__(self, lines: Sequence[str] | None, encoding: str) -> None:
        self.lines = lines  # None: text unknown (a file we cannot read); columns pass through
        self.encoding = encoding

    def _line(self, line: int) -> str:
        return self.lines[line] if self.lines is not None and 0 <= line < len(self.lines) else ""

    def position(self, line: int, column: int) -> types.Position:
        if self.lines is None:
            return types.Position(line=max(line, 0), character=max(column, 0))
        if line >= len(self.lines):  # past the end: the end of the last line
            line = max(len(self.lines) - 1, 0)
            column = len(self._line(line))
        return types.Position(line=max(line, 0), character=to_client_column(self._line(line), column, self.encoding))

    def range(self, start_line: int, start_col: int, end_line: int, end_col: int) -> types.Range:
        return types.Range(start=self.position(start_line, start_col), end=self.position(end_line, end_col))

    def to_engine(self, position: types.Position) -> tuple[int, int]:
        """A client position as (line, code-point column)."""
        line = position.line
        if self.lines is None:
            return line, position.character
        return line, from_client_column(self._line(line), position.character, self.encoding)
