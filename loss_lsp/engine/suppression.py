"""``# loss-lsp: ignore`` and ``# loss-lsp: ignore[LL201, LL203]`` comments."""

from __future__ import annotations

import re

from loss_lsp.engine.findings import Finding

_PYTHON_WHITESPACE = " \t\f"  # not str.strip()'s: \x0b, \x1c, U+2028 ... are not whitespace to Python
_IGNORE = re.compile(r"#\s*loss-lsp:\s*ignore(?:\[([A-Za-z0-9_,\s]*)\])?")


def ignored_codes(line: str) -> set[str] | None:
    """None when the line has no ignore comment; an empty set means every code."""
    if "loss-lsp" not in line:
        return None
    match = _IGNORE.search(line)
    if match is None:
        return None
    if match.group(1) is None:
        return set()
    return {code.strip().upper() for code in match.group(1).split(",") if code.strip()}


def is_suppressed(finding: Finding, lines: list[str]) -> bool:
    for index in {finding.span.start_line, finding.span.end_line}:
        if 0 <= index < len(lines):
            codes = ignored_codes(lines[index])
            if codes is not None and (not codes or finding.code in codes):
                return True
    return False


def suppress_comment(line: str, code: str) -> str:
    """The line with ``code`` added to its ignore comment (or a new comment appended)."""
    codes = ignored_codes(line)
    if codes is None:
        return f"{line.rstrip(_PYTHON_WHITESPACE)}  # loss-lsp: ignore[{code}]"
    if not codes or code in codes:
        return line
    merged = ", ".join(sorted(codes | {code}))
    return _IGNORE.sub(f"# loss-lsp: ignore[{merged}]", line, count=1)
