"""Differentiated computations, found from where training differentiates them.

A sink is a call that differentiates a value: ``tape.gradient(target, ...)`` / ``tape.jacobian``,
``optimizer.minimize(loss, ...)`` (TF2 and tf.compat.v1), ``tf.gradients(ys, ...)``,
``add_loss(value)``, and what a ``compute_loss`` override returns. The unit analysed is the
innermost function that holds the sink (a function, a ``@tf.function`` step, a method), or for
statements at module level (TF1 graph code, scripts, notebooks) the module's top-level statements
lifted into one synthetic function. The dataflow then runs in "sources" mode: model and layer calls,
variables and watched tensors carry the gradient; parameters are data.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from loss_lsp.engine.chunks import PARSE_CACHE, Block
from loss_lsp.engine.memo import on_node
from loss_lsp.engine.module import ModuleInfo, dotted, module_text
from loss_lsp.engine.sources import SOURCE
from loss_lsp.engine.values import Val

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_DATA = Val(data=True, true=True)  # a parameter may hold labels, or a Python flag: no tensor claimed
_NOT_INPUTS = {"self", "cls", "training", "mask", "sample_weight", "return_losses"}
_GRADIENT_METHODS = {"gradient": "tape.gradient", "jacobian": "tape.jacobian", "batch_jacobian": "tape.jacobian"}
_OPTIMIZER_METHODS = ("minimize", "compute_gradients", "get_updates")  # TF2/TF1 optimizers, old Keras
_SINK_TEXT = ("gradient", "jacobian", "minimize", "add_loss", "compute_loss", "get_updates")
_NON_TF_OPTIMIZERS = ("scipy.", "torch.", "jax.", "optax.")


@dataclass(frozen=True)
class Sink:
    kind: str  # "tape.gradient", "minimize", "compute_gradients", "tf.gradients", "add_loss", "compute_loss"...
    line: int  # 0-based line in the file
    target: ast.expr | None  # what is differentiated (None: the function's return values)

    @property
    def description(self) -> str:
        return f"differentiated by `{self.kind}` at line {self.line + 1}"


@dataclass
class Unit:
    """One differentiated computation: the function holding its sinks, and how to seed it."""

    name: str
    fn: FunctionNode
    block: Block
    cls: ast.ClassDef | None
    enclosing: list[FunctionNode]
    sinks: list[Sink]
    seeds: dict[str, Val]
    extra_texts: tuple[str, ...] = ()  # other blocks the unit is made of (module-level code)


# --- finding sink calls ---------------------------------------------------------------------------
def _tape_names(fn_body: list[ast.stmt]) -> set[str]:
    names = set()
    for node in ast.walk(ast.Module(body=fn_body, type_ignores=[])):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                ctx = item.context_expr
                func = ctx.func if isinstance(ctx, ast.Call) else ctx
                if (dotted(func) or "").endswith("GradientTape") and isinstance(item.optional_vars, ast.Name):
                    names.add(item.optional_vars.id)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if (dotted(node.value.func) or "").endswith("GradientTape"):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _arg(call: ast.Call, *keywords: str) -> ast.expr | None:
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    return next((kw.value for kw in call.keywords if kw.arg in keywords), None)


def sink_of(module: ModuleInfo, call: ast.Call, tapes: set[str], block_start: int) -> Sink | None:
    """The sink this call is, if it differentiates something."""
    func = call.func
    line = block_start + call.lineno - 1
    if isinstance(func, ast.Attribute):
        receiver = func.value
        if func.attr in _GRADIENT_METHODS and isinstance(receiver, ast.Name) and (
                receiver.id in tapes or "tape" in receiver.id.lower()):
            return Sink(_GRADIENT_METHODS[func.attr], line, _arg(call, "target"))
        if func.attr in _OPTIMIZER_METHODS:
            path = module.resolve(receiver) or ""
            if not path.startswith(_NON_TF_OPTIMIZERS) and _arg(call, "loss") is not None:
                return Sink(func.attr, line, _arg(call, "loss"))
        if func.attr == "add_loss" and _arg(call, "loss", "losses") is not None:
            return Sink("add_loss", line, _arg(call, "loss", "losses"))
    path = module.resolve(func) or ""
    if (path in ("tensorflow.gradients", "tensorflow.compat.v1.gradients") or path.endswith("backend.gradients")) \
            and _arg(call, "ys", "loss") is not None:
        return Sink("tf.gradients", line, _arg(call, "ys", "loss"))
    return None


def _sink_calls(tree: ast.AST) -> list[tuple[ast.Call, tuple[ast.AST, ...]]]:
    """Calls that may be sinks, each with its enclosing class/function nodes (outermost first)."""
    found: list[tuple[ast.Call, tuple[ast.AST, ...]]] = []
    stack: list[tuple[ast.AST, tuple[ast.AST, ...]]] = [(tree, ())]
    while stack:
        node, scopes = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scopes = (*scopes, node)
        elif isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Attribute)
                 and node.func.attr in (*_GRADIENT_METHODS, *_OPTIMIZER_METHODS, "add_loss"))
                or (dotted(node.func) or "").endswith("gradients")):
            found.append((node, scopes))
        stack.extend((child, scopes) for child in ast.iter_child_nodes(node))
    return found


def _compute_loss_methods(tree: ast.Module) -> list[tuple[ast.ClassDef, FunctionNode]]:
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]  # Keras models: top-level classes
    return [(cls, item) for cls in classes for item in cls.body
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == "compute_loss"]


# --- units ------------------------------------------------------------------------------------------
def _params(fn: FunctionNode) -> list[str]:
    args = fn.args
    return [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg not in _NOT_INPUTS]


def _seeds(fn: FunctionNode, cls: ast.ClassDef | None, sinks: list[Sink]) -> dict[str, Val]:
    """Parameters are data; ``y_pred`` of compute_loss and the inputs of a layer's ``call`` that
    adds a loss come out of the model, so they carry the gradient."""
    layer_inputs = (cls is not None and fn.name == "call" and any(s.kind == "add_loss" for s in sinks)
                    and _is_layer(cls))
    seeds = {}
    for name in _params(fn):
        seeds[name] = SOURCE if layer_inputs or name == "y_pred" else _DATA
    return seeds


def _is_layer(cls: ast.ClassDef) -> bool:
    """A layer (its inputs come out of earlier layers), not a model (its inputs are the data)."""
    bases = [(dotted(base) or "").rsplit(".", 1)[-1] for base in cls.bases]
    return any(base.endswith("Layer") for base in bases) and not any("Model" in base for base in bases)


def _qualified(scopes: tuple[ast.AST, ...]) -> str:
    parts = []
    for index, scope in enumerate(scopes):
        name = getattr(scope, "name", "?")
        if index and isinstance(scopes[index - 1], (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts.append("<locals>")
        parts.append(name)
    return ".".join(parts)


def _callable_target(module: ModuleInfo, target: ast.expr | None,
                     scopes: tuple[ast.AST, ...]) -> FunctionNode | None:
    """``optimizer.minimize(loss_fn, ...)`` with ``loss_fn`` a function: the function is the computation."""
    if not isinstance(target, ast.Name):
        return None
    for scope in reversed(scopes):
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(scope):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == target.id \
                        and node is not scope:
                    return node
    if target.id in module.functions:
        fn = module.functions[target.id][0]
        if len(fn.args.args) - len(fn.args.defaults) == 0:
            return fn
    return None


def find_units(module: ModuleInfo) -> list[Unit]:
    units: dict[int, Unit] = {}
    module_sinks = False
    text = module_text(module)
    if not any(word in text for word in _SINK_TEXT):
        return []  # most scripts that only compile losses: one search of the text instead of one per block
    for block in module.blocks:
        if block.tree is None or not on_node(
                block.tree, "sink_text", lambda text=block.text: any(word in text for word in _SINK_TEXT)):
            continue  # most blocks differentiate nothing: a text search spares walking their trees
        for call, scopes in on_node(block.tree, "sink_calls", lambda tree=block.tree: _sink_calls(tree)):
            functions = [s for s in scopes if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
            if not functions:
                module_sinks = module_sinks or not scopes  # class bodies hold no training code
                continue
            fn = functions[-1]
            sink = sink_of(module, call, on_node(fn, "tapes", lambda fn=fn: _tape_names(fn.body)), block.start)
            if sink is None:
                continue
            inner = _callable_target(module, sink.target, scopes)
            assigned = _assigning_method(scopes, fn, sink.target)
            instance = _instance_attribute(module, sink.target, fn)
            if instance is not None:  # model = Net(); minimize(model.cost): the method of Net assigning self.cost
                _add_method_unit(units, instance, sink)
                continue
            if inner is not None:  # differentiates a function's result: analyse that function
                sink = Sink(sink.kind, sink.line, None)
                owner, outer = inner, [f for f in functions if f is not inner]
            elif assigned is not None:  # minimize(self.loss) in train(), self.loss = ... in build()
                owner, value = assigned
                sink = Sink(sink.kind, sink.line, value)
                outer = functions[:-1]
            else:
                owner, outer = fn, functions[:-1]
            cls = _class_of(scopes, fn)
            unit_block = block
            if owner is not fn and module.functions.get(owner.name, (None, None))[0] is owner:
                cls, unit_block = None, module.functions[owner.name][1]  # a module function handed to minimize
            unit = units.get(id(owner))
            if unit is None:
                name = _qualified(scopes[:scopes.index(fn) + 1])
                if owner is not fn and cls is not None and owner in cls.body:  # the method assigning self.loss
                    name = f"{cls.name}.{owner.name}"
                elif owner is not fn:  # a function handed to minimize: nested in the caller, or the module's
                    name = f"{name}.<locals>.{owner.name}" if outer else owner.name
                unit = units[id(owner)] = Unit(name, owner, unit_block, cls, outer[::-1], [], {})
            unit.sinks.append(sink)
        for cls, method in on_node(block.tree, "compute_loss", lambda tree=block.tree: _compute_loss_methods(tree)):
            line = block.start + method.lineno - 1
            units.setdefault(id(method), Unit(f"{cls.name}.compute_loss", method, block, cls, [],
                                              [Sink("compute_loss", line, None)], {}))
    if module_sinks:
        unit = _module_unit(module)
        if unit is not None:
            remaining = []
            for sink in unit.sinks:
                instance = _instance_attribute(module, sink.target, None)
                if instance is not None:
                    _add_method_unit(units, instance, sink)
                else:
                    remaining.append(sink)
            if remaining:
                units[id(unit.fn)] = Unit(unit.name, unit.fn, unit.block, None, [], remaining, {}, unit.extra_texts)
    out = list(units.values())
    for unit in out:
        unit.seeds = _seeds(unit.fn, unit.cls, unit.sinks)
    return out


def _assigning_method(scopes: tuple[ast.AST, ...], fn: FunctionNode,
                      target: ast.expr | None) -> tuple[FunctionNode, ast.expr] | None:
    """``self.x`` differentiated in one method and assigned in another: that method and the value."""
    cls = _class_of(scopes, fn)
    if cls is None or not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                           and target.value.id == "self"):
        return None
    if _assignment(fn, target.attr) is not None:
        return None
    for method in cls.body:
        if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and method is not fn:
            value = _assignment(method, target.attr)
            if value is not None:
                return method, value
    return None


def _instance_attribute(module: ModuleInfo, target: ast.expr | None, fn: FunctionNode | None,
                        ) -> tuple[ast.ClassDef, Block, FunctionNode, ast.expr] | None:
    """``net = Net(...)`` then ``minimize(net.cost)``: Net's method that assigns ``self.cost``, and the value."""
    if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)) or target.value.id == "self":
        return None
    name = target.value.id
    value: ast.expr | None = None
    if fn is not None:
        value = next((node.value for node in ast.walk(fn) if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets)), None)
    if value is None and name in module.assignments:
        value = module.assignments[name][0]
    class_name = (dotted(value.func) or "").rsplit(".", 1)[-1] if isinstance(value, ast.Call) else ""
    if class_name not in module.classes:
        return None
    cls, block = module.classes[class_name]
    for method in cls.body:
        if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assigned = _assignment(method, target.attr)
            if assigned is not None:
                return cls, block, method, assigned
    return None


def _add_method_unit(units: dict[int, Unit], instance: tuple[ast.ClassDef, Block, FunctionNode, ast.expr],
                     sink: Sink) -> None:
    cls, block, method, value = instance
    unit = units.get(id(method))
    if unit is None:
        unit = units[id(method)] = Unit(f"{cls.name}.{method.name}", method, block, cls, [], [], {})
    unit.sinks.append(Sink(sink.kind, sink.line, value))


def _assignment(fn: FunctionNode, attr: str) -> ast.expr | None:
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == attr and isinstance(t.value, ast.Name)
                and t.value.id == "self" for t in node.targets):
            return node.value
    return None


def _class_of(scopes: tuple[ast.AST, ...], fn: FunctionNode) -> ast.ClassDef | None:
    if fn in scopes:
        index = scopes.index(fn)
        if index and isinstance(scopes[index - 1], ast.ClassDef):
            return scopes[index - 1]  # type: ignore[return-value]
    return None


# --- module-level code as one synthetic function ---------------------------------------------------
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _module_unit(module: ModuleInfo) -> Unit | None:
    """The module's top-level statements, in order, as the body of a function ``<module>``.

    They are parsed again as one text that keeps every statement on its own lines (definitions and
    unparsable blocks become blank lines), so line numbers are the file's and the unit's block starts
    at line 0. The text is cached like any block, so an edit inside a function reuses the lifted code.
    """
    lines = [""] * len(module.lines)
    texts = []
    for block in module.blocks:
        if block.tree is None:
            continue
        statements = [s for s in block.tree.body if not isinstance(s, _DEFINITIONS)]
        if not statements:
            continue
        texts.append(block.text)
        block_lines = block.text.split("\n")
        for stmt in statements:
            for index in range(stmt.lineno - 1, stmt.end_lineno or stmt.lineno):
                lines[block.start + index] = block_lines[index]
    if not texts:
        return None
    tree, _error, _line = PARSE_CACHE.parse("\n".join(lines))
    if tree is None:
        return None
    return on_node(tree, "module_unit", lambda: _lift(module, tree, tuple(texts)))


def _lift(module: ModuleInfo, tree: ast.Module, texts: tuple[str, ...]) -> Unit | None:
    body = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
    if not body:
        return None
    fn = ast.FunctionDef(name="<module>", args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                                                             defaults=[]),
                         body=body, decorator_list=[], returns=None, type_params=[],
                         lineno=body[0].lineno, col_offset=0, end_lineno=body[-1].end_lineno, end_col_offset=0)
    tapes = _tape_names(body)
    sinks = []
    for node, _scopes in _sink_calls(fn):
        sink = sink_of(module, node, tapes, 0)
        if sink is not None:
            sinks.append(sink)
    sinks.sort(key=lambda sink: sink.line)
    if not sinks:
        return None
    fn.lineno = sinks[0].line + 1  # the unit is introduced by its first sink (hover, gradient check)
    return Unit("<module>", fn, Block(0, "\n".join(texts), None), None, [], sinks, {}, texts)

