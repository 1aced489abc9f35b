"""LL408: what a custom loss is meant to train is frozen (trainable=False) when the model is compiled.

Freezing part of a model before ``compile`` is ordinary transfer learning, so a freeze alone
is not reported. It is when the frozen object is what the loss acts on: the compiled model
itself (nothing trains), a layer whose weights the custom loss reads, or the model's output
layer (the layer that produces y_pred).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, replace

from loss_lsp.engine.context import ModuleContext
from loss_lsp.engine.discovery import LossDef
from loss_lsp.engine.findings import Edit, Finding, Fix, Related
from loss_lsp.engine.module import CompileSite
from loss_lsp.engine.memo import on_node
from loss_lsp.rules.rule import Rule

_WEIGHT_ATTRS = {"kernel", "bias", "weights", "trainable_weights", "trainable_variables", "variables",
                 "embeddings", "gamma", "beta", "get_weights"}


@dataclass
class _Toggle:
    """``x.trainable = False/True`` or ``Layer(..., trainable=False)``."""

    target: ast.expr | None  # what is frozen (None: an anonymous layer inside a list/call)
    flag: ast.Constant
    ctor: ast.Call | None
    line: int  # file line
    enclosing: str
    block_start: int


def check_module(ctx: ModuleContext) -> Iterator[Finding]:
    custom = _custom_compiles(ctx)
    if not custom:
        return
    toggles = _toggles(ctx)
    freezes = [t for t in toggles if t.flag.value is False]
    if not freezes:
        return
    for site, losses in custom:
        compile_line = site.block_start + site.call.lineno - 1
        model = site.call.func.value if isinstance(site.call.func, ast.Attribute) else None
        loss_names = ", ".join(f"`{loss.name}`" for loss in losses)
        for freeze in freezes:
            if freeze.enclosing != site.enclosing or freeze.line >= compile_line:
                continue
            if _unfrozen_between(toggles, freeze, compile_line):
                continue
            reason = _why_it_matters(ctx, freeze, model, losses)
            if reason is None:
                continue
            span = ctx.span(freeze.flag, freeze.block_start)
            fix = Fix("Make it trainable (before compile)", "unsafe", (Edit(span, "True"),))
            finding = ctx.finding(RULE, span, f"{reason}, and it is still frozen when the model is compiled with "
                                  f"the custom loss {loss_names}", fix, losses[0].name)
            site_span = ctx.span(site.call, site.block_start)
            yield replace(finding, related=(Related(ctx.file.path, site_span, "compiled here"),))


def _custom_compiles(ctx: ModuleContext) -> list[tuple[CompileSite, list[LossDef]]]:
    """Compile calls that receive at least one loss the module defines."""
    by_call: dict[int, tuple[CompileSite, list[LossDef]]] = {}
    for loss in ctx.losses:
        for site in loss.compile_sites:
            entry = by_call.setdefault(id(site.call), (site, []))
            if loss not in entry[1]:
                entry[1].append(loss)
    return list(by_call.values())


def _toggles(ctx: ModuleContext) -> list[_Toggle]:
    out: list[_Toggle] = []
    for block in ctx.module.blocks:
        if block.tree is not None and "trainable" in block.text:
            out += [replace(t, line=t.line + block.start, block_start=block.start) for t in _scan(block.tree)]
    return out




def _scan(tree: ast.Module) -> tuple[_Toggle, ...]:
    return on_node(tree, "LL408", lambda: _compute_scan(tree))


def _compute_scan(tree: ast.Module) -> tuple[_Toggle, ...]:
    """The block's trainable toggles, lines relative to the block (cached with the block's tree)."""
    out: list[_Toggle] = []
    for top in tree.body:
        enclosing = top.name if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)) else ""
        assigned: dict[int, ast.expr] = {}  # call id -> the single Name it is assigned to
        for node in ast.walk(top):
            if isinstance(node, ast.Assign):
                if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    assigned[id(node.value)] = node.targets[0]
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, bool):
                    out += [_Toggle(t.value, node.value, None, node.lineno - 1, enclosing, 0) for t in node.targets
                            if isinstance(t, ast.Attribute) and t.attr == "trainable"]
            elif isinstance(node, ast.Call):
                out += [_Toggle(None, kw.value, node, node.lineno - 1, enclosing, 0) for kw in node.keywords
                        if kw.arg == "trainable" and isinstance(kw.value, ast.Constant) and kw.value.value is False]
        # ast.walk visits an assignment before its value, so the names are known by now
        out = [replace(t, target=assigned.get(id(t.ctor))) if t.ctor is not None and t.target is None else t
               for t in out]
    result = tuple(out)
    return result


def _same(a: ast.AST | None, b: ast.AST | None) -> bool:
    return a is not None and b is not None and ast.dump(a) == ast.dump(b)


def _unfrozen_between(toggles: list[_Toggle], freeze: _Toggle, compile_line: int) -> bool:
    return any(t.flag.value is True and t.enclosing == freeze.enclosing and freeze.line < t.line < compile_line
               and _same(_load(t.target), _load(freeze.target)) for t in toggles)


def _load(node: ast.AST | None) -> ast.AST | None:
    """The same expression in Load context (``x = Dense(...)`` stores x; ``x.trainable`` loads it)."""
    if isinstance(node, ast.Name):
        return ast.Name(node.id, ast.Load())
    return node


def _why_it_matters(ctx: ModuleContext, freeze: _Toggle, model: ast.expr | None, losses: list[LossDef]) -> str | None:
    target = _load(freeze.target)
    if freeze.ctor is None and _same(target, model):
        spelled = ast.unparse(model) if model is not None else "model"
        return (f"`{spelled}.trainable = False` freezes the whole model: it has no trainable weights, "
                "so fit changes nothing (Keras only warns \"The model does not have any trainable weights\"; "
                "the loss stays flat)")
    if isinstance(target, ast.Name):
        for loss in losses:
            if _reads_weights(loss, target.id):
                return (f"the custom loss `{loss.name}` reads the weights of `{target.id}`, which is frozen "
                        "(`trainable=False`): fit never updates them, so the loss cannot train what it penalises")
    if model is not None and _is_output_layer(ctx, freeze, model):
        return ("the model's output layer (the one producing y_pred) is frozen: the loss never trains the "
                "layer it acts on directly")
    return None


def _reads_weights(loss: LossDef, name: str) -> bool:
    scopes: list[ast.AST] = [loss.fn]
    if loss.cls is not None:
        scopes = [loss.cls]
    if loss.factory is not None:
        scopes.append(loss.factory)
    for scope in scopes:
        for node in ast.walk(scope):
            if (isinstance(node, ast.Attribute) and node.attr in _WEIGHT_ATTRS and isinstance(node.value, ast.Name)
                    and node.value.id == name):
                return True
    return False


def _is_output_layer(ctx: ModuleContext, freeze: _Toggle, model: ast.expr) -> bool:
    target = freeze.target
    # model.layers[-1].trainable = False
    if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute) and target.value.attr == "layers"
            and _same(target.value.value, model) and isinstance(target.slice, ast.UnaryOp)
            and isinstance(target.slice.op, ast.USub) and isinstance(target.slice.operand, ast.Constant)
            and target.slice.operand.value == 1):
        return True
    if not isinstance(model, ast.Name):
        return False
    built = _assigned_value(ctx, model.id, freeze)
    if not isinstance(built, ast.Call):
        return False
    last = _output_of(ctx, built, freeze)
    if last is None:
        return False
    if freeze.ctor is not None and (last is freeze.ctor or (isinstance(last, ast.Call) and last.func is freeze.ctor)):
        return True
    layer = last.func if isinstance(last, ast.Call) and isinstance(last.func, ast.Name) else last
    return isinstance(layer, ast.Name) and isinstance(freeze.target, ast.Name) and layer.id == freeze.target.id


def _output_of(ctx: ModuleContext, built: ast.Call, freeze: _Toggle) -> ast.expr | None:
    """The last layer of ``Sequential([...])`` or the ``outputs`` of ``Model(inputs, outputs)``."""
    op = ctx.module.op(built.func)
    tail = op.name.rsplit(".", 1)[-1] if op is not None else ""
    if tail == "Sequential":
        layers = built.args[0] if built.args else next((k.value for k in built.keywords if k.arg == "layers"), None)
        return layers.elts[-1] if isinstance(layers, (ast.List, ast.Tuple)) and layers.elts else None
    if tail in ("Model", "Functional"):
        outputs = built.args[1] if len(built.args) > 1 else next(
            (k.value for k in built.keywords if k.arg == "outputs"), None)
        if isinstance(outputs, ast.Name):
            outputs = _assigned_value(ctx, outputs.id, freeze)
        return outputs
    return None


def _assigned_value(ctx: ModuleContext, name: str, freeze: _Toggle) -> ast.expr | None:
    """The value last assigned to ``name`` in the freeze's scope (a function or the module)."""
    if freeze.enclosing and freeze.enclosing in ctx.module.functions:
        fn = ctx.module.functions[freeze.enclosing][0]
        found = None
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                found = node.value
        return found
    entry = ctx.module.assignments.get(name)
    return entry[0] if entry else None


RULE = Rule(
    code="LL408",
    name="frozen-target-layer",
    severity="warning",
    summary="What a custom loss should train is `trainable=False` when the model is compiled",
    why=(
        "Keras takes the list of trainable weights when the model is compiled and trained. A model frozen "
        "with `model.trainable = False` has none: fit runs, the loss stays flat, and Keras only emits a "
        "warning (measured on Keras 3.15: \"The model does not have any trainable weights\", weights "
        "unchanged). The same goes, more quietly, for a frozen output layer or for a layer whose weights "
        "the custom loss reads (a penalty on `layer.kernel` cannot move a frozen kernel). Freezing a "
        "pretrained backbone under a trainable head is normal and is not reported."
    ),
    example=(
        "import keras\n"
        "import tensorflow as tf\n\n"
        "head = keras.layers.Dense(1)\n"
        "model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), head])\n\n"
        "def sparse_head_mse(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.square(y_true - y_pred)) + 1e-3 * tf.reduce_sum(tf.abs(head.kernel))\n\n"
        "head.trainable = False\n"
        "model.compile(optimizer=\"adam\", loss=sparse_head_mse)\n"
    ),
    fixed=(
        "import keras\n"
        "import tensorflow as tf\n\n"
        "head = keras.layers.Dense(1)\n"
        "model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), head])\n\n"
        "def sparse_head_mse(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.square(y_true - y_pred)) + 1e-3 * tf.reduce_sum(tf.abs(head.kernel))\n\n"
        "head.trainable = True\n"
        "model.compile(optimizer=\"adam\", loss=sparse_head_mse)\n"
    ),
    fix_title="Make the layer (or model) trainable before `compile`",
    check_module=check_module,
    scope="module",
)
