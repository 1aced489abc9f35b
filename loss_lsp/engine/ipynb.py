"""Reading the code cells of a ``.ipynb`` file, and writing new sources back into it.

Only the standard library's ``json``: a notebook is JSON (nbformat 4). Anything else gets
one :class:`NotebookError` line. Writing back replaces the text of the changed cells'
``source`` values and nothing else, so outputs, metadata, key order, indentation and
the trailing newline stay byte for byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from json.decoder import scanstring

from loss_lsp.engine.notebook import JoinedCells, join_cells

NOTEBOOK_SUFFIX = ".ipynb"
MAX_NOTEBOOK_BYTES = 200_000_000  # outputs (plots as base64) make notebooks large; the code cells are limited apart
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class NotebookError(ValueError):
    """The file is not a notebook loss-lsp can read (the message is one line)."""


@dataclass(frozen=True)
class Notebook:
    language: str  # the kernel's language ("python" when the notebook does not say)
    code_cells: tuple[tuple[int, str], ...]  # (index among all cells, source)

    @property
    def is_python(self) -> bool:
        return self.language.lower() in ("python", "python3", "ipython", "")

    def joined(self) -> JoinedCells:
        return join_cells(self.code_cells if self.is_python else ())


def _source_text(value: object, number: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "".join(value)
    raise NotebookError(f"not a notebook: the source of cell {number} is not text")


def _language(data: Mapping[str, object]) -> str:
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return "python"
    for key, field in (("kernelspec", "language"), ("language_info", "name")):
        section = metadata.get(key)
        if isinstance(section, dict) and isinstance(section.get(field), str):
            return str(section[field])
    return "python"


def parse_notebook(text: str) -> Notebook:
    """The code cells of a notebook's JSON text (NotebookError with one line when it is not one)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"not a notebook: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
                            ) from None
    except RecursionError:
        raise NotebookError("not a notebook: the JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise NotebookError("not a notebook: the JSON is not an object")
    version = data.get("nbformat")
    if not isinstance(version, int) or isinstance(version, bool):
        raise NotebookError("not a notebook: no nbformat version")
    if version != 4:
        raise NotebookError(f"unsupported nbformat {version} (loss-lsp reads nbformat 4; "
                            "`jupyter nbconvert --to notebook` upgrades it)")
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise NotebookError('not a notebook: no "cells" list')
    code: list[tuple[int, str]] = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise NotebookError(f"not a notebook: cell {index + 1} is not an object")
        if cell.get("cell_type") == "code":
            code.append((index, _source_text(cell.get("source", ""), index + 1)))
    return Notebook(_language(data), tuple(code))


# --- writing back --------------------------------------------------------------------------------
def _skip(text: str, at: int) -> int:
    return _WHITESPACE.match(text, at).end()  # type: ignore[union-attr]


def _expect(text: str, at: int, char: str) -> int:
    if text[at:at + 1] != char:
        raise NotebookError(f"not a notebook: expected {char!r} at character {at}")
    return at + 1


def _members(text: str, at: int, decoder: json.JSONDecoder):  # type: ignore[no-untyped-def]
    """(key, value start, value end) of the object starting at ``at`` (after whitespace)."""
    at = _skip(text, _expect(text, at, "{"))
    if text[at:at + 1] == "}":
        return
    while True:
        key, at = scanstring(text, _expect(text, at, '"'))
        start = _skip(text, _expect(text, _skip(text, at), ":"))
        _, end = decoder.raw_decode(text, start)
        yield key, start, end
        at = _skip(text, end)
        if text[at:at + 1] == "}":
            return
        at = _skip(text, _expect(text, at, ","))


def _elements(text: str, at: int, decoder: json.JSONDecoder):  # type: ignore[no-untyped-def]
    """(start, end) of each element of the array starting at ``at``."""
    at = _skip(text, _expect(text, at, "["))
    if text[at:at + 1] == "]":
        return
    while True:
        _, end = decoder.raw_decode(text, at)
        yield at, end
        at = _skip(text, end)
        if text[at:at + 1] == "]":
            return
        at = _skip(text, _expect(text, at, ","))


def source_spans(text: str) -> dict[int, tuple[int, int]]:
    """Where each cell's ``source`` value is in the file's text: cell index -> (start, end)."""
    decoder = json.JSONDecoder()
    spans: dict[int, tuple[int, int]] = {}
    for key, start, _end in _members(text, _skip(text, 0), decoder):
        if key != "cells":
            continue
        spans = {}  # a repeated "cells" key: json.loads keeps the last one, so do we
        for index, (cell_start, _cell_end) in enumerate(_elements(text, start, decoder)):
            for cell_key, value_start, value_end in _members(text, cell_start, decoder):
                if cell_key == "source":
                    spans[index] = (value_start, value_end)
    return spans


def _render_source(old: str, new: str, ascii_only: bool) -> str:
    """``new`` as JSON in the style of the ``old`` value (a string, or a list of lines laid out alike)."""
    if old.startswith('"'):
        return json.dumps(new, ensure_ascii=ascii_only)
    lines = new.splitlines(keepends=True)
    if not lines:
        return "[]"
    items = [json.dumps(line, ensure_ascii=ascii_only) for line in lines]
    if "\n" not in old:
        return "[" + ", ".join(items) + "]"
    first_break, last_break = old.index("\n"), old.rindex("\n")
    item_indent = old[first_break + 1:_skip(old, first_break + 1)].replace("\n", "").replace("\r", "")
    closing_indent = old[last_break + 1:len(old) - 1]
    newline = "\r\n" if old[first_break - 1:first_break] == "\r" else "\n"
    return "[" + newline + ("," + newline).join(item_indent + item for item in items) + newline + closing_indent + "]"


def replace_sources(text: str, sources: Mapping[int, str]) -> str:
    """The notebook's text with these cells' sources replaced, every other byte unchanged."""
    spans = source_spans(text)
    ascii_only = text.isascii() and "\\u" in text
    out = text
    for index in sorted(sources, reverse=True):  # from the end, so earlier offsets stay valid
        if index not in spans:
            raise NotebookError(f"cell {index + 1} has no source to replace")
        start, end = spans[index]
        out = out[:start] + _render_source(text[start:end], sources[index], ascii_only) + out[end:]
    return out


# --- positions in the file ------------------------------------------------------------------------
def _raw_index(raw: str, decoded: int) -> int:
    """The index in a JSON string literal (quotes included) of its ``decoded``-th character."""
    at, count = 1, 0
    while count < decoded and at < len(raw) - 1:
        if raw[at] != "\\":
            at += 1
        elif raw[at + 1] == "u":
            high = int(raw[at + 2:at + 6], 16)
            at += 12 if 0xD800 <= high < 0xDC00 and raw[at + 6:at + 8] == "\\u" else 6  # a surrogate pair is one
        else:
            at += 2
        count += 1
    return at


def file_offset(text: str, spans: Mapping[int, tuple[int, int]], cell: int, offset: int) -> int | None:
    """Where character ``offset`` of a cell's source is in the notebook's text (None: not found)."""
    if cell not in spans:
        return None
    start, end = spans[cell]
    decoder = json.JSONDecoder()
    pieces = [(start, end)] if text[start:start + 1] == '"' else list(_elements(text, start, decoder))
    seen = 0
    for number, (piece_start, piece_end) in enumerate(pieces, 1):
        piece = decoder.raw_decode(text, piece_start)[0]
        if not isinstance(piece, str):
            return None
        if offset < seen + len(piece) or (offset == seen + len(piece) and number == len(pieces)):
            return piece_start + _raw_index(text[piece_start:piece_end], offset - seen)
        seen += len(piece)
    return None
