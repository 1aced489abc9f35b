"""LL104: tf.where on a y_pred condition whose other branch carries no gradient.

Only where the replaced branch would have carried a gradient: not a function's domain or
±inf guard, not a continuous piecewise function (``where(x > t, x - t, 0)`` is a ReLU, a
sparsemax support), not the inner substitution of a double-where guard.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.rules.common import WHERE_OPS, assigned_value, double_where, library_calls, naive_guards, short
from loss_lsp.rules.rule import Rule


def check(ctx: LossContext) -> Iterator[Finding]:
    guards = {id(where) for flow in ctx.flow.all_flows() for where in naive_guards(flow).values()}
    for flow in ctx.flow.all_flows():
        guards |= double_where(flow)[1]
    for flow, node, op in library_calls(ctx):
        if short(op) not in WHERE_OPS or len(node.args) != 3 or id(node) in guards or _domain_guard(flow, node.args[0]):
            continue
        cond, a, b = (flow.val(x) for x in node.args)
        if not cond.thresholds or not (a.pred or b.pred) or (a.pred and b.pred):
            continue
        live_branch, dead_branch = (node.args[1], node.args[2]) if a.pred else (node.args[2], node.args[1])
        if flow.val(dead_branch).zero or _zeros(flow, dead_branch):
            if _vanishes_at_boundary(node.args[0], live_branch):
                continue  # continuous: the replaced values were 0 with the gradient of a ReLU
        if _clamps(node.args[0], live_branch, dead_branch):
            continue  # where(x > t, x, t) is maximum(x, t): continuous, the usual clamp
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


def _domain_guard(flow, cond: ast.AST) -> bool:  # type: ignore[no-untyped-def]
    """``x > 0`` / ``x >= eps`` / ``is_inf(x)``: keeping a value finite or in a function's domain, not a
    training decision (where the replaced value is ±inf or NaN its gradient is no gradient either)."""
    cond = assigned_value(flow, cond)  # ok = x > 0; where(ok, ...)
    if isinstance(cond, ast.UnaryOp) and isinstance(cond.op, (ast.Invert, ast.Not)):
        cond = cond.operand
    if isinstance(cond, ast.BinOp) and isinstance(cond.op, (ast.BitAnd, ast.BitOr)):
        return _domain_guard(flow, cond.left) or _domain_guard(flow, cond.right)
    if isinstance(cond, ast.Call):
        op = flow.op(cond)
        if op is not None and short(op) in ("logical_and", "logical_or"):
            # sparsemax's `logical_or(s > 0, is_nan(s))`, `logical_and(labels == 0, is_inf(z))`: still a guard
            return any(_domain_guard(flow, operand) for operand in cond.args)
        return op is not None and short(op) in _FINITENESS
    if not isinstance(cond, ast.Compare) or len(cond.comparators) != 1:
        return False
    right = cond.comparators[0]
    if isinstance(right, ast.Constant) and isinstance(right.value, (int, float)) and right.value == 0:
        return True
    return isinstance(right, (ast.Name, ast.Call, ast.Attribute)) and "eps" in ast.unparse(right).lower()


_FINITENESS = {"is_inf", "isinf", "is_nan", "isnan", "is_finite", "isfinite"}


def _zeros(flow, node: ast.AST) -> bool:  # type: ignore[no-untyped-def]
    if isinstance(node, ast.Constant) and node.value == 0:
        return True
    if isinstance(node, ast.Call):
        op = flow.op(node)
        return op is not None and short(op) in ("zeros_like", "zeros")
    return False


def _clamps(cond: ast.AST, live: ast.AST, dead: ast.AST) -> bool:
    """The branches are the two sides of the comparison: they meet where the condition flips."""
    if not isinstance(cond, ast.Compare) or len(cond.ops) != 1:
        return False
    sides = {ast.dump(cond.left), ast.dump(cond.comparators[0])}
    return {ast.dump(live), ast.dump(dead)} == sides or (
        ast.dump(live) in sides and _is_zero(dead) and any(_is_zero(side) for side in (cond.left, cond.comparators[0])))


def _is_zero(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == 0


def _vanishes_at_boundary(cond: ast.AST, live: ast.AST) -> bool:
    """``where(x > t, x - t, 0)`` / ``where(x < t, t - x, 0)``: the kept branch is 0 where the condition flips."""
    if not isinstance(cond, ast.Compare) or len(cond.ops) != 1:
        return False
    left, right = ast.dump(cond.left), ast.dump(cond.comparators[0])
    while isinstance(live, ast.BinOp) and isinstance(live.op, ast.Mult):  # a scaled hinge
        live = live.right if isinstance(live.left, ast.Constant) else live.left
    if not (isinstance(live, ast.BinOp) and isinstance(live.op, ast.Sub)):
        return False
    return {ast.dump(live.left), ast.dump(live.right)} == {left, right}


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
