"""Applying didChange edits the way LSP defines lines.

pygls 2.1.1 applies incremental changes on ``str.splitlines(True)``, which also breaks
lines at form feeds, vertical tabs, U+001C-U+001E, U+0085, U+2028 and U+2029. LSP (and
the editor) break lines only at ``\\n``, ``\\r\\n`` and ``\\r``: after a form feed (common
in Python sources as a page break) every incremental edit below it lands on the wrong
line, and the server's copy of the document silently drifts away from the editor's.
Here lines are the editor's, columns are in the negotiated position encoding, and
positions past the end of a line or of the document are clamped as LSP asks.
"""

from __future__ import annotations

import re

from lsprotocol import types

from loss_lsp.server.positions import from_client_column

_BREAK = re.compile(r"\r\n|\r|\n")


def _line_start(text: str, line: int) -> int | None:
    """Where line ``line`` starts (None past the last line). A split in C: 2,000 lines in ~0.06 ms."""
    parts = _BREAK.split(text, maxsplit=line) if "\r" in text else text.split("\n", line)
    if len(parts) <= line:
        return None
    return len(text) - len(parts[-1])


def offset_of(text: str, position: types.Position, encoding: str) -> int:
    """The string index of an LSP position (clamped to the line, and to the document)."""
    start = _line_start(text, position.line) if position.line > 0 else 0
    if start is None:  # past the last line: the end of the document
        return len(text)
    end_match = _BREAK.search(text, start)
    end = end_match.start() if end_match else len(text)
    return start + from_client_column(text[start:end], position.character, encoding)


def apply_change(text: str, change: types.TextDocumentContentChangeEvent, encoding: str) -> str:
    """The text after one content change (whole-document or ranged)."""
    if not isinstance(change, types.TextDocumentContentChangePartial):
        return change.text
    start = offset_of(text, change.range.start, encoding)
    end = offset_of(text, change.range.end, encoding)
    if end < start:  # a reversed range: take it as the span between the two positions
        start, end = end, start
    return text[:start] + change.text + text[end:]
