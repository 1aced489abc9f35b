"""A one-line progress bar on stderr for long runs in a terminal."""

from __future__ import annotations

import sys
from pathlib import Path


class Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.count = 0
        self.enabled = enabled

    def step(self, path: Path) -> None:
        self.count += 1
        if not self.enabled:
            return
        width = 30
        filled = width * min(self.count, self.total) // max(self.total, 1)
        name = path.name[-30:]
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.count}/{self.total} {name:<30}")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 80 + "\r")
            sys.stderr.flush()
