"""Cross-module index: losses defined in one workspace file and compiled in another, helpers of
another module on the path to a sink, and Loss base classes defined elsewhere in the workspace.

Names resolve the way Python would import them (``engine/symbols.py``: the importer's folder, the
folder above its package, the workspace root; re-exports followed through the defining modules'
imports). For a compile site that lookup cannot place, jedi is asked. Library imports (TensorFlow,
Keras, NumPy, the standard library) are never looked up.
"""

from __future__ import annotations

import ast
import copy
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loss_lsp.engine.chunks import split_blocks, split_lines
from loss_lsp.engine.limits import MAX_CHARS
from loss_lsp.engine.discovery import FunctionNode, LossDef, _method, _returned_function, discover, loss_base_classes
from loss_lsp.engine.findings import CallPath, Related, Span
from loss_lsp.engine.memo import on_node
from loss_lsp.engine.module import ModuleInfo, build_module, dotted
from loss_lsp.engine.shapes import from_context
from loss_lsp.engine.sinks import find_units
from loss_lsp.engine.symbols import Definition, Symbols, is_library
from loss_lsp.engine.values import Val

if TYPE_CHECKING:
    from loss_lsp.engine.dataflow import Flow

# A file is indexed when it may compile a loss, hold a sink, or define a loss that calls helpers elsewhere.
_INDEXED_WORDS = ("compile", "gradient(", "jacobian(", "minimize(", "gradients(", "add_loss(", "compute_loss(",
                  "get_updates(", "y_pred", "Loss):", "LossFunctionWrapper(")  # "Loss):" a Loss subclass
_MAX_HELPER_HOPS = 8  # helpers of helpers followed from one sink
_JEDI_LOCK = threading.Lock()  # jedi is not thread-safe
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist", ".tox", ".mypy_cache"}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExternalUse:
    name: str  # what the defining module calls it: function, factory or class name
    site: Related  # the compile call in the importing file
    construct: str  # the compile expression, spelled in the defining module's namespace
    call_path: CallPath
    shapes: tuple[tuple[int, ...] | None, tuple[int, ...] | None, str | None]
    # A helper called on the path to a sink in the importing file (training code): what each argument
    # carries (position or keyword -> value), and what differentiates it there.
    arguments: tuple[tuple[int | str, Val], ...] = ()
    sink: str = ""


class Workspace:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self._overrides: dict[Path, str] = {}
        self._uses_in: dict[Path, list[tuple[Path, ExternalUse]]] = {}  # importing file -> uses
        self._loss_classes: dict[Path, tuple[str, frozenset[str]]] = {}  # file -> (its text, its Loss classes)
        self._lock = threading.RLock()
        self.symbols = Symbols(self.root, self._source)
        self._recent: tuple[Path, ModuleInfo] | None = None  # the last module analysed, by its file

    # --- keeping the index current --------------------------------------------------------
    def set_source(self, path: str | Path, source: str | None) -> set[Path]:
        """An open document's text (None: read it from disk again); returns the files whose uses from this
        one changed (their analysis may change)."""
        key = Path(path).resolve()
        with self._lock:
            if source is None:
                self._overrides.pop(key, None)
            else:
                self._overrides[key] = source
        return self.update(key)

    def remove(self, path: str | Path) -> None:
        with self._lock:
            self._uses_in.pop(Path(path).resolve(), None)

    def python_files(self) -> list[Path]:
        out = []
        for path in sorted(self.root.rglob("*.py")):
            if not any(part in _SKIP_DIRS or part.startswith(".") for part in path.relative_to(self.root).parts[:-1]):
                out.append(path)
        return out

    def index(self, paths: Iterable[Path] | None = None, progress: Callable[[int, int], None] | None = None,
              cancelled: Callable[[], bool] | None = None) -> int:
        files = list(paths) if paths is not None else self.python_files()
        for number, path in enumerate(files, 1):
            if cancelled is not None and cancelled():
                break
            self.update(path)
            if progress is not None:
                progress(number, len(files))
        return len(files)

    def update(self, path: str | Path) -> set[Path]:
        """Index one file again; returns the files whose uses from it changed."""
        key = Path(path).resolve()
        source = self._source(key)
        uses: list[tuple[Path, ExternalUse]] = []
        if source is not None and any(word in source for word in _INDEXED_WORDS):
            try:
                lines = split_lines(source)
                recent = self._recent
                if recent is not None and recent[0] == key and recent[1].lines == lines:
                    module = recent[1]
                else:
                    module = build_module(str(key), lines, split_blocks(lines))
                uses = [*self._external_uses(key, module, source), *self._wrapped_uses(key, module),
                        *self._helper_uses(key, module, source)]
            except Exception:  # an engine bug on one file: the others are still indexed
                log.exception("internal error indexing %s", key)
                uses = []
        with self._lock:
            before = self._uses_in.pop(key, [])
            if uses:
                self._uses_in[key] = uses
        return {target for target in {t for t, _ in before} | {t for t, _ in uses}
                if [u for t, u in before if t == target] != [u for t, u in uses if t == target]}

    def _source(self, path: Path) -> str | None:
        if path in self._overrides:
            text = self._overrides[path]
            return None if len(text) > MAX_CHARS or "\x00" in text else text  # same limits as files
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if b"\x00" in data or len(data) > MAX_CHARS:
            return None
        return data.decode("utf-8", errors="replace")

    # --- queries ---------------------------------------------------------------------------
    def uses_of(self, path: str | Path) -> list[ExternalUse]:
        key = Path(path).resolve()
        with self._lock:
            return [use for entries in self._uses_in.values() for target, use in entries if target == key]

    def imported_loss_bases(self, path: str | Path, module: ModuleInfo, depth: int = 0) -> frozenset[str]:
        """How ``module`` spells the classes it derives from that are defined in other workspace files and
        derive from a Keras Loss there (through their own imports too): ``from pkg.base import BaseLoss``,
        ``class X(base.BaseLoss)``, ``class X(pkg.base.BaseLoss)``."""
        if str(path).startswith("<") or depth > 3:
            return frozenset()
        importer = Path(path).resolve()
        found = set()
        for cls, _block in module.classes.values():
            for base in cls.bases:
                target = self._definition_of(importer, module, base)
                if (target is not None and target.kind == "class" and target.path != importer
                        and target.name in self._loss_classes_of(target.path, depth)):
                    found.add(module.resolve(base) or dotted(base) or "")  # as discovery.loss_base_classes spells it
        return frozenset(found)

    def _definition_of(self, importer: Path, module: ModuleInfo, node: ast.AST) -> Definition | None:
        """The workspace function or class a name or attribute chain of ``module`` refers to through its imports."""
        name = dotted(node)
        if not name:
            return None
        root, _, rest = name.partition(".")
        imported = module.imports.get(root)
        if imported is None or is_library(imported) or root in module.functions or root in module.classes:
            return None  # not imported, a library, or shadowed by the module's own definition
        return self.symbols.definition(importer, f"{imported}.{rest}" if rest else imported)

    def _loss_classes_of(self, path: Path, depth: int) -> frozenset[str]:
        source = self._source(path) or ""
        with self._lock:
            cached = self._loss_classes.get(path)
        if cached is not None and cached[0] == source:
            return cached[1]
        names: frozenset[str] = frozenset()
        if "class " in source:
            lines = split_lines(source)
            other = build_module(str(path), lines, split_blocks(lines))
            names = frozenset(loss_base_classes(other, self.imported_loss_bases(path, other, depth + 1)))
        with self._lock:
            self._loss_classes[path] = (source, names)
        return names

    def definitions_used_by(self, path: str | Path) -> set[Path]:
        with self._lock:
            return {target for target, _ in self._uses_in.get(Path(path).resolve(), [])}

    def attach_external_sites(self, path: str, module: ModuleInfo, losses: list[LossDef]) -> None:
        """Give the losses of ``module`` the compile sites found in other files (adds missing losses).

        The module is also kept as the index's view of that text: the server re-indexes a document right
        after analysing the same edit, and building the module again cost 10 % of that analysis."""
        if path.startswith("<"):
            return
        self._recent = (Path(path).resolve(), module)
        uses = self.uses_of(path)
        if not uses:
            return
        by_name: dict[str, LossDef] = {}
        for loss in losses:
            by_name.setdefault(loss.name, loss)
            if loss.factory is not None:
                by_name.setdefault(loss.factory.name, loss)
            if loss.cls is not None:
                by_name.setdefault(loss.cls.name, loss)
        for use in uses:
            if use.sink:
                self._adopt_helper(module, use, by_name, losses)
                continue
            loss = by_name.get(use.name) or self._adopt(module, use.name, losses)
            if loss is None:
                continue
            loss.external_sites.append(use.site)
            if loss.call_path == "unknown" or (loss.call_path == "direct" and use.call_path == "compile"):
                loss.call_path = use.call_path
            if not loss.compile_sites and loss.external_shapes is None:
                loss.external_shapes = use.shapes
            if use.construct and not loss.compile_sites:
                loss.construct = use.construct
            by_name[use.name] = loss

    @staticmethod
    def _adopt_helper(module: ModuleInfo, use: ExternalUse, by_name: dict[str, LossDef],
                      losses: list[LossDef]) -> None:
        """A function of this module called on the path to a sink in another file: analysed as a
        computation, its parameters seeded with what that call passes (whatever their names)."""
        if use.name not in module.functions or use.name in by_name and by_name[use.name].kind != "computation":
            return
        fn, block = module.functions[use.name]
        if _returns_tuples(fn):
            return  # which of the values the caller differentiates is not known here: say nothing
        loss = by_name.get(use.name)
        if loss is None:
            loss = LossDef(use.name, "computation", fn, block, call_path="direct")
            losses.append(loss)
            by_name[use.name] = loss
        for name, value in seeds_from_call(fn, use.arguments).items():
            loss.seeds[name] = loss.seeds[name].join(value) if name in loss.seeds else value
        loss.external_sites.append(use.site)
        if use.sink not in loss.sink_notes:
            loss.sink_notes = [*loss.sink_notes, use.sink]

    @staticmethod
    def _adopt(module: ModuleInfo, name: str, losses: list[LossDef]) -> LossDef | None:
        if name in module.functions:
            fn, block = module.functions[name]
            inner = _returned_function(fn)
            if inner is not None:
                loss = LossDef(f"{name}.<locals>.{getattr(inner, 'name', 'lambda')}", "closure", inner, block,
                               factory=fn)
            else:
                loss = LossDef(name, "function", fn, block, construct=name)
            losses.append(loss)
            return loss
        if name in module.classes and name in loss_base_classes(module):
            cls, block = module.classes[name]
            call = _method(cls, "call")
            if call is not None:
                loss = LossDef(f"{name}.call", "loss_class", call, block, cls=cls, call_path="loss_class")
                losses.append(loss)
                return loss
        return None

    # --- finding uses ----------------------------------------------------------------------
    def _external_uses(self, path: Path, module: ModuleInfo, source: str) -> Iterable[tuple[Path, ExternalUse]]:
        for site in module.compile_sites:
            expr = site.expr
            head = expr.func if isinstance(expr, ast.Call) else expr
            if isinstance(expr, ast.Call) and module.resolve(expr.func) == "functools.partial" and expr.args:
                head = expr.args[0]
            name = dotted(head)
            if not name or module.imports.get(name.split(".", 1)[0]) is None:
                continue
            definition = self._definition_of(path, module, head)
            if definition is not None:
                target, symbol = definition.path, definition.name
            else:  # what the hand-written lookup cannot follow (sys.path tricks, namespace packages): jedi
                imported = module.imports[name.split(".", 1)[0]]
                if is_library(imported):
                    continue
                symbol = name.rsplit(".", 1)[-1] if "." in name else imported.rsplit(".", 1)[-1]
                found = self._jedi_goto(path, source, site.block_start + head.lineno - 1,
                                        head.col_offset + len(name) - len(name.rsplit(".", 1)[-1]))
                if found is None:
                    continue
                target = found
            line = site.block_start + site.call.lineno - 1
            span = _line_span(module, line)
            shapes = from_context(module, line)
            construct = _respelled(expr, head, symbol)  # the defining module's name for it
            call_path: CallPath = "compile"
            yield target, ExternalUse(symbol, Related(str(path), span, f"compiled here as {ast.unparse(expr)}"),
                                      construct, call_path, (shapes.y_true, shapes.y_pred, shapes.y_true_dtype))

    def _wrapped_uses(self, path: Path, module: ModuleInfo) -> Iterable[tuple[Path, ExternalUse]]:
        """``LossFunctionWrapper(losses.focal, ...)`` of a function of another module: Keras calls it as compile
        does (ranks aligned first)."""
        for call, start in module.wrapped_losses:
            fn = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "fn"), None)
            target = self._definition_of(path, module, fn) if fn is not None else None
            if target is None or target.kind != "function" or target.path == path:
                continue
            site = Related(str(path), _line_span(module, start + call.lineno - 1), f"wrapped here as {ast.unparse(call)}")
            yield target.path, ExternalUse(target.name, site, target.name, "compile", (None, None, None))

    def _helper_uses(self, path: Path, module: ModuleInfo, source: str) -> Iterable[tuple[Path, ExternalUse]]:
        """Functions of other workspace modules called on the path to a sink of this file or inside one of its
        losses, and the workspace functions those call in turn (each analysed in its own module with what
        its caller passes)."""
        from loss_lsp.engine.dataflow import Flow  # the dataflow is only needed for files with sinks

        reaches = _workspace_reach(module)
        if not reaches(None, None):
            return  # nothing here is imported from a workspace module (most files): no Flow to build
        for unit in find_units(module):
            if not reaches(unit.fn, unit.cls) and not unit.extra_texts:
                continue
            targets = [s.target for s in unit.sinks if s.target is not None]
            try:
                flow = Flow(module, unit.fn, unit.seeds, unit.block.start, cls=unit.cls, enclosing=unit.enclosing,
                            outputs=targets if len(targets) == len(unit.sinks) else None, sources=True)
            except RecursionError:
                continue
            sink = "; ".join(dict.fromkeys(f"{s.description} of {path.name}" for s in unit.sinks))
            yield from self._calls_into_workspace(path, module, flow, sink, set())
        for loss in discover(module, self.imported_loss_bases(path, module)):
            if loss.kind == "computation" or len(loss.params) < 2 or not reaches(loss.fn, loss.cls):
                continue
            y_true, y_pred = loss.params[:2]  # what Keras passes a loss: the targets carry no gradient
            seeds = {y_true: Val(data=True, true=True, tensor=True), y_pred: Val(pred=True, data=True, tensor=True)}
            enclosing = [loss.factory] if loss.factory is not None else []
            try:
                flow = Flow(module, loss.fn, seeds, loss.block.start, cls=loss.cls, enclosing=enclosing, sources=True)
            except RecursionError:
                continue
            yield from self._calls_into_workspace(path, module, flow, f"part of the loss `{loss.name}` of {path.name}",
                                                  set())

    def _calls_into_workspace(self, path: Path, module: ModuleInfo, flow: Flow, sink: str,
                              seen: set[tuple[Path, str]]) -> Iterable[tuple[Path, ExternalUse]]:
        for part in flow.all_flows():
            for call in part.nodes(ast.Call):
                target = self._definition_of(path, module, call.func)  # type: ignore[attr-defined]
                if target is None or target.kind != "function" or target.path == path:
                    continue
                arguments = tuple([(i, _passed(part, a)) for i, a in enumerate(call.args)]  # type: ignore[attr-defined]
                                  + [(k.arg, _passed(part, k.value)) for k in call.keywords if k.arg])  # type: ignore[attr-defined]
                span = _line_span(module, part.block_start + call.lineno - 1)  # type: ignore[attr-defined]
                yield target.path, ExternalUse(target.name, Related(str(path), span, f"called here, {sink}"), "",
                                               "direct", (None, None, None), arguments, sink)
                if len(seen) < _MAX_HELPER_HOPS and (target.path, target.name) not in seen:
                    seen.add((target.path, target.name))
                    yield from self._through(target, arguments, sink, seen)

    def _through(self, target: Definition, arguments: tuple[tuple[int | str, Val], ...], sink: str,
                 seen: set[tuple[Path, str]]) -> Iterable[tuple[Path, ExternalUse]]:
        """The workspace helpers that a helper of another module calls with what it was given."""
        from loss_lsp.engine.dataflow import Flow

        source = self._source(target.path)
        if source is None:
            return
        lines = split_lines(source)
        other = build_module(str(target.path), lines, split_blocks(lines))
        if target.name not in other.functions:
            return
        fn, block = other.functions[target.name]
        try:
            flow = Flow(other, fn, seeds_from_call(fn, arguments), block.start, sources=True)
        except RecursionError:
            return
        yield from self._calls_into_workspace(target.path, other, flow, sink, seen)

    def _jedi_goto(self, importer: Path, source: str, line: int, col: int) -> Path | None:
        try:
            import jedi

            with _JEDI_LOCK:
                project = jedi.Project(self.root, added_sys_path=[str(importer.parent)], smart_sys_path=False)
                script = jedi.Script(source, path=str(importer), project=project)
                names = script.goto(line + 1, col, follow_imports=True)
        except Exception:  # jedi can fail on half-typed code; the name just stays unresolved
            return None
        for name in names:
            module_path = name.module_path
            if module_path is not None and Path(module_path).resolve().is_relative_to(self.root):
                return Path(module_path).resolve()
        return None


def _workspace_reach(module: ModuleInfo) -> Callable[[FunctionNode | None, ast.ClassDef | None], bool]:
    """Whether a function reads a name imported from outside the libraries, itself or through the functions of
    the module and the methods of its class it calls (None: whether the module imports any such name). A cheap
    test before a Flow: most losses and training steps call only TensorFlow."""
    imported = {local for local, target in module.imports.items() if not is_library(target)}
    memo: dict[int, bool] = {}

    def reaches(fn: FunctionNode | None, cls: ast.ClassDef | None = None) -> bool:
        if fn is None or not imported:
            return bool(imported)
        if id(fn) not in memo:
            memo[id(fn)] = False  # a cycle of functions calling each other adds nothing
            names, methods = _reads(fn)
            callees = [module.functions[name][0] for name in names if name in module.functions]
            if cls is not None:
                callees += [m for m in cls.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                            and m.name in methods]
            memo[id(fn)] = bool(names & imported) or any(reaches(callee, cls) for callee in callees)
        return memo[id(fn)]

    return reaches


def _reads(fn: FunctionNode) -> tuple[frozenset[str], frozenset[str]]:
    """The names a function reads and the ``self.<method>`` names it uses (kept with the parsed tree)."""
    def compute() -> tuple[frozenset[str], frozenset[str]]:
        names, methods = set(), set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                methods.add(node.attr)
        return frozenset(names), frozenset(methods)

    return on_node(fn, "workspace_reads", compute)


def _returns_tuples(fn: FunctionNode) -> bool:
    """``return distances, indices``: a helper whose values the caller unpacks (tensorflow-similarity's
    ``masked_max`` returns the max and its argmax; only the max is differentiated)."""
    return any(isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) for node in ast.walk(fn))


def _line_span(module: ModuleInfo, line: int) -> Span:
    """A whole line without its indentation (where a use in another module is pointed at)."""
    text = module.lines[line] if line < len(module.lines) else ""
    return Span(line, len(text) - len(text.lstrip()), line, len(text))


def _passed(flow: Flow, argument: ast.expr) -> Val:
    """What an argument carries into a helper: ``f((x, y))`` passes a tuple, which is no tensor (``args or ()``
    is plain Python on it), though it still carries what its elements carry."""
    value = flow.val(argument)
    if isinstance(argument, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
        return value.but(tensor=False, rank=None)
    return value


def seeds_from_call(fn: ast.FunctionDef | ast.AsyncFunctionDef,
                    arguments: tuple[tuple[int | str, Val], ...]) -> dict[str, Val]:
    """A function's parameters seeded with what one call passes (by position or keyword)."""
    params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    keywords = {a.arg for a in fn.args.kwonlyargs}
    seeds: dict[str, Val] = {}
    for key, value in arguments:
        name = params[key] if isinstance(key, int) and key < len(params) else key
        if isinstance(name, str) and (name in params or name in keywords):
            seeds[name] = seeds[name].join(value) if name in seeds else value
    return seeds


def _respelled(expr: ast.expr, head: ast.expr, name: str) -> str:
    """``expr`` with ``head`` (how the importing module names a function or class) spelled ``name``."""
    if head is expr:
        return name
    where = (head.lineno, head.col_offset, head.end_lineno, head.end_col_offset)

    class _Rename(ast.NodeTransformer):
        def visit(self, node: ast.AST) -> ast.AST:
            if isinstance(node, (ast.Name, ast.Attribute)) and (
                    node.lineno, node.col_offset, node.end_lineno, node.end_col_offset) == where:
                return ast.Name(name, ast.Load())
            return super().visit(node)

    return ast.unparse(_Rename().visit(copy.deepcopy(expr)))
