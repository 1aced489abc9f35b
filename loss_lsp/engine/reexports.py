"""Names that reach TensorFlow / Keras / NumPy through another module's imports.

Libraries often give Keras's namespaces their own name (``from mylib.backend import ops``
where ``mylib/backend.py`` does ``from keras import ops``). The importing file's table
then says ``mylib.backend.ops.log``, which no namespace knows. This follows the
re-exporting module's own import statements (its source is found next to the importing
file, in the folders above it, or on ``sys.path`` among installed packages; it is parsed,
never imported) until a known library path is reached.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from loss_lsp.engine.catalogue import CATALOGUE
from loss_lsp.engine.chunks import parse_quietly
from loss_lsp.engine.namespaces import NUMPY_TO_TF

_LIBRARIES = {"tensorflow", "keras", "tf_keras", "numpy"}
_MAX_HOPS = 4
_MAX_FOLDERS_UP = 6
_MAX_SOURCE_BYTES = 2_000_000  # a re-exporting module is small; a generated giant is not worth parsing


def library_path(path: str, importer: str) -> str | None:
    """The library path ``path`` (as spelled through the importer's imports) re-exports, or None."""
    if path.split(".", 1)[0] in _LIBRARIES or importer.startswith("<") or not _worth_following(path):
        return None
    try:
        return _follow(path, _folder(importer), 0)
    except (OSError, ValueError, RecursionError):
        return None  # an unreadable or vanished module: the name stays unknown, nothing is guessed


def _worth_following(path: str) -> bool:
    """Only names a rule could care about: an op of the catalogue, a namespace, a Loss base class.
    ``mylib.utils.save_model`` is never looked up (resolution runs for every dotted name)."""
    last = path.rsplit(".", 1)[-1]
    return last in CATALOGUE or last in NUMPY_TO_TF or last in _INTERESTING


_INTERESTING = {"ops", "backend", "numpy", "math", "nn", "linalg", "losses", "Loss", "LossFunctionWrapper",
                "acos", "asin", "arccos", "arcsin", "xlogy", "log_softmax", "softplus", "log_sigmoid", "tf",
                "keras", "np", "K"}


@lru_cache(maxsize=256)
def _folder(importer: str) -> str:
    return str(Path(importer).resolve().parent)


@lru_cache(maxsize=4096)
def _follow(path: str, folder: str, hops: int) -> str | None:
    if hops >= _MAX_HOPS:
        return None
    if path.startswith("."):
        path = _absolute(path, Path(folder))
        if path is None:
            return None
    parts = path.split(".")
    # the longest prefix that is a module defining the next name by an import
    for cut in range(len(parts) - 1, 0, -1):
        module, name, rest = parts[:cut], parts[cut], parts[cut + 1:]
        source = _module_file(".".join(module), folder)
        if source is None:
            continue
        imports = _imports(str(source), source.stat().st_mtime_ns)
        target = imports.get(name)
        if target is None and imports.get("*"):
            target = f"{imports['*']}.{name}"  # from keras.ops import *: the name comes from there
        if target is None:
            return None
        if target.startswith("."):
            target = _absolute(target, source.parent) or ""
        full = ".".join([target, *rest]) if target else ""
        if not full:
            return None
        if full.split(".", 1)[0] in _LIBRARIES:
            return full
        return _follow(full, str(source.parent), hops + 1)
    return None


def _absolute(relative: str, folder: Path) -> str | None:
    """``..pkg.name`` seen from ``folder`` as a dotted path from the first folder without __init__.py."""
    level = len(relative) - len(relative.lstrip("."))
    base = folder
    for _ in range(level - 1):
        base = base.parent
    names: list[str] = []
    package = base
    while (package / "__init__.py").is_file():
        names.insert(0, package.name)
        package = package.parent
    if not names:
        return None
    rest = relative.lstrip(".")
    return ".".join([*names, rest]) if rest else ".".join(names)


@lru_cache(maxsize=1024)
def _module_file(module: str, folder: str) -> Path | None:
    relative = Path(*module.split("."))
    candidates: list[Path] = []
    here = Path(folder)
    for base in [here, *list(here.parents)[:_MAX_FOLDERS_UP]]:
        candidates.append(base)
    candidates += [Path(p) for p in sys.path if p and Path(p).is_dir()]
    for base in candidates:
        for file in (base / relative.with_suffix(".py"), base / relative / "__init__.py"):
            if file.is_file():
                return file
    return None


@lru_cache(maxsize=512)
def _imports(path: str, _mtime: int) -> dict[str, str]:
    """What a module's top-level imports bind: local name -> dotted target (relative kept with dots)."""
    file = Path(path)
    try:
        if file.stat().st_size > _MAX_SOURCE_BYTES:
            return {}
        tree = parse_quietly(file.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return {}
    out: dict[str, str] = {}
    for node in top_level(tree.body):
        for name, target in bindings(node):
            if name != "*":
                out[name] = target
            elif target.split(".", 1)[0] in _LIBRARIES:
                out.setdefault("*", target)  # only a library's star import says where names come from
    for node in top_level(tree.body):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            aliased = _through(out, node.value)  # ops = keras.ops
            if aliased is not None:
                out.setdefault(node.targets[0].id, aliased)
        elif isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            lazy = _lazy_source(out, node)  # def __getattr__(name): return getattr(keras.ops, name)
            if lazy is not None and lazy.split(".", 1)[0] in _LIBRARIES:
                out.setdefault("*", lazy)
    return out


def bindings(node: ast.stmt) -> Iterator[tuple[str, str]]:
    """``(local name, dotted target)`` for each name an import statement binds (relative targets keep their
    dots; ``("*", module)`` for a star import); nothing for other statements."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            root = alias.name.split(".", 1)[0]
            yield alias.asname or root, alias.name if alias.asname else root
    elif isinstance(node, ast.ImportFrom):
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name == "*":
                yield "*", module
            else:
                yield alias.asname or alias.name, f"{module}.{alias.name}" if node.module else f"{module}{alias.name}"


def _through(imports: dict[str, str], node: ast.expr) -> str | None:
    """The dotted target of ``a.b.c`` when ``a`` is an import of the module."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in imports or node.id == "*":
        return None
    return ".".join([imports[node.id], *parts])


def _lazy_source(imports: dict[str, str], fn: ast.FunctionDef) -> str | None:
    """The module a lazy module-level ``__getattr__`` forwards every name to (PEP 562), when it says so plainly."""
    params = [a.arg for a in fn.args.args]
    returns = [n.value for n in ast.walk(fn) if isinstance(n, ast.Return) and n.value is not None]
    if len(params) != 1 or len(returns) != 1:
        return None
    call = returns[0]
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "getattr"
            and len(call.args) >= 2 and isinstance(call.args[1], ast.Name) and call.args[1].id == params[0]):
        return None
    return _through(imports, call.args[0])


def top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module statements, including those inside ``try``/``if`` (backend selection is written that way)."""
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, (ast.Try, ast.If)):
            out += top_level(node.body)
            out += top_level(node.orelse)
            for handler in getattr(node, "handlers", []):
                out += top_level(handler.body)
        else:
            out.append(node)
    return out
