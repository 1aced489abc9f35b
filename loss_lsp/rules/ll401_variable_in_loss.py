"""LL401: a variable created by a loss (tf.Variable, keras.Variable, add_weight): fit never trains it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import replace

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.rules.rule import Rule

_CONSTRUCTORS = {"Variable", "KerasVariable", "get_variable"}
_WEIGHT_METHODS = {"add_weight", "add_variable"}
_CLASS_METHODS = ("__init__", "build", "call")
_WORDS = ("Variable", "add_weight", "add_variable", "get_variable")


def check(ctx: LossContext) -> Iterator[Finding]:
    if not any(word in ctx.loss.block.text for word in _WORDS):
        return  # the block names no variable constructor: skip the walk
    seen: set[int] = set()
    for scope in _scopes(ctx):
        local_imports = _local_imports(scope)
        for node in ast.walk(scope):
            if not isinstance(node, ast.Call) or id(node) in seen:
                continue
            seen.add(id(node))
            what = _created_variable(ctx, node, local_imports)
            if what is None or _explicitly_frozen(node):
                continue
            if what == "add_weight" and ctx.loss.cls is not None:
                finding = ctx.finding(
                    RULE, node,
                    f"`self.{_method_name(node)}` in a Loss subclass: `keras.losses.Loss` is not a layer and has "
                    "no such method (AttributeError); and a variable owned by a loss is never trained by fit "
                    "anyway: make it a weight of a layer", None)
                yield replace(finding, severity=ctx.settings.severity_for(RULE.code, "error"))
                continue
            where = _where(ctx, scope)
            yield ctx.finding(
                RULE, node,
                f"`{ctx.text(node.func)}` created {where}: `fit` only trains the model's "
                "trainable weights, so this variable keeps its initial value forever, silently "
                "(pass `trainable=False` if it is meant as fixed state)")


def _scopes(ctx: LossContext) -> list[ast.AST]:
    """The code that runs to build or call this loss: the function, its Loss class, its factory."""
    scopes: list[ast.AST] = [ctx.loss.fn]
    cls = ctx.loss.cls
    if cls is not None:
        scopes += [n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                   and n.name in _CLASS_METHODS]
    if ctx.loss.factory is not None:
        scopes.append(ctx.loss.factory)
    return scopes


def _where(ctx: LossContext, scope: ast.AST) -> str:
    if ctx.loss.cls is not None:
        return f"by the loss class `{ctx.loss.cls.name}`"
    if ctx.loss.factory is not None and scope is ctx.loss.factory:
        return f"by the loss factory `{ctx.loss.factory.name}`"
    return "inside the loss"


def _created_variable(ctx: LossContext, node: ast.Call, local_imports: dict[str, str]) -> str | None:
    func = node.func
    if (isinstance(func, ast.Attribute) and func.attr in _WEIGHT_METHODS
            and isinstance(func.value, ast.Name) and func.value.id == "self"):
        return "add_weight"
    op = ctx.module.op(func, local_imports)
    if op is None or op.namespace not in ("tf", "keras", "K"):
        return None
    if op.name.rsplit(".", 1)[-1] in _CONSTRUCTORS:
        return "variable"
    return None


def _method_name(node: ast.Call) -> str:
    return node.func.attr if isinstance(node.func, ast.Attribute) else "add_weight"


def _explicitly_frozen(node: ast.Call) -> bool:
    """``trainable=False``: the author wants state (a counter, a running mean), not a trained weight."""
    return any(kw.arg == "trainable" and isinstance(kw.value, ast.Constant) and kw.value.value is False
               for kw in node.keywords)


def _local_imports(scope: ast.AST) -> dict[str, str]:
    """Imports written inside the function (``import tensorflow as tf`` in a loss body)."""
    out: dict[str, str] = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return out


RULE = Rule(
    code="LL401",
    name="variable-in-loss",
    severity="warning",
    summary="`tf.Variable` / `keras.Variable` / `add_weight` created by a loss, its Loss class or its factory",
    why=(
        "`fit` computes gradients for `model.trainable_variables` and nothing else. A variable that belongs to "
        "a loss (a learnable temperature, a per-class weight, an uncertainty term) is read by the loss but "
        "never updated: measured on Keras 3.15, such a variable stays at its initial value through training, "
        "with no warning. `self.add_weight` does not even exist on `keras.losses.Loss` (it is not a layer), "
        "so that spelling fails with an AttributeError."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "class UncertaintyLoss(tf.keras.losses.Loss):\n"
        "    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.log_var = tf.Variable(0.0)\n\n"
        "    def call(self, y_true, y_pred):\n"
        "        err = tf.reduce_mean(tf.square(y_true - y_pred))\n"
        "        return tf.exp(-self.log_var) * err + self.log_var\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "class UncertaintyWeight(tf.keras.layers.Layer):\n"
        "    \"\"\"Owns the learnable term, so fit trains it; adds the weighted loss itself.\"\"\"\n\n"
        "    def build(self, input_shape):\n"
        "        self.log_var = self.add_weight(shape=(), initializer=\"zeros\")\n\n"
        "    def call(self, inputs):\n"
        "        y_true, y_pred = inputs\n"
        "        err = tf.reduce_mean(tf.square(y_true - y_pred))\n"
        "        self.add_loss(tf.exp(-self.log_var) * err + self.log_var)\n"
        "        return y_pred\n"
    ),
    fix_title="Move the variable into a layer (`self.add_weight` in `build`) or into a custom `train_step`",
    check=check,
)
