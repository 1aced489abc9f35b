"""Split a module into top-level blocks and parse each one on its own.

Two things follow from parsing block by block:
- tolerant parsing: a syntax error in the function someone is typing hides nothing
  else in the file;
- incremental re-analysis: a block whose text has not changed is not parsed again
  (the cache is keyed by the block's text, so moving it up or down costs nothing).
"""

from __future__ import annotations

import ast
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass

from loss_lsp.engine.memo import PinnedCache

_NEWLINE = re.compile(r"\r\n|\r|\n")
# Python's tokenizer (and LSP) end lines only at \n, \r\n and \r, and treat only space, tab and form
# feed as whitespace. str.split(), str.strip() and str.splitlines() also take \x0b, \x1c-\x1f, \x85,
# U+2028, ... for whitespace or line breaks: a line holding only one of them is code to Python (a syntax
# error), not a blank line.
_FIRST_WORD = re.compile(r"\w*")
_CONTINUATION_KEYWORDS = ("else", "elif", "except", "finally", "case")
_MAX_MERGE = 40  # blocks tried together when one alone does not parse (multi-line strings at column 0)


@dataclass(frozen=True)
class Block:
    start: int  # 0-based line of the block's first line in the file
    text: str
    tree: ast.Module | None  # None when the block does not parse
    error: str = ""
    error_line: int = 0  # 0-based, relative to the block


def split_lines(source: str) -> list[str]:
    """Lines without their endings, split the way the Python tokenizer splits them."""
    if "\r" not in source:
        return source.split("\n")
    return _NEWLINE.split(source)


def _triple_quote_state(line: str, quote: str) -> str:
    """Which triple-quoted string is still open after this line ("" for none).

    Lines inside a docstring may start at column 0; they must not start a block. Single-quoted
    strings and comments are skipped roughly, which is enough for docstrings and long literals.
    """
    i = 0
    while i < len(line):
        if quote:
            end = line.find(quote, i)
            if end < 0:
                return quote
            i, quote = end + 3, ""
            continue
        ch = line[i]
        if ch == "#":
            return ""
        if line.startswith(('"""', "\'\'\'"), i):
            quote = line[i:i + 3]
            i += 3
            continue
        if ch in "\"'":
            end = line.find(ch, i + 1)
            while end > 0 and line[end - 1] == "\\":
                end = line.find(ch, end + 1)
            i = end + 1 if end > 0 else len(line)
            continue
        i += 1
    return quote


def _starts_block(line: str) -> bool:
    if not line or line[0] in " \t#)]}\f":
        return False
    word = _FIRST_WORD.match(line).group()  # type: ignore[union-attr]  # \w* always matches
    return word not in _CONTINUATION_KEYWORDS


def parse_quietly(text: str) -> ast.Module:
    """``ast.parse`` without Python's warnings about the code (invalid escapes are the user's to see)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text)


class _ParseCache(PinnedCache[str, tuple[ast.Module | None, str, int]]):
    """Block text -> parse result; the blocks of each file's latest version stay, older ones go."""

    def __init__(self) -> None:
        super().__init__(spare_size=60_000, size_of=len)  # spare pool in characters: recent versions, for undo

    def parse(self, text: str) -> tuple[ast.Module | None, str, int]:
        hit = self.get(text)
        if hit is not None:
            return hit
        try:
            result: tuple[ast.Module | None, str, int] = (parse_quietly(text), "", 0)
        except SyntaxError as exc:
            result = (None, exc.msg or "invalid syntax", max((exc.lineno or 1) - 1, 0))
        except (ValueError, RecursionError, MemoryError) as exc:
            result = (None, str(exc) or type(exc).__name__, 0)
        self.put(text, result)
        return result


PARSE_CACHE = _ParseCache()


def split_blocks(lines: list[str]) -> list[Block]:
    """Parse the module as a list of independently parsed top-level blocks."""
    starts = [0]
    previous_decorator = False
    quote = ""  # the triple quote a line starts inside of, if any
    for index, line in enumerate(lines):
        if index and not quote and _starts_block(line) and not previous_decorator:
            starts.append(index)
        if '"""' in line or "\'\'\'" in line:
            quote = _triple_quote_state(line, quote)
        if line[:1] not in (" ", "\t", "\f", "#", ""):
            previous_decorator = line.startswith("@")
    starts.append(len(lines))
    # Drop empty leading segments so that each block starts at real code.
    blocks: list[Block] = []
    i = 0
    segment_count = len(starts) - 1
    while i < segment_count:
        first = starts[i]
        end = starts[i + 1]
        text = "\n".join(lines[first:end])
        tree, error, error_line = PARSE_CACHE.parse(text)
        if tree is None:
            for j in range(i + 2, min(i + 1 + _MAX_MERGE, segment_count + 1)):
                merged = "\n".join(lines[first:starts[j]])
                merged_tree, _, _ = PARSE_CACHE.parse(merged)
                if merged_tree is not None:
                    tree, text, error = merged_tree, merged, ""
                    end = starts[j]
                    i = j - 1
                    break
        blocks.append(Block(first, text, tree, error, error_line))
        i += 1
    return blocks
