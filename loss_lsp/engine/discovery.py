"""Find the losses in a module, and how Keras will call each one.

A loss is what ``compile(loss=...)`` receives (names, factories, partials, lambdas,
``Loss`` instances), the ``call`` of a ``keras.losses.Loss`` subclass, or a function
whose first two parameters are ``y_true, y_pred``. Names are resolved with the
module's own table first; names imported from other workspace modules come from
the workspace index (see ``workspace.py``), which is where jedi is used.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from loss_lsp.engine.chunks import Block
from loss_lsp.engine.findings import CallPath, Related, Span
from loss_lsp.engine.memo import on_node
from loss_lsp.engine.module import CompileSite, ModuleInfo, dotted
from loss_lsp.engine.sinks import Sink, find_units
from loss_lsp.engine.values import Val

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
_LOSS_BASES = {"Loss", "LossFunctionWrapper"}


@dataclass
class LossDef:
    """One loss of the module, with everything the rules need to know about its call."""

    name: str
    kind: str  # "function", "closure", "lambda", "loss_class"
    fn: FunctionNode
    block: Block
    cls: ast.ClassDef | None = None
    factory: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    call_path: CallPath = "unknown"
    compile_sites: list[CompileSite] = field(default_factory=list)
    external_sites: list[Related] = field(default_factory=list)  # compile sites in other files
    external_shapes: tuple[tuple[int, ...] | None, tuple[int, ...] | None, str | None] | None = None
    construct: str = ""
    # compile(loss=f) with f needing more than (y_true, y_pred): the compile expression
    bare_compile_exprs: list[ast.expr] = field(default_factory=list)
    direct_calls: list[tuple[ast.Call, int]] = field(default_factory=list)  # (call, its block's start)
    # A computation found from its sinks (kind "computation"): what differentiates it and how to seed it.
    sinks: list[Sink] = field(default_factory=list)
    seeds: dict[str, Val] = field(default_factory=dict)
    enclosing: list[FunctionNode] = field(default_factory=list)
    extra_texts: tuple[str, ...] = ()  # module-level code: the blocks it is made of
    sink_notes: list[str] = field(default_factory=list)  # sinks in other files that reach this function

    @property
    def outputs(self) -> list[ast.expr] | None:
        """What the sinks differentiate (None: the function's return values)."""
        targets = [sink.target for sink in self.sinks if sink.target is not None]
        return targets if self.sinks and len(targets) == len(self.sinks) else None

    @property
    def sink_description(self) -> str:
        return "; ".join(dict.fromkeys([*(sink.description for sink in self.sinks), *self.sink_notes]))

    @property
    def params(self) -> list[str]:
        args = self.fn.args
        names = [a.arg for a in args.posonlyargs + args.args]
        return names[1:] if self.cls is not None and names[:1] == ["self"] else names

    @property
    def key(self) -> int:
        return id(self.fn)


def is_loss_signature(fn: FunctionNode) -> bool:
    names = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    if names[:1] == ["self"]:
        names = names[1:]
    return names[:2] == ["y_true", "y_pred"]


def loss_base_classes(module: ModuleInfo, imported: frozenset[str] = frozenset()) -> set[str]:
    """Local class names that derive (directly or not) from a Keras Loss; ``imported`` holds the dotted
    paths of workspace classes (in other modules) known to derive from one."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, (cls, _block) in module.classes.items():
            if name in found:
                continue
            for base in cls.bases:
                path = module.resolve(base) or dotted(base) or ""
                tail = path.rsplit(".", 1)[-1]
                keras_base = tail in _LOSS_BASES and ("losses" in path or "keras" in path)
                if keras_base or path in found or path in imported:
                    found.add(name)
                    changed = True
                    break
    return found


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def _callable_loss(cls: ast.ClassDef) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """``def __call__(self, y_true, y_pred)`` of a class that is not a Keras Loss. A class that also defines
    ``call`` is a loss framework (Keras's own ``Loss``): its ``__call__`` only dispatches."""
    method = _method(cls, "__call__")
    if method is None or not is_loss_signature(method) or cls.name in _LOSS_BASES or _method(cls, "call"):
        return None
    return method


def _returned_function(factory: ast.FunctionDef | ast.AsyncFunctionDef) -> FunctionNode | None:
    """The closure or lambda a factory returns (cached on the parsed tree, which the edits reuse)."""
    return on_node(factory, "returned_function", lambda: _find_returned_function(factory))


def _find_returned_function(factory: ast.FunctionDef | ast.AsyncFunctionDef) -> FunctionNode | None:
    """The closure or lambda a factory returns (``return loss`` / ``return lambda ...``)."""
    inner = {n.name: n for n in ast.walk(factory) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
             and n is not factory}
    for node in ast.walk(factory):
        if isinstance(node, ast.Return) and node.value is not None:
            if isinstance(node.value, ast.Name) and node.value.id in inner:
                return inner[node.value.id]
            if isinstance(node.value, ast.Lambda):
                return node.value
    return None


class _Builder:
    def __init__(self, module: ModuleInfo, imported_bases: frozenset[str] = frozenset()) -> None:
        self.module = module
        self.losses: dict[int, LossDef] = {}
        self.loss_classes = loss_base_classes(module, imported_bases)

    def add(self, fn: FunctionNode, block: Block, name: str, kind: str, **extra: object) -> LossDef:
        loss = self.losses.get(id(fn))
        if loss is None:
            loss = LossDef(name=name, kind=kind, fn=fn, block=block, **extra)  # type: ignore[arg-type]
            self.losses[id(fn)] = loss
        return loss

    # --- 2. Loss subclasses, 3. y_true/y_pred signatures ------------------------------------
    def scan_definitions(self) -> None:
        for cls_name in sorted(self.loss_classes):
            cls, block = self.module.classes[cls_name]
            call = _method(cls, "call")
            if call is not None:
                self.add(call, block, f"{cls_name}.call", "loss_class", cls=cls, call_path="loss_class",
                         construct=f"{cls_name}()")
        for cls_name, (cls, block) in self.module.classes.items():
            method = _callable_loss(cls) if cls_name not in self.loss_classes else None
            if method is not None:  # a plain class whose instances are called like a loss (ivis, TF1 code)
                self.add(method, block, f"{cls_name}.__call__", "loss_class", cls=cls, construct=f"{cls_name}()")
        numpy_only = _numpy_only(self.module)
        for fn_name, (fn, block) in self.module.functions.items():
            if is_loss_signature(fn) and not numpy_only:
                self.add(fn, block, fn_name, "function", construct=fn_name)
            for node in _nested_losses(fn):
                label = getattr(node, "name", f"<lambda>@{block.start + node.lineno}")
                self.add(node, block, f"{fn_name}.<locals>.{label}", "closure", factory=fn)

    # --- 1. compile(loss=...) ------------------------------------------------------------------
    def scan_compile_sites(self) -> None:
        for site in self.module.compile_sites:
            self.from_expression(site.expr, site, depth=0)

    def from_expression(self, expr: ast.expr, site: CompileSite, depth: int, block: Block | None = None) -> LossDef | None:
        """The loss an expression at a compile site stands for; ``block`` is where ``expr`` was parsed."""
        if depth > 4:
            return None
        module = self.module
        if block is None:
            block = module.block_at(site.block_start)
        if isinstance(expr, ast.Lambda):
            loss = self.add(expr, block, f"<lambda>@{block.start + expr.lineno}", "lambda")
            return self.attach(loss, site, "")
        if isinstance(expr, ast.Name):
            if expr.id in module.functions:
                fn, fn_block = module.functions[expr.id]
                loss = self.add(fn, fn_block, expr.id, "function", construct=expr.id)
                if _cannot_take_two(fn):
                    loss.bare_compile_exprs.append(expr)
                return self.attach(loss, site, expr.id)
            if expr.id in module.assignments:
                value, value_block = module.assignments[expr.id]
                return self.from_expression(value, site, depth + 1, value_block)
            return None
        if isinstance(expr, ast.Call):
            path = module.resolve(expr.func) or ""
            if path == "functools.partial" and expr.args:
                loss = self.from_expression(expr.args[0], site, depth + 1, block)
                if loss is not None:
                    loss.bare_compile_exprs = [e for e in loss.bare_compile_exprs if e is not expr.args[0]]
                    loss.construct = ast.unparse(expr)
                return loss
            name = dotted(expr.func)
            if name in module.classes and name not in self.loss_classes:
                cls, cls_block = module.classes[name]
                method = _callable_loss(cls)
                if method is None:
                    return None
                loss = self.add(method, cls_block, f"{name}.__call__", "loss_class", cls=cls)
                loss.construct = ast.unparse(expr)
                return self.attach(loss, site, ast.unparse(expr))
            if name in self.loss_classes:
                cls, cls_block = module.classes[name]
                call = _method(cls, "call")
                if call is None:
                    return None
                loss = self.add(call, cls_block, f"{name}.call", "loss_class", cls=cls, construct=f"{name}()")
                loss.construct = ast.unparse(expr)
                return self.attach(loss, site, ast.unparse(expr), call_path="loss_class")
            if name in module.functions:
                factory, f_block = module.functions[name]
                inner = _returned_function(factory)
                if inner is None:
                    return None
                label = getattr(inner, "name", f"<lambda>@{f_block.start + inner.lineno}")
                loss = self.add(inner, f_block, f"{name}.<locals>.{label}", "closure", factory=factory)
                return self.attach(loss, site, ast.unparse(expr))
        return None

    def attach(self, loss: LossDef, site: CompileSite, construct: str, call_path: CallPath = "compile") -> LossDef:
        loss.compile_sites.append(site)
        if loss.call_path != "loss_class":
            loss.call_path = call_path
        if construct and (not loss.construct or loss.kind == "closure"):
            loss.construct = construct
        return loss

    # --- LossFunctionWrapper(fn): Keras aligns the ranks before calling fn, as compile does --------
    def scan_wrapped_functions(self) -> None:
        wrapped = [(call, start) for call, start in self.module.wrapped_losses]
        for cls_name in self.loss_classes:  # class MyLoss(LossFunctionWrapper): super().__init__(fn, ...)
            cls, block = self.module.classes[cls_name]
            init = _method(cls, "__init__")
            if init is not None and _method(cls, "call") is None:
                wrapped += [(node, block.start) for node in ast.walk(init) if isinstance(node, ast.Call)
                            and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__"
                            and isinstance(node.func.value, ast.Call) and dotted(node.func.value.func) == "super"]
        for call, _start in wrapped:
            fn = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "fn"), None)
            if isinstance(fn, ast.Name) and fn.id in self.module.functions:
                node, block = self.module.functions[fn.id]
                loss = self.add(node, block, fn.id, "function", construct=fn.id)
                if loss.call_path in ("unknown", "direct"):
                    loss.call_path = "compile"

    # --- direct calls (custom training loops) ---------------------------------------------------
    def scan_direct_calls(self) -> None:
        by_name: dict[str, LossDef] = {}
        for loss in self.losses.values():
            if loss.kind == "function":
                by_name[loss.name] = loss
        if not by_name:
            return
        for node, block_start in self.module.name_calls:
            if node.func.id in by_name and len(node.args) >= 2:  # type: ignore[attr-defined]
                loss = by_name[node.func.id]  # type: ignore[attr-defined]
                loss.direct_calls.append((node, block_start))
                if loss.call_path == "unknown":
                    loss.call_path = "direct"


_TENSOR_LIBRARIES = ("tensorflow", "keras", "tf_keras", "torch", "jax")


def _numpy_only(module: ModuleInfo) -> bool:
    """Evaluation code: a module of NumPy and scikit-learn that imports no tensor library. Its
    ``(y_true, y_pred)`` functions are metrics on arrays (nothing differentiates them) unless compiled."""
    roots = {p.split(".", 1)[0] for p in module.imports.values()}
    return "numpy" in roots and "sklearn" in roots and not roots & set(_TENSOR_LIBRARIES)


def _nested_losses(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[FunctionNode]:
    """Inner functions/lambdas with a loss signature (kept with the parsed tree)."""
    return on_node(fn, "nested_losses", lambda: [
        node for node in ast.walk(fn) if node is not fn
        and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and is_loss_signature(node)])


def _cannot_take_two(fn: FunctionNode) -> bool:
    """``f(y_true, y_pred)`` raises TypeError: more required parameters (positional or keyword-only), or
    fewer than two positional ones (a factory passed uncalled: ``compile(loss=focal)``)."""
    args = fn.args
    if _required_count(fn) > 2 or any(d is None for d in args.kw_defaults):
        return True
    return len(args.posonlyargs + args.args) < 2 and args.vararg is None


def _required_count(fn: FunctionNode) -> int:
    args = fn.args
    positional = args.posonlyargs + args.args
    return len(positional) - len(args.defaults)


_EVALUATION_LIBRARIES = ("sklearn", "scipy")


def _named_in_metric_classes(module: ModuleInfo) -> set[str]:
    """Functions a ``Metric`` / ``MeanMetricWrapper`` subclass of the module names: what the metric
    computes (``super().__init__(hamming_loss_fn)``, a helper its ``update_state`` or ``result`` calls)."""
    names: set[str] = set()
    for cls, _block in module.classes.values():
        bases = [(dotted(base) or "").rsplit(".", 1)[-1] for base in cls.bases]
        if any(base.endswith(("Metric", "MetricWrapper")) for base in bases):
            names.update(n.id for n in ast.walk(cls) if isinstance(n, ast.Name) and n.id in module.functions)
    return names


def _numpy_function(module: ModuleInfo, fn: FunctionNode, name: str) -> bool:
    """A (y_true, y_pred) function its author declares an array function: named ``*_np``/``*_numpy``,
    parameters annotated ``np.ndarray``, or a scikit-learn/SciPy scoring module with no TensorFlow or Keras
    import. A NumPy-only module alone is not enough: that is how a first, broken loss is often written."""
    if name.endswith(("_np", "_numpy")):
        return True
    annotations = [a.annotation for a in fn.args.args if a.annotation is not None]
    if annotations and all((dotted(a) or "").endswith("ndarray") for a in annotations[:2]):
        return True
    roots = {path.split(".", 1)[0] for path in module.imports.values()}
    return not roots & set(_TENSOR_LIBRARIES) and bool(roots & set(_EVALUATION_LIBRARIES))


def discover(module: ModuleInfo, imported_bases: frozenset[str] = frozenset()) -> list[LossDef]:
    """The losses of a module; ``imported_bases``: Loss subclasses of other workspace modules it imports."""
    builder = _Builder(module, imported_bases)
    builder.scan_definitions()
    builder.scan_compile_sites()
    builder.scan_wrapped_functions()
    builder.scan_direct_calls()
    for unit in find_units(module):
        if id(unit.fn) not in builder.losses:
            builder.losses[id(unit.fn)] = LossDef(
                name=unit.name, kind="computation", fn=unit.fn, block=unit.block, cls=unit.cls, call_path="direct",
                sinks=unit.sinks, seeds=unit.seeds, enclosing=unit.enclosing, extra_texts=unit.extra_texts)
    metrics = module.metric_names | _named_in_metric_classes(module)
    for key, loss in list(builder.losses.items()):
        if loss.kind == "function" and loss.name in metrics and not loss.compile_sites:
            del builder.losses[key]  # a metric: it reports a value, nothing differentiates it
        elif loss.kind == "function" and not loss.compile_sites and _numpy_function(module, loss.fn, loss.name):
            del builder.losses[key]  # an evaluation function on arrays (a compile elsewhere adopts it again)
    return sorted(builder.losses.values(), key=lambda loss: (loss.block.start, loss.fn.lineno, loss.fn.col_offset))


def header_span(loss: LossDef, lines: list[str]) -> Span:
    """The span of ``def name`` / ``class Name`` / ``lambda`` that introduces a loss."""
    node: ast.AST = loss.cls if loss.cls is not None else loss.fn
    line = loss.block.start + node.lineno - 1  # type: ignore[attr-defined]
    text = lines[line] if line < len(lines) else ""
    start = len(text) - len(text.lstrip())
    if isinstance(node, ast.Lambda):
        col = char_col(text, node.col_offset)
        return Span(line, col, line, col + len("lambda"))
    name = getattr(node, "name", "")
    at = text.find(name, start)
    end = at + len(name) if at >= 0 else len(text)
    return Span(line, start, line, end)


def char_col(line: str, byte_col: int) -> int:
    """ast columns are UTF-8 byte offsets; findings use code points."""
    if line.isascii():
        return byte_col
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))
