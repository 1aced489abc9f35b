"""What a module says at its top level: imports, definitions, constants, and the
training context (compile sites, the model's last layer, the arrays given to fit).

Each block's summary is cached with its text, so an edit inside one function does
not make the engine look at the others again.
"""

from __future__ import annotations

import ast
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from loss_lsp.engine.chunks import Block
from loss_lsp.engine.memo import on_node
from loss_lsp.engine.namespaces import Op, classify
from loss_lsp.engine.reexports import bindings, library_path


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


@dataclass(frozen=True)
class CompileSite:
    """One loss expression handed to ``compile(loss=...)`` (lists/dicts are flattened)."""

    expr: ast.expr
    call: ast.Call
    block_start: int
    enclosing: str  # name of the function the compile call is in ("" at top level)


@dataclass(frozen=True)
class LayerCall:
    kind: str  # "Dense", "Input", ...
    call: ast.Call
    block_start: int
    order: int


@dataclass(frozen=True)
class FitCall:
    call: ast.Call
    block_start: int


@dataclass
class BlockSummary:
    imports: dict[str, str] = field(default_factory=dict)  # local name -> dotted path
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    assignments: dict[str, ast.expr] = field(default_factory=dict)
    compile_calls: list[tuple[ast.Call, str]] = field(default_factory=list)
    layer_calls: list[ast.Call] = field(default_factory=list)
    fit_calls: list[ast.Call] = field(default_factory=list)
    name_calls: list[ast.Call] = field(default_factory=list)  # f(...) by plain name: helpers, direct loss calls
    wrapper_calls: list[ast.Call] = field(default_factory=list)  # LossFunctionWrapper(fn) / MeanMetricWrapper(fn)
    read_names: set[str] = field(default_factory=set)  # every name the block reads
    uses_keras_ops: bool = False


_WRAPPERS = {"LossFunctionWrapper", "MeanMetricWrapper"}
_ALIASED_LIBRARIES = {"tensorflow", "keras", "tf_keras", "numpy", "jax", "torch"}
_LAYER_NAMES = {"Dense", "Input", "InputLayer", "Conv1D", "Conv2D", "Activation", "Softmax"}


def _record_import(summary: BlockSummary, node: ast.Import | ast.ImportFrom) -> None:
    for name, target in bindings(node):
        if name != "*":  # a star import names nothing the table can hold
            summary.imports[name] = target


def _scan(summary: BlockSummary, tree: ast.AST) -> None:
    """Imports, compile/fit/layer calls and direct calls of a block.

    Iterative on purpose: a recursive visitor hits Python's recursion limit on deeply nested
    expressions, and half-typed code produces those.
    """
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, enclosing = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            enclosing = enclosing or node.name
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            _record_import(summary, node)
            if isinstance(node, ast.ImportFrom) and node.module and "keras" in node.module and (
                    node.module.endswith("ops") or any(alias.name == "ops" for alias in node.names)):
                summary.uses_keras_ops = True
        elif isinstance(node, ast.Attribute):
            if node.attr == "ops" and isinstance(node.value, ast.Name) and node.value.id == "keras":
                summary.uses_keras_ops = True
        elif isinstance(node, ast.Call):
            _scan_call(summary, node, enclosing)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            summary.read_names.add(node.id)
        stack.extend((child, enclosing) for child in reversed(list(ast.iter_child_nodes(node))))


def _scan_call(summary: BlockSummary, node: ast.Call, enclosing: str) -> None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name == "compile" and isinstance(func, ast.Attribute):
        summary.compile_calls.append((node, enclosing))
    elif name in ("fit", "train_on_batch"):
        summary.fit_calls.append(node)
    elif name in _LAYER_NAMES:
        summary.layer_calls.append(node)
    if isinstance(func, ast.Name):
        summary.name_calls.append(node)
    if name in _WRAPPERS:
        summary.wrapper_calls.append(node)


def summarize(tree: ast.Module) -> BlockSummary:
    summary = BlockSummary()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            summary.functions[node.name] = node
        elif isinstance(node, ast.ClassDef):
            summary.classes[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    summary.assignments[target.id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            summary.assignments[node.target.id] = node.value
    _scan(summary, tree)
    return summary


def summary_of(tree: ast.Module) -> BlockSummary:
    return on_node(tree, "summary", lambda: summarize(tree))


def module_text(module: ModuleInfo) -> str:
    """The module's text, joined once per analysis: one search of it spares a test per block or per loss."""
    return on_node(module, "text", lambda: "\n".join(module.lines))  # type: ignore[arg-type]


def called_names(tree: ast.Module) -> frozenset[str]:
    """Names a block calls (``name(...)``) or otherwise reads (``self.loss_fn = name``, ``minimize(name)``):
    the functions its analysis may depend on."""
    return on_node(tree, "called_names", lambda: frozenset(summary_of(tree).read_names))


@dataclass
class ModuleInfo:
    """The module as the rules see it: blocks plus the merged top-level facts."""

    path: str
    lines: list[str]
    blocks: list[Block]
    imports: dict[str, str] = field(default_factory=dict)
    functions: dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, Block]] = field(default_factory=dict)
    classes: dict[str, tuple[ast.ClassDef, Block]] = field(default_factory=dict)
    assignments: dict[str, tuple[ast.expr, Block]] = field(default_factory=dict)
    compile_sites: list[CompileSite] = field(default_factory=list)
    layers: list[LayerCall] = field(default_factory=list)
    fits: list[FitCall] = field(default_factory=list)
    name_calls: list[tuple[ast.Call, int]] = field(default_factory=list)  # (call, block start)
    metric_names: set[str] = field(default_factory=set)  # functions given to compile(metrics=...)
    wrapped_losses: list[tuple[ast.Call, int]] = field(default_factory=list)  # LossFunctionWrapper(fn, ...)
    uses_keras_ops: bool = False
    _timeline: tuple[list[int], list[LayerCall], list[int], list[FitCall]] | None = None
    _blocks_by_start: dict[int, Block] | None = None

    # --- the training script in line order (indexes built once, then bisected) -------------
    def _index(self) -> tuple[list[int], list[LayerCall], list[int], list[FitCall]]:
        if self._timeline is None:
            layers = sorted(self.layers, key=lambda layer: layer.block_start + layer.call.lineno)
            fits = sorted(self.fits, key=lambda fit: fit.block_start + fit.call.lineno)
            self._timeline = ([layer.block_start + layer.call.lineno - 1 for layer in layers], layers,
                              [fit.block_start + fit.call.lineno - 1 for fit in fits], fits)
        return self._timeline

    def last_layer_before(self, line: int, kinds: tuple[str, ...],
                          accept: Callable[[LayerCall], bool] | None = None) -> LayerCall | None:
        """The last layer call on or before ``line`` of one of these kinds (and accepted)."""
        lines, layers, _, _ = self._index()
        for index in range(bisect_right(lines, line) - 1, -1, -1):
            layer = layers[index]
            if layer.kind in kinds and (accept is None or accept(layer)):
                return layer
        return None

    def fits_after(self, line: int) -> Iterator[FitCall]:
        _, _, lines, fits = self._index()
        for index in range(bisect_left(lines, line), len(fits)):
            yield fits[index]

    def block_at(self, start: int) -> Block:
        if self._blocks_by_start is None:
            self._blocks_by_start = {block.start: block for block in self.blocks}
        return self._blocks_by_start[start]

    def resolve(self, node: ast.AST, local_imports: dict[str, str] | None = None) -> str | None:
        """The fully qualified path of a Name/Attribute chain, following imports."""
        name = dotted(node)
        if name is None:
            return None
        root, _, rest = name.partition(".")
        target = (local_imports or {}).get(root) or self.imports.get(root)
        if target is None:
            return None
        full = f"{target}.{rest}" if rest else target
        return library_path(full, self.path) or full  # through another module's re-export

    def op(self, node: ast.AST, local_imports: dict[str, str] | None = None) -> Op | None:
        path = self.resolve(node, local_imports)
        return classify(path) if path else None

    def alias_for(self, *paths: str) -> str | None:
        """The local name the file uses for one of these modules (for fix text)."""
        for local, target in self.imports.items():
            target = library_path(target, self.path) or target
            if target in paths or target.removesuffix(".compat.v2").removesuffix(".compat.v1") in paths:
                return local
        return None


def build_module(path: str, lines: list[str], blocks: list[Block]) -> ModuleInfo:
    info = ModuleInfo(path=path, lines=lines, blocks=blocks)
    order = 0
    for block in blocks:
        if block.tree is None:
            continue
        summary = summary_of(block.tree)
        info.imports.update(summary.imports)
        for name, fn in summary.functions.items():
            info.functions[name] = (fn, block)
        for name, cls in summary.classes.items():
            info.classes[name] = (cls, block)
        for name, value in summary.assignments.items():
            info.assignments[name] = (value, block)
            if isinstance(value, ast.Attribute) and name not in info.imports:
                path = info.resolve(value)  # `ops = keras.ops`, `K = keras.backend`: an import by another name
                if path is not None and path.split(".", 1)[0] in _ALIASED_LIBRARIES:
                    info.imports[name] = path
        info.uses_keras_ops |= summary.uses_keras_ops
        for call, enclosing in summary.compile_calls:
            for expr in _loss_expressions(call):
                info.compile_sites.append(CompileSite(expr, call, block.start, enclosing))
            for keyword in call.keywords:
                if keyword.arg in ("metrics", "weighted_metrics"):
                    info.metric_names.update(n.id for n in ast.walk(keyword.value) if isinstance(n, ast.Name))
        for call in summary.layer_calls:
            func = call.func
            kind = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            info.layers.append(LayerCall(kind, call, block.start, order))
            order += 1
        info.fits.extend(FitCall(call, block.start) for call in summary.fit_calls)
        info.name_calls.extend((call, block.start) for call in summary.name_calls)
        for call in summary.wrapper_calls:
            func = call.func
            if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) == "MeanMetricWrapper":
                wrapped = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "fn"), None)
                if isinstance(wrapped, ast.Name):
                    info.metric_names.add(wrapped.id)  # a metric: reported, never differentiated
            else:
                info.wrapped_losses.append((call, block.start))
    return info


def _loss_expressions(call: ast.Call) -> list[ast.expr]:
    value: ast.expr | None = None
    for keyword in call.keywords:
        if keyword.arg == "loss":
            value = keyword.value
    if value is None and len(call.args) >= 2:
        value = call.args[1]
    if value is None:
        return []
    if isinstance(value, (ast.List, ast.Tuple)):
        return list(value.elts)
    if isinstance(value, ast.Dict):
        return [v for v in value.values if v is not None]
    return [value]
