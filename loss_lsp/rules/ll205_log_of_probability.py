"""LL205: log(sigmoid(z)) / log(softmax(z)) computed in two steps."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding, Fix
from loss_lsp.rules.common import arg, library_calls, short
from loss_lsp.rules.rule import Rule


def check(ctx: LossContext) -> Iterator[Finding]:
    for flow, node, op in library_calls(ctx):
        if short(op) not in ("log", "log2", "log10"):
            continue
        target = arg(node, 0, "x")
        if target is None:
            continue
        v = flow.val(target)
        if not v.pred or not v.prob:
            continue
        kind = v.prob.replace("1-", "")
        complement = v.prob.startswith("1-")
        fix = _fix(ctx, flow, node, target) if short(op) == "log" else None
        what = f"1 - {kind}" if complement else kind
        yield ctx.finding(
            RULE, node,
            f"log of a {what} output: {kind} saturates to exactly {'1' if complement else '0'} in float32, so "
            f"this is -inf for confident predictions; use log_{kind} or the built-in loss with from_logits=True",
            fix, flow)


def _fix(ctx: LossContext, flow, log: ast.Call, target: ast.AST) -> Fix | None:  # type: ignore[no-untyped-def]
    tf = ctx.file.tf()
    complement = False
    inner = target
    if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Sub):
        complement, inner = True, inner.right
    if not isinstance(inner, ast.Call) or not inner.args:
        return None
    op = flow.op(inner)
    if op is None:
        return None
    logits = ctx.text(inner.args[0], flow)
    if short(op) == "sigmoid":
        arg_text = f"-({logits})" if complement else logits
        return ctx.replace("Use log_sigmoid", log, f"{tf}.math.log_sigmoid({arg_text})", "safe", flow,
                           ctx.file.tf_fix_edits())
    if short(op) == "softmax" and not complement:
        axis = arg(inner, 1, "axis")
        axis_text = f", axis={ctx.text(axis, flow)}" if axis is not None else ""
        return ctx.replace("Use log_softmax", log, f"{tf}.nn.log_softmax({logits}{axis_text})", "safe", flow,
                           ctx.file.tf_fix_edits())
    return None


RULE = Rule(
    code="LL205",
    name="log-of-probability",
    severity="warning",
    summary="`log(sigmoid(z))`, `log(1 - sigmoid(z))` or `log(softmax(z))` computed in two steps",
    why=(
        "sigmoid(z) rounds to exactly 0.0 for z below about -88 (and 1 - sigmoid(z) to 0.0 for z above about "
        "17 in float32), so the log is -inf for confident predictions. `log_sigmoid` and `log_softmax` compute "
        "the same value in one stable step; the built-in losses do it when given `from_logits=True`."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def nll(y_true, logits):\n"
        "    return -tf.reduce_mean(y_true * tf.math.log(tf.nn.softmax(logits)))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def nll(y_true, logits):\n"
        "    return -tf.reduce_mean(y_true * tf.nn.log_softmax(logits))\n"
    ),
    fix_title="Use `tf.math.log_sigmoid` / `tf.nn.log_softmax`",
    check=check,
)
