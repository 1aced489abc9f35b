"""LL201: log of a y_pred-derived value that can reach 0."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.rules.common import positive_by_where, arg, clip_call, library_calls, guarded, short, wrap
from loss_lsp.rules.rule import Rule

_LOGS = {"log", "log2", "log10"}


def check(ctx: LossContext) -> Iterator[Finding]:
    skip: set[int] = set()
    for flow in ctx.flow.all_flows():
        skip |= guarded(flow)
    for flow, node, op in library_calls(ctx):
        name = short(op)
        if name in _LOGS:
            target = arg(node, 0, "x")
        elif name == "xlogy":
            target = arg(node, 1, "y")
        else:
            continue
        if target is None or id(node) in skip:
            continue
        v = flow.val(target)
        if not v.pred or v.positive or v.prob or positive_by_where(flow, target):
            continue
        text = ctx.text(target, flow)
        if _probability_like(ctx, target, flow):
            guarded_text = clip_call(ctx, text, flow)
            title = "Clip the argument to [eps, 1 - eps]"
        else:
            guarded_text = f"{wrap(text)} + {ctx.eps(flow)}"
            title = "Add epsilon to the argument"
        fix = ctx.replace(title, target, guarded_text, "safe", flow)
        yield ctx.finding(
            RULE, node,
            f"`{ctx.text(node.func, flow)}` of `{text}`, which can be 0: the loss becomes inf and the gradient "
            "inf/NaN (the \"loss: nan\" epoch)", fix, flow)


def _probability_like(ctx: LossContext, node: ast.AST, flow) -> bool:  # type: ignore[no-untyped-def]
    """y_pred itself or 1 - y_pred: clipping keeps the values of a probability."""
    pred_name = ctx.loss.params[1] if len(ctx.loss.params) > 1 else "y_pred"
    if isinstance(node, ast.Name):
        return node.id == pred_name
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        return isinstance(node.right, ast.Name) and node.right.id == pred_name
    return False


RULE = Rule(
    code="LL201",
    name="unguarded-log",
    severity="warning",
    summary="`log` of a y_pred-derived value that can reach 0 (no clip, no epsilon)",
    why=(
        "Predictions reach exactly 0 (and 1) in float32 long before they reach them in exact arithmetic: a "
        "saturated sigmoid returns 0.0. `log(0)` is `-inf`, the loss becomes inf/NaN and the NaN gradient "
        "spreads into every weight in one step. `tf.math.xlogy` only guards `0 * log(0)`, not `1 * log(0)`."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def bce(y_true, y_pred):\n"
        "    return -tf.reduce_mean(y_true * tf.math.log(y_pred) + (1 - y_true) * tf.math.log(1 - y_pred))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def bce(y_true, y_pred):\n"
        "    p = tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7)\n"
        "    return -tf.reduce_mean(y_true * tf.math.log(p) + (1 - y_true) * tf.math.log(1 - p))\n"
    ),
    fix_title="Clip the argument to [eps, 1 - eps] or add eps (the file's EPS, `K.epsilon()` or `keras.config.epsilon()`)",
    check=check,
)
