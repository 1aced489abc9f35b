"""LL405: a symbolic KerasTensor (layer.output, model.input, Input(...)) used inside a loss."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.engine.memo import on_node
from loss_lsp.engine.module import ModuleInfo
from loss_lsp.rules.rule import Rule

_SYMBOLIC_ATTRS = {"output", "input", "outputs", "inputs"}
_MODEL_BUILDERS = {"Model", "Sequential", "Functional", "load_model", "clone_model", "model_from_json",
                   "model_from_config"}
_TENSOR_BUILDERS = {"Input"}
_KERAS_BASES = {"Model", "Sequential", "Layer"}
_WORDS = (".output", ".input", "layers[", "get_layer", "Input", ")(")


def check(ctx: LossContext) -> Iterator[Finding]:
    text = ctx.loss.block.text
    tensor_names = _tensor_names(ctx.module)
    if not (any(word in text for word in _WORDS) or any(name in text for name in tensor_names)):
        return  # nothing symbolic can be named here: skip the walk
    enclosing_bound = _bound_names(ctx.loss.factory) if ctx.loss.factory is not None else set()
    enclosing_values = _assigned_values(ctx.loss.factory) if ctx.loss.factory is not None else {}
    # Layers or models handed to the loss as extra parameters (bound with partial or a factory):
    # a tensor has no `.output`, so on these names the attribute means a Keras object.
    handed_in = set(ctx.loss.params[2:])
    if ctx.loss.factory is not None:
        factory_args = ctx.loss.factory.args
        handed_in |= {a.arg for a in factory_args.posonlyargs + factory_args.args + factory_args.kwonlyargs}
    for scope in _scopes(ctx):
        bound = _bound_names(scope)
        for node in ast.walk(scope):
            if isinstance(node, ast.Attribute) and node.attr in _SYMBOLIC_ATTRS and isinstance(node.ctx, ast.Load):
                what = _keras_object(ctx, node.value, bound, enclosing_bound, enclosing_values)
                if what is None and _is_handed_in(node.value, handed_in, scope, ctx):
                    what = "layer or model passed to the loss"
                if what is not None and what != "tensor":
                    yield ctx.finding(RULE, node, _message(f"`{ctx.text(node)}`", "the symbolic "
                                                           f"{node.attr} of a {what}"))
            elif (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound
                  and (node.id in tensor_names or node.id in enclosing_values)):
                if _keras_object(ctx, node, bound, enclosing_bound, enclosing_values) == "tensor":
                    yield ctx.finding(RULE, node, _message(f"`{node.id}`", "a KerasTensor built with the model "
                                                           "(`Input(...)` or a layer's output)"))


def _tensor_names(module: ModuleInfo) -> set[str]:
    """Module-level names that may hold a KerasTensor (once per analysis, not once per loss)."""
    return on_node(module, "LL405 tensor names", lambda: {  # type: ignore[arg-type]
        name for name, (value, _) in module.assignments.items() if _maybe_keras_tensor(value)})


def _maybe_keras_tensor(value: ast.expr) -> bool:
    """Cheap syntactic test: ``Layer(...)(x)`` or ``...Input(...)`` (confirmed later by ``_built_by``)."""
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    return isinstance(func, ast.Call) or (func.attr if isinstance(func, ast.Attribute)
                                          else getattr(func, "id", "")) in _TENSOR_BUILDERS


def _is_handed_in(node: ast.expr, handed_in: set[str], scope: ast.AST, ctx: LossContext) -> bool:
    """A parameter of the loss (beyond y_true, y_pred) or of its factory, not reassigned in this scope."""
    if not isinstance(node, ast.Name) or node.id not in handed_in:
        return False
    reassigned = any(isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id == node.id
                     for n in ast.walk(scope))
    return not reassigned and (scope is ctx.loss.fn)


def _message(spelled: str, what: str) -> str:
    return (f"{spelled} is {what}: a placeholder of the model's graph, not this batch's values. Keras 3 "
            "fails with \"A KerasTensor cannot be used as input to a TensorFlow function\"; make it an extra "
            "model output (and give that output its own loss) or add the term with `add_loss` inside the model")


def _scopes(ctx: LossContext) -> list[ast.AST]:
    scopes: list[ast.AST] = [ctx.loss.fn]
    if ctx.loss.cls is not None:
        scopes += [n for n in ctx.loss.cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                   and n is not ctx.loss.fn]
    return scopes


def _bound_names(scope: ast.AST) -> set[str]:
    """Parameters and names assigned in this function: they are not the module's models."""
    out: set[str] = set()
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = scope.args
        out |= {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        out |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    for node in ast.walk(scope):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not scope:
            out.add(node.name)
    return out


def _assigned_values(scope: ast.AST) -> dict[str, ast.expr]:
    out: dict[str, ast.expr] = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value
    return out


def _keras_object(ctx: LossContext, node: ast.expr, bound: set[str], enclosing_bound: set[str],
                  enclosing_values: dict[str, ast.expr]) -> str | None:
    """"model", "layer" or "tensor" when ``node`` is known to be one, else None."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "layers":
        return "layer"  # model.layers[i]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get_layer":
        return "layer"
    if not isinstance(node, ast.Name) or node.id in bound:
        return None
    if node.id in enclosing_bound:
        value = enclosing_values.get(node.id)
        return _built_by(ctx, value, 0) if value is not None else None
    if node.id in ctx.module.assignments:
        return _built_by(ctx, ctx.module.assignments[node.id][0], 0)
    return None


def _built_by(ctx: LossContext, value: ast.expr, depth: int) -> str | None:
    """What a module-level (or factory-level) assignment builds."""
    if depth > 3 or not isinstance(value, ast.Call):
        return None
    func = value.func
    if isinstance(func, ast.Call):
        inner = _built_by(ctx, func, depth + 1)
        return "tensor" if inner in ("layer", "model") else None  # Dense(8)(inputs): a KerasTensor
    op = ctx.module.op(func)
    if op is not None:
        tail = op.name.rsplit(".", 1)[-1]
        if op.namespace == "layers" and tail[:1].isupper():
            return "tensor" if tail in _TENSOR_BUILDERS else "layer"
        if op.namespace == "keras":
            if tail in _TENSOR_BUILDERS:
                return "tensor"
            if tail in _MODEL_BUILDERS or op.name.startswith("applications."):
                return "model"
        return None
    if isinstance(func, ast.Name):
        if func.id in ctx.module.classes:
            return _local_class_kind(ctx, ctx.module.classes[func.id][0])
        if func.id in ctx.module.functions:
            return _returned_kind(ctx, ctx.module.functions[func.id][0], depth)
    return None


def _local_class_kind(ctx: LossContext, cls: ast.ClassDef) -> str | None:
    for base in cls.bases:
        op = ctx.module.op(base)
        tail = op.name.rsplit(".", 1)[-1] if op is not None else ""
        if op is not None and op.namespace in ("keras", "layers") and tail in _KERAS_BASES:
            return "layer" if tail == "Layer" else "model"
    return None


def _returned_kind(ctx: LossContext, fn: ast.FunctionDef | ast.AsyncFunctionDef, depth: int) -> str | None:
    """``def build_model(): ...; return keras.Model(...)``: calling it builds a model."""
    values = _assigned_values(fn)
    for node in ast.walk(fn):
        if isinstance(node, ast.Return) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Name) and value.id in values:
                value = values[value.id]
            kind = _built_by(ctx, value, depth + 1)
            if kind in ("model", "layer"):
                return kind
    return None


RULE = Rule(
    code="LL405",
    name="symbolic-tensor-in-loss",
    severity="error",
    summary="`layer.output`, `model.input`, `model.layers[i].output` or another KerasTensor used inside a loss",
    why=(
        "`layer.output`, `model.input` and the tensors built with `keras.Input(...)` are symbolic KerasTensors: "
        "they describe the model's graph and hold no values. A loss runs on concrete batches, so it cannot "
        "read them: Keras 3 stops with `ValueError: A KerasTensor cannot be used as input to a TensorFlow "
        "function` (measured on Keras 3.15). Intermediate activations a loss needs must come out of the "
        "model as an extra output, or the term must be added inside the model with `add_loss`."
    ),
    example=(
        "import keras\n"
        "import tensorflow as tf\n\n"
        "inputs = keras.Input(shape=(16,))\n"
        "hidden = keras.layers.Dense(8, activation=\"relu\")(inputs)\n"
        "model = keras.Model(inputs, keras.layers.Dense(1)(hidden))\n\n"
        "def sparse_mse(y_true, y_pred):\n"
        "    act = model.layers[1].output\n"
        "    return tf.reduce_mean(tf.square(y_true - y_pred)) + 0.01 * tf.reduce_mean(tf.abs(act))\n"
    ),
    fixed=(
        "import keras\n"
        "import tensorflow as tf\n\n"
        "class ActivityPenalty(keras.layers.Layer):\n"
        "    def call(self, x):\n"
        "        self.add_loss(0.01 * tf.reduce_mean(tf.abs(x)))\n"
        "        return x\n\n"
        "inputs = keras.Input(shape=(16,))\n"
        "hidden = ActivityPenalty()(keras.layers.Dense(8, activation=\"relu\")(inputs))\n"
        "model = keras.Model(inputs, keras.layers.Dense(1)(hidden))\n\n"
        "def sparse_mse(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.square(y_true - y_pred))\n"
    ),
    fix_title="Compute the value in the model (an extra output with its own loss, or `add_loss` in a layer)",
    check=check,
)
