"""Reading the ``# expect: LL201`` annotations of fixture files."""

from __future__ import annotations

import re
from pathlib import Path

EXPECT = re.compile(r"#\s*expect:\s*((?:LL\d{3}[\s,]*)+)")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def expected(source: str) -> set[tuple[int, str]]:
    """(1-based line, code) pairs announced by the fixture."""
    out: set[tuple[int, str]] = set()
    from loss_lsp.engine.chunks import split_lines  # Python's lines: str.splitlines also breaks at \x0c, U+2028 ...

    for number, line in enumerate(split_lines(source), 1):
        match = EXPECT.search(line)
        if match:
            for code in re.findall(r"LL\d{3}", match.group(1)):
                out.add((number, code))
    return out


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*.py") if p.is_file())
