"""Turning command-line paths into readable Python sources (``.py`` files and the code cells of
``.ipynb`` notebooks, joined), with one clear error per bad file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from loss_lsp.engine.ipynb import MAX_NOTEBOOK_BYTES, NOTEBOOK_SUFFIX, NotebookError, parse_notebook
from loss_lsp.engine.limits import MAX_CHARS
from loss_lsp.engine.notebook import JoinedCells

_SKIP_DIRS = {".git", ".hg", ".venv", "venv", "env", "node_modules", "__pycache__", "build", "dist", ".tox",
              ".mypy_cache", ".pytest_cache", "site-packages"}


@dataclass(frozen=True)
class Source:
    path: Path
    text: str | None  # None when unreadable; for a notebook, its code cells joined into one module
    error: str = ""
    notebook: JoinedCells | None = None  # where the joined module's lines are in the cells
    raw: str = ""  # a notebook's JSON text, as read (rewritten by --fix)


def expand(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Files to check (folders searched for *.py and *.ipynb) and usage errors for paths that do not exist."""
    files: list[Path] = []
    errors: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for folder, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                files.extend(Path(folder) / n for n in sorted(names) if n.endswith((".py", ".pyi", NOTEBOOK_SUFFIX)))
        elif path.is_file():
            files.append(path)
        else:
            errors.append(f"{raw}: no such file or directory")
    unique = list(dict.fromkeys(p.resolve() for p in files))
    return unique, errors


def read(path: Path) -> Source:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Source(path, None, f"cannot read: {exc.strerror or exc}")
    if b"\x00" in data:
        return Source(path, None, "binary file (contains NUL bytes): not analysed")
    notebook = path.suffix == NOTEBOOK_SUFFIX
    limit = MAX_NOTEBOOK_BYTES if notebook else MAX_CHARS  # a notebook's outputs (images) may be large
    if len(data) > limit:
        return Source(path, None, _too_large(len(data), limit))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Source(path, None, f"not UTF-8 (byte {exc.start}: {data[exc.start:exc.start + 1]!r}): not analysed")
    if not notebook:
        return Source(path, text)
    try:
        joined = parse_notebook(text).joined()
    except NotebookError as exc:
        return Source(path, None, f"{exc}: not analysed")
    if len(joined.text) > MAX_CHARS:
        return Source(path, None, _too_large(len(joined.text), MAX_CHARS, "code cells"))
    return Source(path, joined.text, notebook=joined, raw=text)


def _too_large(size: int, limit: int, what: str = "file") -> str:
    return f"{what} too large ({size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB): not analysed"


def display(path: Path | str) -> str:
    """Paths relative to the working directory when below it, as ruff prints them."""
    path = Path(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
