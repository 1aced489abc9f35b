"""Cut a runnable slice of a module for one loss: never the user's training script.

The slice holds the imports, the module-level constants, the helper functions and classes
the loss needs (transitively) and the loss itself. Everything else -- ``model.fit(...)``,
data loading, prints, loops, ``if __name__ == "__main__":`` -- is left out. Workspace modules
the slice imports are sliced the same way (the worker refuses to import any other module of
the workspace). Kept statements stay on their original lines and the rest become blank lines,
so tracebacks and TensorFlow's op tracebacks point at the user's real line numbers.

A module-level assignment runs only when its value is plain: literals, arithmetic, and calls
into numerical libraries (tensorflow, keras, numpy, math, functools, ...), builtins, or the
module's own classes and helpers -- and none of them may read, write, download or train.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loss_lsp.engine.chunks import split_blocks, split_lines
from loss_lsp.engine.findings import LossInfo
from loss_lsp.engine.module import dotted

ALL = None  # "every name" need for modules imported as a whole
MAX_MODULES = 100

_LIBRARIES = {"tensorflow", "keras", "tf_keras", "numpy", "math", "cmath", "functools", "operator", "itertools",
              "collections", "typing", "dataclasses", "enum", "fractions", "decimal", "string", "re", "scipy",
              "jax", "statistics", "numbers", "abc", "copy"}
# Name parts of calls that read or write files, reach the network, train, or change global state.
_DENIED = re.compile(
    r"(^|[._])(load\w*|read\w*|open|save\w*|dump\w*|fit\w*|predict\w*|evaluate|train\w*|download\w*|fetch\w*|"
    r"get_file|datasets|data|io|gfile|urlopen|request\w*|system|popen|spawn\w*|exec\w*|remove|unlink|rmtree|"
    r"mkdir|makedirs|write\w*|print|input|show|plot|set_\w+|compile|summary|applications|socket|connect|"
    r"subprocess|shutil|environ|getenv|run|call|sleep|seed|disable\w*|enable\w*|experimental_\w+)($|[._])")
# Calls inside a helper that make calling it at module level unsafe.
_ACTING = re.compile(r"(^|[._])(open|load\w*|read\w*|urlopen|socket|system|popen|fit|download\w*)($|[._(])")
_ACTING_MODULES = {"os", "subprocess", "socket", "shutil", "requests", "urllib", "http", "pathlib"}
_BUILTINS = {"int", "float", "str", "bool", "tuple", "list", "dict", "set", "frozenset", "range", "len", "abs",
             "min", "max", "sum", "round", "pow", "zip", "enumerate", "sorted", "reversed", "map", "filter", "any",
             "all", "divmod", "complex", "slice", "type", "isinstance", "issubclass", "object", "bytes", "chr",
             "ord", "repr", "format", "iter", "next", "property", "staticmethod", "classmethod", "super",
             "getattr", "hasattr", "callable"}


_RESERVED = set(getattr(sys, "stdlib_module_names", ())) | _LIBRARIES | {"tensorflow", "keras", "numpy", "loss_lsp",
                                                                   "google", "absl", "h5py", "ml_dtypes"}


class SliceError(Exception):
    """The loss cannot be sliced into something runnable (the message says why)."""


@dataclass(frozen=True)
class ModuleSlice:
    name: str  # dotted module name the worker imports it as
    path: str  # the user's file (tracebacks name it)
    code: str  # runnable text, original line numbers
    is_package: bool = False
    omitted: tuple[tuple[str, str], ...] = ()  # (name, why it is not in the slice)
    syntax_errors: tuple[int, ...] = ()  # 0-based first lines of blocks that do not parse (left out)

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "path": self.path, "code": self.code, "is_package": self.is_package}


@dataclass(frozen=True)
class LossSlice:
    main: str
    modules: tuple[ModuleSlice, ...]  # the loss's module first
    construct: str
    sys_path: tuple[str, ...]
    workspace: str

    def omitted(self, name: str) -> str | None:
        for module in self.modules:
            for omitted_name, reason in module.omitted:
                if omitted_name == name:
                    return reason
        return None

    def digest(self) -> str:
        h = hashlib.blake2b(digest_size=20)
        for part in (self.main, self.construct, *self.sys_path):
            h.update(part.encode("utf-8", "surrogatepass") + b"\0")
        for module in self.modules:
            for part in (module.name, module.path, module.code, str(module.is_package)):
                h.update(part.encode("utf-8", "surrogatepass") + b"\0")
        return h.hexdigest()


# --- one module's top-level statements --------------------------------------------------------------
@dataclass
class _Stmt:
    node: ast.stmt
    first: int  # 0-based first line (decorators included)
    last: int
    binds: set[str]
    uses: set[str]
    rejected: str = ""  # why it never runs ("" = it may)
    imports: list[tuple[str, str, str | None]] = field(default_factory=list)  # (bound name, module, attribute)
    block_text: str = ""
    block_start: int = 0


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store)} | \
        {name for n in ast.walk(node) if isinstance(n, (ast.Global, ast.Nonlocal)) for name in n.names}


def _bound(node: ast.stmt) -> set[str]:
    out: set[str] = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            if alias.name != "*":
                out.add(alias.asname or alias.name.split(".", 1)[0])
        return out
    targets: list[ast.AST] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    for target in targets:
        out |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            out |= _bound(child)
    if isinstance(node, (ast.If, ast.Try)):
        for child in ast.walk(node):
            if isinstance(child, ast.stmt) and child is not node:
                out |= _bound(child)
            if isinstance(child, ast.ExceptHandler) and child.name:
                out.add(child.name)
    return out


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test))


def _call_problem(call: ast.Call, module_names: dict[str, str], local_defs: dict[str, ast.stmt]) -> str:
    """Why a module-level call must not run ("" when it may)."""
    chain: list[str] = []
    func: ast.AST = call.func
    while isinstance(func, ast.Attribute):
        chain.append(func.attr)
        func = func.value
    if isinstance(func, ast.Call):
        inner = _call_problem(func, module_names, local_defs)
        if inner:
            return inner
        root = ""
    elif isinstance(func, ast.Name):
        root = func.id
    else:
        root = ""
    chain.reverse()
    spelled = ".".join([module_names.get(root, root), *chain]) if root else ".".join(chain)
    if spelled and _DENIED.search(spelled):
        return f"calls `{spelled}`"
    if not root:
        return ""  # a method of a value that is itself checked
    if root in module_names:
        library = module_names[root].split(".", 1)[0]
        if library not in _LIBRARIES:
            return f"calls into `{module_names[root]}`"
        return ""
    if root in local_defs:
        definition = local_defs[root]
        if isinstance(definition, ast.ClassDef):
            return ""
        if isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner_call in ast.walk(definition):
                if isinstance(inner_call, ast.Call) and inner_call is not call:
                    name = dotted(inner_call.func) or ""
                    if name and (_ACTING.search(name) or name.split(".", 1)[0] in _ACTING_MODULES):
                        return f"calls `{root}()`, which calls `{name}`"
            return ""
        return ""  # a value defined by another statement, checked on its own
    if root in _BUILTINS:
        return ""
    return f"calls `{root}`"


def _value_problem(value: ast.AST, module_names: dict[str, str], local_defs: dict[str, ast.stmt]) -> str:
    for node in ast.walk(value):
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return "is not a plain value"
        if isinstance(node, ast.Call):
            problem = _call_problem(node, module_names, local_defs)
            if problem:
                return problem
    return ""


def _statement_problem(node: ast.stmt, module_names: dict[str, str], local_defs: dict[str, ast.stmt]) -> str:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.Pass)):
        return ""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        for decorator in node.decorator_list:
            problem = _value_problem(decorator, module_names, local_defs)
            if problem:
                return f"its decorator {problem}"
        return ""
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        if node.value is None:
            return ""
        return _value_problem(node.value, module_names, local_defs)
    if _is_main_guard(node):
        return 'is under `if __name__ == "__main__":`'
    if isinstance(node, (ast.If, ast.Try)):
        # Optional imports and version switches: only definitions inside, nothing that acts.
        if isinstance(node, ast.If):
            problem = _value_problem(node.test, module_names, local_defs)
            if problem:
                return problem
        for child in ast.walk(node):
            if child is node or not isinstance(child, ast.stmt):
                continue
            if isinstance(child, (ast.Expr,)) and isinstance(child.value, ast.Constant):
                continue
            if isinstance(child, ast.Raise):
                continue
            if isinstance(child, (ast.If, ast.Try)):
                continue
            problem = _statement_problem(child, module_names, local_defs) if isinstance(
                child, (ast.Import, ast.ImportFrom, ast.Pass, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                        ast.Assign, ast.AnnAssign, ast.AugAssign)) else "runs statements"
            if problem:
                return problem
        return ""
    if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
        return "is set by a top-level loop"
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return "is set inside a top-level `with` block"
    return "is set by a top-level statement"


@dataclass
class _ParsedModule:
    name: str
    path: str
    is_package: bool
    lines: list[str]
    statements: list[_Stmt]
    binders: dict[str, list[_Stmt]]
    syntax_errors: tuple[int, ...] = ()

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


def _absolute(module: str | None, level: int, package: str) -> str:
    if not level:
        return module or ""
    parts = package.split(".") if package else []
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    return f"{base}.{module}" if module and base else (module or base)


def parse_module(name: str, path: str, source: str, is_package: bool) -> _ParsedModule:
    lines = split_lines(source.lstrip("\ufeff") if source.startswith("\ufeff") else source)
    statements: list[_Stmt] = []
    raw: list[tuple[ast.stmt, int, str]] = []
    broken: list[int] = []
    for block in split_blocks(lines):
        if block.tree is None:
            broken.append(block.start + block.error_line)
            continue
        for node in block.tree.body:
            raw.append((node, block.start, block.text))
    module_names: dict[str, str] = {}
    local_defs: dict[str, ast.stmt] = {}
    package = name if is_package else name.rpartition(".")[0]
    for node, _start, _text in raw:
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".", 1)[0]
                module_names[bound] = alias.name if alias.asname else bound
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            for alias in node.names:
                if alias.name != "*":
                    module_names[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            local_defs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for name in _bound(node):  # a method of a module-level value: the value is checked on its own
                local_defs.setdefault(name, node)
    for node, start, text in raw:
        first_rel = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        stmt = _Stmt(node=node, first=start + first_rel - 1, last=start + (node.end_lineno or node.lineno) - 1,
                     binds=_bound(node), uses=_names_used(node), block_text=text, block_start=start)
        if isinstance(node, ast.Expr) or isinstance(node, (ast.Delete, ast.Assert, ast.Raise, ast.Return)):
            continue  # prints, calls, model.fit(...): never part of a slice, bind nothing
        stmt.rejected = _statement_problem(node, module_names, local_defs)
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".", 1)[0]
                stmt.imports.append((bound, alias.name, None))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            for alias in node.names:
                stmt.imports.append((alias.asname or alias.name, base, alias.name))
        statements.append(stmt)
    binders: dict[str, list[_Stmt]] = {}
    for stmt in statements:
        for bound in stmt.binds:
            binders.setdefault(bound, []).append(stmt)
    _reject_dependents(statements, binders)
    return _ParsedModule(name, path, is_package, lines, statements, binders, tuple(broken))


def _reject_dependents(statements: list[_Stmt], binders: dict[str, list[_Stmt]]) -> None:
    """A value computed at import time from a value the slice leaves out is left out too."""
    changed = True
    while changed:
        changed = False
        for stmt in statements:
            if stmt.rejected or not isinstance(stmt.node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                continue
            for used in sorted(stmt.uses - stmt.binds):
                definitions = binders.get(used, [])
                if definitions and all(d.rejected for d in definitions):
                    source = definitions[-1]
                    stmt.rejected = f"uses `{used}` (line {source.first + 1}), which {source.rejected}"
                    changed = True
                    break


def _select(module: _ParsedModule, needs: set[str] | None) -> tuple[list[_Stmt], dict[str, set[str]], dict[str, str]]:
    """Statements to keep, the names needed from each kept import statement, and omissions."""
    kept: list[_Stmt] = []
    kept_ids: set[int] = set()
    import_names: dict[int, set[str]] = {}
    omitted: dict[str, str] = {}
    star_imports = [s for s in module.statements if isinstance(s.node, ast.ImportFrom)
                    and any(a.name == "*" for a in s.node.names)]
    for stmt in module.statements:  # `from __future__ import annotations` changes what the rest means
        if isinstance(stmt.node, ast.ImportFrom) and stmt.node.module == "__future__":
            kept.append(stmt)
            kept_ids.add(id(stmt))
            import_names[id(stmt)] = {a.asname or a.name for a in stmt.node.names}
    if needs is ALL:
        work = [name for name, stmts in module.binders.items() if any(not s.rejected for s in stmts)]
        for stmt in star_imports:
            kept.append(stmt)
            kept_ids.add(id(stmt))
    else:
        work = list(needs)
    seen: set[str] = set()
    while work:
        name = work.pop()
        if name in seen:
            continue
        seen.add(name)
        stmts = module.binders.get(name, [])
        runnable = [s for s in stmts if not s.rejected]
        if stmts and not runnable:
            stmt = stmts[-1]
            omitted[name] = f"`{name}` (line {stmt.first + 1}) {stmt.rejected}; the check does not run that"
            continue
        if not stmts and star_imports and needs is not ALL:
            for stmt in star_imports:
                if id(stmt) not in kept_ids:
                    kept.append(stmt)
                    kept_ids.add(id(stmt))
        for stmt in runnable:
            if isinstance(stmt.node, (ast.Import, ast.ImportFrom)):
                import_names.setdefault(id(stmt), set()).add(name)
            if id(stmt) not in kept_ids:
                kept.append(stmt)
                kept_ids.add(id(stmt))
                work.extend(stmt.uses - seen)
    kept.sort(key=lambda s: s.first)
    by_stmt = {id(s): import_names.get(id(s), set()) for s in kept}
    return kept, {str(k): v for k, v in by_stmt.items()}, omitted


def _import_text(stmt: _Stmt, names: set[str]) -> str | None:
    """The import statement reduced to the names the slice needs (None: keep it verbatim)."""
    node = stmt.node
    if not isinstance(node, (ast.Import, ast.ImportFrom)):
        return None
    aliases = [a for a in node.names if a.name == "*" or (a.asname or a.name.split(".", 1)[0]) in names]
    if len(aliases) == len(node.names):
        return None
    clone: ast.Import | ast.ImportFrom
    if isinstance(node, ast.Import):
        clone = ast.Import(names=aliases)
    else:
        clone = ast.ImportFrom(module=node.module, names=aliases, level=node.level)
    return ast.unparse(clone)


def _render(module: _ParsedModule, kept: list[_Stmt], import_names: dict[str, set[str]]) -> str:
    out = [""] * len(module.lines)
    owners: dict[int, int] = {}
    for stmt in module.statements:
        for line in range(stmt.first, stmt.last + 1):
            owners[line] = owners.get(line, 0) + 1
    shared_first: dict[int, list[str]] = {}
    for stmt in kept:
        reduced = _import_text(stmt, import_names.get(str(id(stmt)), set()))
        alone = all(owners.get(line, 0) == 1 for line in range(stmt.first, stmt.last + 1))
        if reduced is None and alone:
            out[stmt.first:stmt.last + 1] = module.lines[stmt.first:stmt.last + 1]
            continue
        text = reduced if reduced is not None else ast.unparse(stmt.node)
        if "\n" in text:  # a compound statement sharing a line: rare; keep its own lines
            out[stmt.first:stmt.last + 1] = module.lines[stmt.first:stmt.last + 1]
            continue
        shared_first.setdefault(stmt.first, []).append(text)
    for line, texts in shared_first.items():
        out[line] = "; ".join(texts)
    while out and not out[-1]:
        out.pop()  # lines added below the slice do not change it (nor its cache key)
    return "\n".join(out) + "\n"


# --- finding workspace modules ----------------------------------------------------------------------------
def module_name_for(path: Path) -> tuple[str, bool]:
    """Dotted name of a file, following the packages (folders with __init__.py) above it."""
    is_package = path.name == "__init__.py"
    parts = [] if is_package else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        if folder.parent == folder:
            break
        folder = folder.parent
    return ".".join(parts) or path.stem, is_package


def _top_folder(path: Path, name: str) -> Path:
    folder = path.parent
    for _ in range(name.count(".") + (1 if path.name == "__init__.py" else 0)):
        folder = folder.parent
    return folder


class _Resolver:
    def __init__(self, root: Path, search: list[Path]) -> None:
        self.root = root.resolve()
        self.search = []
        for folder in search:
            folder = folder.resolve()
            if folder not in self.search:
                self.search.append(folder)

    def find(self, dotted: str) -> tuple[Path, bool] | None:
        if not dotted:
            return None
        rel = Path(*dotted.split("."))
        for base in self.search:
            package = base / rel / "__init__.py"
            if package.is_file() and self._ours(package):
                return package, True
            module = (base / rel).with_suffix(".py")
            if module.is_file() and self._ours(module):
                return module, False
        return None

    def is_namespace(self, dotted: str) -> bool:
        rel = Path(*dotted.split("."))
        return any((base / rel).is_dir() and self._ours(base / rel) for base in self.search)

    def _ours(self, path: Path) -> bool:
        resolved = path.resolve()
        try:
            rel = resolved.relative_to(self.root)
        except ValueError:
            return False
        return not any(part in ("site-packages", "dist-packages") or part.startswith(".") for part in rel.parts)


def _lambda_construct(module: _ParsedModule, loss: LossInfo) -> str:
    for block in split_blocks(module.lines):
        if block.tree is None:
            continue
        for node in ast.walk(block.tree):
            if isinstance(node, ast.Lambda) and block.start + node.lineno - 1 == loss.span.start_line:
                segment = ast.get_source_segment(block.text, node)
                if segment:
                    return f"({segment})"
    return ""


def slice_loss(source: str, path: str, loss: LossInfo, root: str | Path,
               read_source: Callable[[str], str | None] | None = None, extra_roots: tuple[str, ...] = ()) -> LossSlice:
    """The runnable slice for one loss (raises SliceError with a one-line reason)."""
    file = Path(path).resolve()
    root_path = Path(root).resolve()
    main_name, main_is_package = module_name_for(file)
    if "." not in main_name and not main_is_package and main_name in _RESERVED:
        main_name = "__loss_lsp_main__"  # a script named like a library module (code.py, types.py)
    top = _top_folder(file, main_name)
    resolver = _Resolver(root_path, [top, root_path, file.parent])
    main = parse_module(main_name, str(file), source, main_is_package)
    construct = loss.construct
    if not construct and loss.kind == "lambda":
        construct = _lambda_construct(main, loss)
    if not construct:
        raise SliceError("cannot build this loss: no call site shows how it is constructed "
                         "(e.g. the arguments of its factory)")
    try:
        roots = _names_used(ast.parse(construct.strip(), mode="eval"))
    except SyntaxError as exc:
        raise SliceError(f"cannot build this loss from `{construct}`: {exc.msg}") from exc

    roots |= set(extra_roots)
    parsed: dict[str, _ParsedModule] = {main_name: main}
    needs: dict[str, set[str] | None] = {main_name: set(roots)}

    def read(target: Path) -> str | None:
        text = read_source(str(target)) if read_source is not None else None
        if text is None:
            try:
                text = target.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                return None
        return text

    def need(name: str, names: set[str] | None) -> None:
        if name not in needs:
            needs[name] = set() if names is not ALL else ALL
        if names is ALL:
            needs[name] = ALL
        elif needs[name] is not ALL:
            needs[name] |= names  # type: ignore[operator]

    def load(name: str) -> _ParsedModule | None:
        if name in parsed:
            return parsed[name]
        found = resolver.find(name)
        if found is None:
            return None
        target, is_package = found
        text = read(target)
        if text is None:
            return None
        parsed[name] = parse_module(name, str(target), text, is_package)
        return parsed[name]

    results: dict[str, tuple[list[_Stmt], dict[str, set[str]], dict[str, str]]] = {}
    snapshot: dict[str, object] = {}
    for _round in range(50):
        changed = False
        for name in list(needs):
            state = repr(sorted(needs[name])) if needs[name] is not ALL else "ALL"  # type: ignore[arg-type]
            if snapshot.get(name) == state:
                continue
            snapshot[name] = state
            changed = True
            module = load(name)
            if module is None:
                continue
            selection = _select(module, needs[name])
            results[name] = selection
            kept, import_names, _ = selection
            for stmt in kept:
                if not isinstance(stmt.node, (ast.Import, ast.ImportFrom)):
                    continue
                wanted = import_names.get(str(id(stmt)), set())
                star = isinstance(stmt.node, ast.ImportFrom) and any(a.name == "*" for a in stmt.node.names)
                if star:
                    base = _absolute(stmt.node.module, stmt.node.level, module.package)
                    if resolver.find(base):
                        need(base, ALL)
                    continue
                for bound, target, attribute in stmt.imports:
                    if bound not in wanted:
                        continue
                    if attribute is None:  # import a.b.c [as x]
                        if resolver.find(target):
                            need(target, ALL)
                        continue
                    sub = f"{target}.{attribute}" if target else attribute
                    if resolver.find(sub):
                        need(sub, ALL)
                        if resolver.find(target):
                            need(target, set())
                    elif resolver.find(target):
                        need(target, {attribute})
            if len(needs) > MAX_MODULES:
                raise SliceError(f"the loss pulls in more than {MAX_MODULES} workspace modules")
        # Every package above a sliced module must exist in the worker too.
        for name in list(needs):
            parts = name.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent not in needs and resolver.find(parent):
                    need(parent, set())
                    changed = True
        if not changed:
            break

    modules: list[ModuleSlice] = []
    for name in [main_name, *sorted(n for n in results if n != main_name)]:
        if name not in results:
            continue
        module = parsed[name]
        kept, import_names, omitted = results[name]
        modules.append(ModuleSlice(name, module.path, _render(module, kept, import_names), module.is_package,
                                   tuple(sorted(omitted.items())), module.syntax_errors))
    sys_path = tuple(dict.fromkeys(str(p) for p in (top, root_path, file.parent)))
    return LossSlice(main_name, tuple(modules), construct, sys_path, str(root_path))
