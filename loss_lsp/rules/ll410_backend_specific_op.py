"""LL410: a tf.* op in a loss of a project that otherwise writes backend-neutral keras.ops code."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.dataflow import Flow
from loss_lsp.engine.findings import Edit, Finding, Fix
from loss_lsp.engine.namespaces import TF_TO_OPS
from loss_lsp.rules.common import library_calls
from loss_lsp.rules.rule import Rule

# Keyword arguments spelled the same way by the tf op and its keras.ops equivalent.
_SAME_KEYWORDS = {"axis", "keepdims", "dtype"}
_DTYPES = {"float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool"}


def check(ctx: LossContext) -> Iterator[Finding]:
    # module.uses_keras_ops: ``keras.ops.x`` spelled out somewhere in the module. A loss that mixes
    # keras.ops and tf.* counts too, whatever the import style.
    if not ctx.module.uses_keras_ops and "ops" not in ctx.loss.block.text:
        return  # cannot mix keras.ops and tf.* without naming ops: skip the walk
    if not (ctx.module.uses_keras_ops or _loss_calls_keras_ops(ctx)):
        return
    prefix = _ops_prefix(ctx)
    for flow, node, op in library_calls(ctx, ("tf",), live=False):
        if op.name not in TF_TO_OPS:
            continue
        target = TF_TO_OPS[op.name]
        spelled = ctx.text(node.func, flow)
        portable = f"{prefix}.{target}" if prefix else f"keras.ops.{target}"
        fix = _fix(ctx, flow, node, op.name, f"{prefix}.{target}") if prefix else None
        yield ctx.finding(
            RULE, node.func,
            f"`{spelled}` ties this loss to the TensorFlow backend, while the module otherwise uses `keras.ops`: "
            f"under JAX or PyTorch it fails; `{portable}` is the backend-neutral equivalent", fix, flow)


def _loss_calls_keras_ops(ctx: LossContext) -> bool:
    """The loss itself already calls keras.ops: its tf.* ops are the odd ones out."""
    return any(True for _ in library_calls(ctx, ("ops",), live=False))


def _ops_prefix(ctx: LossContext) -> str | None:
    """How the file spells keras.ops: ``ops`` (from keras import ops), ``keras.ops``, ... or None."""
    alias = ctx.file.ops()
    if alias:
        return alias
    keras = ctx.module.alias_for("keras")
    return f"{keras}.ops" if keras else None


def _fix(ctx: LossContext, flow: Flow, node: ast.Call, name: str, replacement: str) -> Fix | None:
    if any(kw.arg not in _SAME_KEYWORDS for kw in node.keywords):
        return None  # argument names differ (input_tensor=, clip_value_min=, ...): rewrite by hand
    if name == "argmax" and len(node.args) < 2 and not node.keywords:
        return None  # tf.argmax defaults to axis 0, keras.ops.argmax to the flattened tensor
    edits = [Edit(ctx.span(node.func, flow), replacement)]
    dtype = node.args[1] if name == "cast" and len(node.args) > 1 else next(
        (kw.value for kw in node.keywords if kw.arg == "dtype"), None)
    if dtype is not None:
        dtype_op = ctx.module.op(dtype, flow.local_imports)
        if dtype_op is not None and dtype_op.namespace == "tf" and dtype_op.name in _DTYPES:
            edits.append(Edit(ctx.span(dtype, flow), f'"{dtype_op.name}"'))  # tf.float32 is TF-only too
    return Fix(f"Use `{replacement}`", "unsafe", tuple(edits))


RULE = Rule(
    code="LL410",
    name="backend-specific-op",
    severity="info",
    summary="A `tf.*` op in a loss of a module that otherwise uses Keras 3's backend-neutral `keras.ops`",
    why=(
        "Keras 3 runs the same model on TensorFlow, JAX or PyTorch, as long as its code goes through "
        "`keras.ops`. A loss written with `tf.*` ops only runs on the TensorFlow backend: switching "
        "`KERAS_BACKEND` makes it fail on the first batch. When the rest of the module already uses "
        "`keras.ops`, the `tf.*` ops in a loss are usually an oversight. This is information, not an error: "
        "on the TensorFlow backend the loss trains correctly."
    ),
    example=(
        "import keras\n"
        "import tensorflow as tf\n\n"
        "def mae(y_true, y_pred):\n"
        "    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)\n\n"
        "def mse(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)\n"
    ),
    fixed=(
        "import keras\n"
        "import tensorflow as tf\n\n"
        "def mae(y_true, y_pred):\n"
        "    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)\n\n"
        "def mse(y_true, y_pred):\n"
        "    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)\n"
    ),
    fix_title="Replace the `tf.*` op with its `keras.ops` equivalent",
    check=check,
)
