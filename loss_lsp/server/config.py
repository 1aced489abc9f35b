"""Settings per workspace folder, from every place an editor can put them.

Later sources win: defaults, ``[tool.loss-lsp]`` in the folder's pyproject.toml,
``initializationOptions``, then the editor's ``lossLsp`` section (pulled with
``workspace/configuration`` for each folder, or pushed with
``workspace/didChangeConfiguration`` by clients that cannot be asked). Bad values
never raise: they become warnings (shown once each) and the previous value stays.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loss_lsp.settings import Settings, find_root, from_pyproject, merge

SECTION = "lossLsp"
_ALIASES = (SECTION, "loss-lsp", "loss_lsp")


def section_of(raw: Any) -> Mapping[str, Any] | None:
    """The loss-lsp part of a settings object that may or may not be wrapped in its section."""
    if not isinstance(raw, Mapping):
        return None
    for name in _ALIASES:
        inner = raw.get(name)
        if isinstance(inner, Mapping):
            return inner
    return raw


def editor_settings(raw: Any) -> Mapping[str, Any]:
    """Settings sent by an editor, without the values that only say "nothing set".

    Editors send every key of the section, defaults included (VS Code sends
    ``select: []``); an empty list, table or string must not override pyproject.toml.
    """
    section = section_of(raw)
    if section is None:
        return {}
    out: dict[str, Any] = {}
    for key, value in section.items():
        if isinstance(value, Mapping) and key in ("gradientCheck", "gradient-check"):
            value = {k: v for k, v in value.items() if v is not None}
        if value is None or (isinstance(value, (list, tuple, Mapping, str)) and not value):
            continue
        out[key] = value
    return out


@dataclass
class FolderSettings:
    root: str
    settings: Settings = field(default_factory=Settings)
    warnings: list[str] = field(default_factory=list)
    unreported: list[str] = field(default_factory=list)
    generation: int = 0  # bumped whenever the settings in effect change


class ConfigStore:
    """Pure bookkeeping: which settings apply to which file. No LSP traffic here."""

    def __init__(self) -> None:
        self.init_options: Mapping[str, Any] = {}
        self.editor_global: Mapping[str, Any] = {}
        self.editor_folder: dict[str, Mapping[str, Any]] = {}
        self._folders: dict[str, FolderSettings] = {}
        self._extra_roots: dict[str, FolderSettings] = {}  # roots of files opened outside every folder

    # --- folders -------------------------------------------------------------------------
    @property
    def folders(self) -> list[str]:
        return list(self._folders)

    def set_folders(self, roots: Iterable[str]) -> None:
        wanted = [os.path.normpath(r) for r in roots]
        self._folders = {r: self._folders.get(r) or FolderSettings(r) for r in wanted}
        for root in self._folders:
            self.refresh(root)

    def add_folder(self, root: str) -> None:
        root = os.path.normpath(root)
        if root not in self._folders:
            self._folders[root] = FolderSettings(root)
            self.refresh(root)

    def remove_folder(self, root: str) -> None:
        root = os.path.normpath(root)
        self._folders.pop(root, None)
        self.editor_folder.pop(root, None)

    def folder_of(self, path: str) -> str | None:
        """The innermost workspace folder containing ``path``."""
        best = None
        for root in self._folders:
            inside = path == root or path.startswith(root.rstrip(os.sep) + os.sep)
            if inside and (best is None or len(root) > len(best)):
                best = root
        return best

    def entry_for(self, path: str) -> FolderSettings:
        root = self.folder_of(path)
        if root is not None:
            return self._folders[root]
        # A file outside every folder: settings of its own project root (nearest pyproject.toml).
        extra_root = str(find_root(Path(path)))
        entry = self._extra_roots.get(extra_root)
        if entry is None:
            entry = self._extra_roots[extra_root] = FolderSettings(extra_root)
            self.refresh(extra_root)
        return entry

    def settings_for(self, path: str | None) -> Settings:
        if path is None:
            return self._compose("", None)[0]
        return self.entry_for(path).settings

    # --- recomputation -------------------------------------------------------------------
    def _compose(self, root: str, pyproject_root: str | None) -> tuple[Settings, list[str]]:
        warnings: list[str] = []
        if pyproject_root is not None:
            settings, found = from_pyproject(Path(pyproject_root))
            warnings += found
        else:
            settings = Settings()
        for label, raw in (("initializationOptions", self.init_options),
                           (f"{SECTION} settings", self.editor_folder.get(root, self.editor_global))):
            settings, found = merge(settings, raw)
            warnings += [f"{label}: {w}" for w in found]
        return settings, warnings

    def refresh(self, root: str | None = None) -> list[str]:
        """Recompute one root (or all); returns the roots whose settings changed."""
        entries = {**self._folders, **self._extra_roots}
        targets = [root] if root is not None else list(entries)
        changed = []
        for name in targets:
            entry = entries.get(name)
            if entry is None:
                continue
            settings, warnings = self._compose(name, name)
            if settings != entry.settings:
                entry.settings = settings
                entry.generation += 1
                changed.append(name)
            entry.unreported += [w for w in warnings if w not in entry.warnings and w not in entry.unreported]
            entry.warnings = warnings
        return changed

    def roots_for_pyproject(self, pyproject: str) -> list[str]:
        parent = os.path.dirname(os.path.normpath(pyproject))
        return [r for r in {**self._folders, **self._extra_roots} if r == parent]

    def new_warnings(self) -> list[str]:
        """Warnings that appeared since the last call (a bad value is reported once, not on every change)."""
        out: list[str] = []
        for entry in (*self._folders.values(), *self._extra_roots.values()):
            out += [w for w in entry.unreported if w not in out]
            entry.unreported = []
        return out

    def snapshot(self) -> dict[str, Any]:
        return {root: entry.settings.to_dict() for root, entry in {**self._folders, **self._extra_roots}.items()}
