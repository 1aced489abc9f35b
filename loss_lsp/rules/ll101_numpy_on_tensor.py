"""LL101: a NumPy function applied to a tensor that carries y_pred's gradient."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.engine.namespaces import NUMPY_TO_OPS, NUMPY_TO_TF
from loss_lsp.rules.common import arg_vals, library_calls
from loss_lsp.rules.rule import Rule

_DETACHERS = {"array", "asarray", "asanyarray", "copy"}  # LL102 reports these
# Same arguments and results in TensorFlow: the fix is safe. Others need a look.
_EXACT = {"mean", "sum", "max", "min", "amax", "amin", "prod", "square", "sqrt", "log", "exp", "abs", "where",
          "clip", "maximum", "minimum", "tanh", "log1p", "multiply", "add", "subtract", "divide", "negative",
          "power", "std", "var"}


def check(ctx: LossContext) -> Iterator[Finding]:
    for flow, node, op in library_calls(ctx, ("np",)):
        if op.name in _DETACHERS or not any(v.pred or v.cut for v in arg_vals(flow, node)):
            continue
        spelled = ctx.text(node.func, flow)
        fix = None
        ops_alias = ctx.file.ops()
        if ops_alias and op.name in NUMPY_TO_OPS:
            fix = ctx.replace(f"Use `{ops_alias}.{NUMPY_TO_OPS[op.name]}`", node.func,
                              f"{ops_alias}.{NUMPY_TO_OPS[op.name]}",
                              "safe" if op.name in _EXACT else "unsafe", flow)
        elif op.name in NUMPY_TO_TF:
            target = f"{ctx.file.tf()}.{NUMPY_TO_TF[op.name]}"
            fix = ctx.replace(f"Use `{target}`", node.func, target, "safe" if op.name in _EXACT else "unsafe",
                              flow, ctx.file.tf_fix_edits())
        yield ctx.finding(
            RULE, node,
            f"`{spelled}` turns a y_pred-derived tensor into a NumPy array: the gradient stops here "
            "(GradientTape returns None, fit fails with \"No gradients provided\"; in graph mode it cannot "
            "even convert the symbolic tensor)",
            fix, flow)


RULE = Rule(
    code="LL101",
    name="numpy-on-tensor",
    severity="error",
    summary="NumPy function applied to a tensor derived from y_pred",
    why=(
        "TensorFlow records operations on its own tensors only. A NumPy call converts the tensor to an "
        "array (eagerly) or fails on the symbolic tensor (inside `tf.function`, which is how `fit` runs "
        "the loss), so no gradient flows back to the model. With `run_eagerly=True` the loss value looks "
        "right but `fit` stops with `No gradients provided for any variable`."
    ),
    example=(
        "import numpy as np\n\n"
        "def rmse(y_true, y_pred):\n"
        "    return np.sqrt(np.mean(np.square(y_true - y_pred)))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def rmse(y_true, y_pred):\n"
        "    return tf.sqrt(tf.reduce_mean(tf.square(y_true - y_pred)) + 1e-7)\n"
    ),
    fix_title="Replace the NumPy call with its TensorFlow (or keras.ops) equivalent",
    check=check,
)
