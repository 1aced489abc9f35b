"""LL206: tf.where(x > 0, log(x), 0): the loss is finite, the gradient is NaN."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.rules.common import arg, naive_guards
from loss_lsp.rules.rule import Rule


def check(ctx: LossContext) -> Iterator[Finding]:
    for flow in ctx.flow.all_flows():
        for risky_id, where in naive_guards(flow).items():
            risky = next((n for n in ast.walk(where) if id(n) == risky_id), None)
            if risky is None:
                continue
            inner = risky.right if isinstance(risky, ast.BinOp) else arg(risky, 0, "x") if isinstance(risky, ast.Call) else None
            fix = None
            if inner is not None:
                cond = ctx.text(where.args[0], flow)
                fallback = "1.0"
                fix = ctx.replace("Guard the argument too (double where)", inner,
                                  f"{ctx.text(where.func, flow)}({cond}, {ctx.text(inner, flow)}, {fallback})",
                                  "safe", flow)
            yield ctx.finding(
                RULE, where,
                "this tf.where guard keeps the loss finite, but both branches are differentiated: the gradient "
                f"of `{ctx.text(risky, flow)}` where the guard is false is inf/NaN, and NaN * 0 is NaN, so the "
                "weights become NaN", fix, flow)


RULE = Rule(
    code="LL206",
    name="nan-gradient-guard",
    severity="warning",
    summary="The naive guard `tf.where(x > 0, tf.math.log(x), 0.0)` (also with sqrt or division)",
    why=(
        "`tf.where` computes both branches and multiplies each branch's gradient by the selection mask. "
        "Where the guard is false, log(x) has an inf (or NaN) gradient, and inf * 0 is NaN, so the "
        "gradient is NaN even though the loss value is finite (TensorFlow issue 38349). Guard the argument "
        "as well, so the unselected branch is computed on a safe value."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def safe_log_loss(y_true, y_pred):\n"
        "    return -tf.reduce_mean(y_true * tf.where(y_pred > 0, tf.math.log(y_pred), 0.0))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def safe_log_loss(y_true, y_pred):\n"
        "    safe = tf.where(y_pred > 0, y_pred, 1.0)\n"
        "    return -tf.reduce_mean(y_true * tf.where(y_pred > 0, tf.math.log(safe), 0.0))\n"
    ),
    fix_title="Use the double-where pattern `tf.where(c, log(tf.where(c, x, 1.0)), 0.0)`",
    check=check,
)
