"""Worker side: import the sliced modules of a check, never the user's files themselves.

Standard library only. The server sends the slice of the loss's module and of every
workspace module it imports (same line numbers as the originals, so tracebacks and
op tracebacks point at the user's lines). A meta-path finder serves those; any other
module found inside the workspace is refused, so unsliced user code never runs.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import linecache
import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class SourceModule:
    name: str
    path: str
    code: str
    is_package: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourceModule:
        return cls(str(data["name"]), str(data["path"]), str(data["code"]), bool(data.get("is_package")))


class _SliceLoader(importlib.abc.Loader):
    def __init__(self, module: SourceModule) -> None:
        self.module = module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        code = compile(self.module.code, self.module.path, "exec", dont_inherit=True)
        exec(code, module.__dict__)

    def get_source(self, fullname: str) -> str:
        return self.module.code


class SliceFinder(importlib.abc.MetaPathFinder):
    """Serves sliced workspace modules; refuses the unsliced rest of the workspace."""

    def __init__(self, modules: list[SourceModule], workspace: str) -> None:
        self.modules = {m.name: m for m in modules}
        self.workspace = os.path.realpath(workspace) if workspace else ""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        source = self.modules.get(fullname)
        if source is not None:
            spec = importlib.util.spec_from_loader(fullname, _SliceLoader(source), origin=source.path,
                                                   is_package=source.is_package)
            if spec is not None:
                spec.has_location = True
                if source.is_package:
                    spec.submodule_search_locations = [os.path.dirname(source.path)]
            return spec
        if not self.workspace:
            return None
        found = importlib.machinery.PathFinder.find_spec(fullname, path)
        origin = getattr(found, "origin", None) or ""
        if origin and self._inside_workspace(origin):
            raise ImportError(f"workspace module {fullname!r} is not part of the slice (it is not run by the check)",
                              name=fullname)
        return None

    def _inside_workspace(self, origin: str) -> bool:
        real = os.path.realpath(origin)
        if not real.startswith(self.workspace + os.sep):
            return False
        # A virtualenv inside the project holds libraries, not the user's code.
        parts = real[len(self.workspace):].split(os.sep)
        return not any(p in ("site-packages", "dist-packages") for p in parts)


class SliceSession:
    """Imports one check's slices; ``close`` forgets them so the next check starts clean."""

    def __init__(self, modules: list[SourceModule], workspace: str, sys_path: list[str]) -> None:
        self.modules = modules
        self.finder = SliceFinder(modules, workspace)
        self.sys_path = [p for p in sys_path if p]
        self._saved_path: list[str] = []
        self._before: set[str] = set()

    def __enter__(self) -> SliceSession:
        self._before = set(sys.modules)
        self._saved_path = list(sys.path)
        sys.path[:0] = [p for p in self.sys_path if p not in sys.path]
        sys.meta_path.insert(0, self.finder)
        for module in self.modules:
            # Tracebacks and TensorFlow's op tracebacks read lines through linecache.
            lines = module.code.splitlines(keepends=True)
            linecache.cache[module.path] = (len(module.code), None, lines, module.path)
        importlib.invalidate_caches()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)
        sys.path[:] = self._saved_path
        for name in set(sys.modules) - self._before:
            module = sys.modules.get(name)
            if name in self.finder.modules or _is_user_module(module, self.finder):
                sys.modules.pop(name, None)
        for module in self.modules:
            linecache.cache.pop(module.path, None)

    def import_main(self, name: str) -> ModuleType:
        return importlib.import_module(name)


def _is_user_module(module: ModuleType | None, finder: SliceFinder) -> bool:
    origin = getattr(getattr(module, "__spec__", None), "origin", None) or ""
    return bool(origin) and bool(finder.workspace) and finder._inside_workspace(origin)


def build(module: ModuleType, construct: str) -> Any:
    """Evaluate the construct expression ("focal(gamma=2)", "DiceLoss()") in the module."""
    code = compile(construct, f"<construct {construct}>", "eval", dont_inherit=True)
    return eval(code, module.__dict__)  # noqa: S307 - runs only on the user's request, in the worker
