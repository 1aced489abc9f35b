"""LL202: a division whose denominator comes from predictions or targets and can be 0."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.rules.common import positive_by_where, guarded, library_calls, plus_eps, short, zero_patched
from loss_lsp.rules.rule import Rule


def check(ctx: LossContext) -> Iterator[Finding]:
    skip: set[int] = set()
    for flow in ctx.flow.all_flows():
        skip |= guarded(flow)
    pairs: list[tuple[object, ast.AST, ast.AST, ast.AST]] = []
    for flow in ctx.flow.all_flows():
        for node in flow.nodes(ast.BinOp):
            assert isinstance(node, ast.BinOp)
            if isinstance(node.op, ast.Div):
                pairs.append((flow, node, node.left, node.right))
    for flow, node, op in library_calls(ctx):
        if short(op) in ("divide", "truediv", "div", "true_divide") and len(node.args) == 2:
            pairs.append((flow, node, node.args[0], node.args[1]))
    for flow, node, num, den in pairs:
        if id(node) in skip:
            continue
        n, d = flow.val(num), flow.val(den)  # type: ignore[attr-defined]
        if not d.data or d.positive or not (n.pred or d.pred) or _normalisation(num, den) or zero_patched(flow, den) or positive_by_where(flow, den):
            continue
        if _visible_guard(flow, den):
            continue  # `1 + eps - iou + v`: the author added a guard term; take it as intended, as `x + eps` is
        text = ctx.text(den, flow)  # type: ignore[arg-type]
        fix = ctx.replace("Add a smoothing epsilon to the denominator", den, plus_eps(ctx, den, flow),
                          "safe", flow)  # type: ignore[arg-type]
        source = "predictions" if d.pred else "predictions (detached)" if d.cut or d.thresholds else "targets"
        yield ctx.finding(
            RULE, node,
            f"the denominator `{text}` comes from the {source} and can be 0 (an empty mask, an all-zero "
            "batch): the loss and its gradient become NaN", fix, flow)  # type: ignore[arg-type]


def _normalisation(num: ast.AST, den: ast.AST) -> bool:
    """``p / sum(p, axis)`` (or ``p / p.sum(axis)``): rescaling probabilities to sum to 1, zero only if every
    one is 0."""
    if not (isinstance(den, ast.Call) and isinstance(den.func, (ast.Attribute, ast.Name))):
        return False
    name = den.func.attr if isinstance(den.func, ast.Attribute) else den.func.id
    if name not in ("sum", "reduce_sum"):
        return False
    if den.args and ast.dump(den.args[0]) == ast.dump(num):
        return True
    return isinstance(den.func, ast.Attribute) and ast.dump(den.func.value) == ast.dump(num)


def _visible_guard(flow, den: ast.AST, sign: int = 1) -> bool:  # type: ignore[no-untyped-def]
    """An additive term of the denominator, with a plus sign, that is a positive constant (not derived from
    the data): ``1 + eps - iou + v``, ``union - inter + 1e-7``. Written there, it is a guard."""
    if isinstance(den, ast.BinOp) and isinstance(den.op, (ast.Add, ast.Sub)):
        right_sign = -sign if isinstance(den.op, ast.Sub) else sign
        return _visible_guard(flow, den.left, sign) or _visible_guard(flow, den.right, right_sign)
    if sign < 0 or (isinstance(den, ast.Constant) and den.value == 1):
        return False  # `1 - p + q` is no guard: 1 is where the terms usually start
    v = flow.val(den)
    return v.positive and not v.data and not v.pred


RULE = Rule(
    code="LL202",
    name="unguarded-division",
    severity="warning",
    summary="Division by a sum, norm or count of predictions/targets that can be 0",
    why=(
        "Dice, IoU, precision/recall and normalised losses divide by sums over the batch. A batch with an "
        "empty mask (no positive pixels, no positive labels) and an all-zero prediction makes that sum 0, "
        "and `0 / 0` is NaN: the loss reports `nan` and the optimizer writes NaN into every weight."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def dice_loss(y_true, y_pred):\n"
        "    inter = tf.reduce_sum(y_true * y_pred)\n"
        "    return 1.0 - 2.0 * inter / (tf.reduce_sum(y_true) + tf.reduce_sum(y_pred))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def dice_loss(y_true, y_pred):\n"
        "    inter = tf.reduce_sum(y_true * y_pred)\n"
        "    return 1.0 - (2.0 * inter + 1.0) / (tf.reduce_sum(y_true) + tf.reduce_sum(y_pred) + 1.0)\n"
    ),
    fix_title="Add a smoothing constant to the denominator (or use `tf.math.divide_no_nan`)",
    check=check,
)
