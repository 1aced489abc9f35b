"""LL104: tf.where on a y_pred condition whose other branch carries no gradient."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.rules.common import library_calls, naive_guards, short
from loss_lsp.rules.rule import Rule


def check(ctx: LossContext) -> Iterator[Finding]:
    guards = {id(where) for flow in ctx.flow.all_flows() for where in naive_guards(flow).values()}
    for flow, node, op in library_calls(ctx):
        if short(op) != "where" or len(node.args) != 3 or id(node) in guards or _domain_guard(node.args[0]):
            continue
        cond, a, b = (flow.val(x) for x in node.args)
        if not cond.thresholds or not (a.pred or b.pred) or (a.pred and b.pred):
            continue
        live_branch, dead_branch = (node.args[1], node.args[2]) if a.pred else (node.args[2], node.args[1])
        tf = ctx.file.tf()
        weight = _weight(ctx, flow, node.args[0], tf)
        fix = None
        if weight is not None:
            live, dead = ctx.text(live_branch, flow), ctx.text(dead_branch, flow)
            w = weight if a.pred else f"(1.0 - {weight})"
            blend = f"{w} * ({live})" if flow.val(dead_branch).zero else f"{w} * ({live}) + (1.0 - {w}) * ({dead})"
            fix = ctx.replace("Blend the branches with a sigmoid weight", node, blend, "unsafe", flow,
                              ctx.file.tf_fix_edits())
        yield ctx.finding(
            RULE, node,
            f"where the condition on y_pred selects `{ctx.text(dead_branch, flow)}`, the loss has zero gradient: "
            "predictions in that region get no signal to move", fix, flow)


def _domain_guard(cond: ast.AST) -> bool:
    """``x > 0`` / ``x >= eps``: keeping a value in a function's domain, not a training decision."""
    if not isinstance(cond, ast.Compare) or len(cond.comparators) != 1:
        return False
    right = cond.comparators[0]
    if isinstance(right, ast.Constant) and isinstance(right.value, (int, float)) and right.value == 0:
        return True
    return isinstance(right, (ast.Name, ast.Call, ast.Attribute)) and "eps" in ast.unparse(right).lower()


def _weight(ctx: LossContext, flow, cond: ast.AST, tf: str) -> str | None:  # type: ignore[no-untyped-def]
    if isinstance(cond, ast.Compare) and len(cond.ops) == 1:
        left, right = ctx.text(cond.left, flow), ctx.text(cond.comparators[0], flow)
        if isinstance(cond.ops[0], (ast.Gt, ast.GtE)):
            return f"{tf}.sigmoid(({left} - {right}) * 50.0)"
        if isinstance(cond.ops[0], (ast.Lt, ast.LtE)):
            return f"{tf}.sigmoid(({right} - {left}) * 50.0)"
    return None


RULE = Rule(
    code="LL104",
    name="zeroed-branch",
    severity="warning",
    summary="`tf.where(condition on y_pred, a, constant)`: a whole region of predictions gets zero gradient",
    why=(
        "`tf.where` differentiates each branch where it is selected. When one branch is a constant (or "
        "`x * 0.0`), every prediction that falls on that side gets a zero gradient and never moves back. "
        "TensorFlow gives no error: training quietly stalls for those samples."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def clipped_mse(y_true, y_pred):\n"
        "    err = tf.square(y_true - y_pred)\n"
        "    return tf.reduce_mean(tf.where(y_pred > 0.5, err, 0.0))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def clipped_mse(y_true, y_pred):\n"
        "    err = tf.square(y_true - y_pred)\n"
        "    w = tf.sigmoid((y_pred - 0.5) * 50.0)\n"
        "    return tf.reduce_mean(w * err + (1.0 - w) * 0.0)\n"
    ),
    fix_title="Blend both branches with a sigmoid weight",
    check=check,
)
