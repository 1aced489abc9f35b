"""LL302: a reduction over an axis the tensor does not have."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.engine.namespaces import REDUCTIONS
from loss_lsp.rules.common import arg, library_calls, short
from loss_lsp.rules.rule import Rule


def _axes(node: ast.AST | None) -> list[tuple[ast.AST, int]]:
    items = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node] if node is not None else []
    out = []
    for item in items:
        value = item.value if isinstance(item, ast.Constant) else None
        if isinstance(item, ast.UnaryOp) and isinstance(item.op, ast.USub) and isinstance(item.operand, ast.Constant):
            value = -item.operand.value if isinstance(item.operand.value, int) else None
        if isinstance(value, int) and not isinstance(value, bool):
            out.append((item, value))
    return out


def check(ctx: LossContext) -> Iterator[Finding]:
    for flow, node, op in library_calls(ctx):
        if short(op) not in REDUCTIONS and short(op) not in ("squeeze", "argmax", "argmin", "softmax", "log_softmax"):
            continue
        tensor = arg(node, 0, "input_tensor", "x", "input", "logits")
        axis = arg(node, 1, "axis")
        if tensor is None or axis is None:
            continue
        rank = flow.val(tensor).rank
        if rank is None or not flow.val(tensor).data:
            continue
        for item, value in _axes(axis):
            if -rank <= value < rank:
                continue
            fix = ctx.replace("Use the last axis", item, "-1", "unsafe", flow)
            yield ctx.finding(
                RULE, item,
                f"axis {value} is out of range for `{ctx.text(tensor, flow)}`, which has rank {rank} here: "
                "TensorFlow raises InvalidArgumentError when the loss first runs", fix, flow)


RULE = Rule(
    code="LL302",
    name="reduction-axis-out-of-range",
    severity="error",
    summary="A reduction (or squeeze/argmax/softmax) over an axis beyond the rank the context gives the tensor",
    why=(
        "A loss written for (B, C) predictions and used on a (B, 1) regression head or (B,) labels asks for "
        "an axis the tensor does not have. TensorFlow raises `InvalidArgumentError: Invalid reduction "
        "dimension` at the first batch, inside Keras's traced train step, far from the line to blame."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def per_pixel(y_true, y_pred):  # loss-lsp: shapes y_true=(8, 1) y_pred=(8, 1)\n"
        "    return tf.reduce_mean(tf.square(y_true - y_pred), axis=2)\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def per_pixel(y_true, y_pred):  # loss-lsp: shapes y_true=(8, 1) y_pred=(8, 1)\n"
        "    return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)\n"
    ),
    fix_title="Reduce over an axis the tensor has (the last one)",
    check=check,
)
