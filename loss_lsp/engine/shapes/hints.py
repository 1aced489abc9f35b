"""The in-code hint ``# loss-lsp: shapes y_true=(8,) y_pred=(8, 1) y_true_dtype=int32``."""

from __future__ import annotations

import re

HINT = re.compile(r"#\s*loss-lsp:\s*shapes\s+(.*)$")
_HINT_ITEM = re.compile(r"(y_true|y_pred)\s*=\s*\(([^)]*)\)")
_HINT_DTYPE = re.compile(r"y_true_dtype\s*=\s*([A-Za-z0-9_]+)")


def hint_dtype(line: str) -> str | None:
    match = HINT.search(line)
    found = _HINT_DTYPE.search(match.group(1)) if match else None
    return found.group(1) if found else None


def parse_hint(line: str) -> dict[str, tuple[int, ...]]:
    match = HINT.search(line)
    if not match:
        return {}
    out: dict[str, tuple[int, ...]] = {}
    for name, body in _HINT_ITEM.findall(match.group(1)):
        try:
            out[name] = tuple(int(part) for part in body.split(",") if part.strip())
        except ValueError:
            continue
    return out
