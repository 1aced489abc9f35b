"""Which workspace module defines a function or class that another module names through its imports.

The importing module's table spells a name as a dotted path: ``pkg.helpers.xent`` (``import pkg.helpers``,
``import pkg.helpers as h; h.xent``), ``.helpers.xent`` (``from . import helpers; helpers.xent``,
``from .helpers import xent``), ``base.WeightedLoss`` (``class X(base.WeightedLoss)``). This finds the
file Python would import for the longest module prefix of that path (next to the importer, above its
package, at the workspace root) and checks that the rest is a top-level ``def``/``class`` there; a name
the module only imports (``pkg/__init__.py`` re-exporting ``from .impl import xent``, or a star import)
is followed to where it is defined. Sources are parsed, never imported, and read through the
workspace (so an editor's unsaved text counts).

Library and standard-library names are never looked up: ``tf.math.log`` stays TensorFlow's even when the
workspace has a ``math.py`` or a ``losses.py``.
"""

from __future__ import annotations

import ast
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from loss_lsp.engine.chunks import split_blocks, split_lines
from loss_lsp.engine.reexports import bindings, top_level

# Imports of these never name a workspace module (TensorFlow, Keras, NumPy, ... and the standard library).
LIBRARIES = frozenset({"tensorflow", "keras", "numpy", "tf_keras", "torch", "jax", "sklearn", "scipy", "pandas",
                       "tensorflow_probability", "tensorflow_addons", "flax", "optax"}) | sys.stdlib_module_names
_MAX_HOPS = 4  # re-exports followed before giving up


@dataclass(frozen=True)
class Definition:
    path: Path  # the module that defines it
    name: str  # its name there (a re-export may rename it)
    kind: str  # "function" or "class"


@dataclass(frozen=True)
class Exports:
    """A module's top-level names: what it defines and what it imports (relative paths keep their dots)."""

    functions: frozenset[str]
    classes: frozenset[str]
    imports: Mapping[str, str]
    stars: tuple[str, ...]  # modules it star-imports


def is_library(dotted_path: str) -> bool:
    return not dotted_path.startswith(".") and dotted_path.split(".", 1)[0] in LIBRARIES


def exports_of(source: str) -> Exports:
    """Top-level definitions and imports (including those under ``try``/``if``); blocks that do not parse
    are skipped, the rest still count."""
    functions: set[str] = set()
    classes: set[str] = set()
    imports: dict[str, str] = {}
    stars: list[str] = []
    for block in split_blocks(split_lines(source)):
        if block.tree is None:
            continue
        for node in top_level(block.tree.body):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.add(node.name)
            elif isinstance(node, ast.ClassDef):
                classes.add(node.name)
            else:
                for name, target in bindings(node):
                    if name == "*":
                        stars.append(target)
                    else:
                        imports[name] = target
    return Exports(frozenset(functions), frozenset(classes), imports, tuple(stars))


class Symbols:
    """Finds definitions in one workspace; ``read`` gives a file's current text (None: unreadable)."""

    def __init__(self, root: Path, read: Callable[[Path], str | None]) -> None:
        self.root = root
        self._read = read
        self._exports: dict[Path, tuple[int, Exports]] = {}  # file -> (hash of the text it was made from, exports)
        self._lock = threading.Lock()

    def module_file(self, importer: Path, module_name: str) -> Path | None:
        """The file ``import module_name`` (or ``from module_name import ...``) in ``importer`` loads."""
        level = len(module_name) - len(module_name.lstrip("."))
        parts = [p for p in module_name.lstrip(".").split(".") if p]
        if level:
            if level - 2 >= len(importer.parent.parents):  # more dots than folders
                return None
            folders = [importer.parent.parents[level - 2] if level > 1 else importer.parent]
            if not parts:  # from . import name: the package itself
                init = folders[0] / "__init__.py"
                return init.resolve() if init.is_file() else None
        else:
            folders = list(dict.fromkeys([importer.parent, _above_package(importer), self.root]))
        for folder in folders:
            candidate = folder.joinpath(*parts)
            for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
                if path.is_file():
                    return path.resolve()
        return None

    def definition(self, importer: Path, dotted_path: str, hops: int = 0) -> Definition | None:
        """Where the function or class ``dotted_path`` (as the importer's table spells it) is defined."""
        if is_library(dotted_path) or hops > _MAX_HOPS:
            return None
        level = len(dotted_path) - len(dotted_path.lstrip("."))
        parts = [p for p in dotted_path.lstrip(".").split(".") if p]
        lowest = 0 if level else 1  # ``from . import f``: f may be defined in the package's __init__.py
        for cut in range(len(parts) - 1, lowest - 1, -1):
            file = self.module_file(importer, "." * level + ".".join(parts[:cut]))
            if file is not None:
                return self._lookup(file, parts[cut:], hops)
        return None

    def _lookup(self, file: Path, rest: list[str], hops: int) -> Definition | None:
        exports = self.exports(file)
        if exports is None:
            return None
        name = rest[0]
        if len(rest) == 1 and name in exports.functions:
            return Definition(file, name, "function")
        if len(rest) == 1 and name in exports.classes:
            return Definition(file, name, "class")
        if name in exports.imports:  # re-exported: defined where the module imports it from
            return self.definition(file, ".".join([exports.imports[name], *rest[1:]]), hops + 1)
        for star in exports.stars:
            found = self.definition(file, ".".join([star, *rest]) if star.strip(".") else star + ".".join(rest),
                                    hops + 1)
            if found is not None:
                return found
        return None

    def exports(self, file: Path) -> Exports | None:
        source = self._read(file)
        if source is None:
            return None
        with self._lock:
            cached = self._exports.get(file)
        if cached is not None and cached[0] == hash(source):
            return cached[1]
        exports = exports_of(source)
        with self._lock:
            self._exports[file] = (hash(source), exports)
        return exports


def _above_package(importer: Path) -> Path:
    """The folder above the importer's outermost package (where ``import pkg.mod`` finds ``pkg``)."""
    folder = importer.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder
