"""LL103: a comparison, rounding, sign, int cast or argmax whose output feeds the loss value."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.rules.common import arg
from loss_lsp.rules.rule import Rule

_KIND = {
    "compare": "a comparison",
    "round": "rounding",
    "floor": "`floor`",
    "floordiv": "floor division (`//`)",
    "ceil": "`ceil`",
    "rint": "rounding",
    "cast": "a cast to an integer/bool dtype",
    "argmax": "`argmax`",
    "argmin": "`argmin`",
    "top_k": "`top_k`",
    "sign": "`sign`",
}


def check(ctx: LossContext) -> Iterator[Finding]:
    returned = ctx.flow.returned()
    reaching = returned.thresholds
    other_paths = returned.pred  # the loss still has a gradient through other terms
    # A mask built here may scale a differentiable value inside a helper (tfa's `_masked_minimum`): weigh all flows.
    weights = set().union(*(_weights(flow) for flow in ctx.flow.all_flows())) if other_paths else set()
    for flow in ctx.flow.all_flows():
        for node in flow.nodes((ast.Compare, ast.Call, ast.BinOp)):
            if id(node) not in reaching and flow is ctx.flow:
                continue
            kind = flow.hard_op(node)
            if kind is None or (flow is not ctx.flow and not _reaches_helper_return(flow, node)):
                continue
            if id(node) in weights:
                continue  # a hard mask or count that scales a differentiable term: hard-example mining, a normaliser
            yield ctx.finding(RULE, node, _message(kind, other_paths), _fix(ctx, flow, node, kind), flow)


def _weights(flow) -> set[int]:  # type: ignore[no-untyped-def]
    """Hard ops whose output multiplies or divides a value that carries y_pred's gradient."""
    out: set[int] = set()
    for node in flow.nodes((ast.BinOp, ast.Call)):
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, (ast.Mult, ast.Div)):
                continue
            sides = [node.left, node.right]
        else:
            op = flow.op(node)
            if op is None or op.name.rsplit(".", 1)[-1] not in ("multiply", "divide", "truediv") or len(node.args) < 2:
                continue
            sides = node.args[:2]
        a, b = flow.val(sides[0]), flow.val(sides[1])
        if b.pred:
            out |= a.thresholds
        if a.pred:
            out |= b.thresholds
    return out


def _reaches_helper_return(flow, node: ast.AST) -> bool:  # type: ignore[no-untyped-def]
    return id(node) in flow.returned().thresholds


def _message(kind: str, other_paths: bool = False) -> str:
    what = _KIND.get(kind, f"`{kind}`")
    if other_paths:
        return (f"{what} on y_pred feeds the loss value but passes no gradient: the loss still trains through "
                "its other terms, while this term gives the predictions no signal (it only shifts the value)")
    if kind == "sign":
        return (f"{what} of a y_pred-derived value feeds the loss: its gradient is zero everywhere, so "
                "training runs without an error and learns nothing")
    return (f"{what} on y_pred feeds the loss value: it has no gradient (GradientTape returns None and fit "
            "fails with \"No gradients provided for any variable\", naming no op)")


def _fix(ctx: LossContext, flow, node: ast.AST, kind: str):  # type: ignore[no-untyped-def]
    tf = ctx.file.tf()
    if kind == "compare" and isinstance(node, ast.Compare) and len(node.ops) == 1:
        op = node.ops[0]
        left, right = ctx.text(node.left, flow), ctx.text(node.comparators[0], flow)
        if isinstance(op, (ast.Gt, ast.GtE)):
            diff = f"{left} - {right}"
        elif isinstance(op, (ast.Lt, ast.LtE)):
            diff = f"{right} - {left}"
        else:
            return None
        return ctx.replace("Smooth the step with a steep sigmoid", node,
                           f"{tf}.sigmoid(({diff}) * 50.0)", "unsafe", flow, ctx.file.tf_fix_edits())
    if kind == "cast" and isinstance(node, ast.Call):
        inner = arg(node, 0, "x")
        if isinstance(inner, ast.Compare):
            smooth = _fix(ctx, flow, inner, "compare")
            if smooth is not None:
                content = smooth.edits[0].content
                return ctx.replace("Replace the hard cast with a steep sigmoid", node, content, "unsafe", flow,
                                   smooth.edits[1:])
    if kind in ("argmax",) and isinstance(node, ast.Call):
        logits = arg(node, 0, "input", "x")
        if logits is not None:
            return ctx.replace("Use softmax probabilities instead of argmax", node,
                               f"{tf}.nn.softmax({ctx.text(logits, flow)}, axis=-1)", "unsafe", flow,
                               ctx.file.tf_fix_edits())
    return None


RULE = Rule(
    code="LL103",
    name="hard-threshold",
    severity="error",
    summary="Comparison, `round`, `sign`, `floor`/`ceil`, integer cast or `argmax` on y_pred feeding the loss",
    why=(
        "A step function is flat almost everywhere. TensorFlow gives comparisons, `round`, `floor`, `ceil`, "
        "integer/bool casts and `argmax` no gradient at all: `fit` fails with `No gradients provided for any "
        "variable`. `tf.sign` is worse: its gradient is defined and is zero everywhere, so training runs "
        "with no error and the weights never move. Selecting between two differentiable branches with "
        "`tf.where(y_pred > t, a, b)` is fine and is not flagged."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def accuracy_loss(y_true, y_pred):\n"
        "    hits = tf.cast(y_pred > 0.5, tf.float32)\n"
        "    return 1.0 - tf.reduce_mean(hits * y_true)\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def accuracy_loss(y_true, y_pred):\n"
        "    hits = tf.sigmoid((y_pred - 0.5) * 50.0)\n"
        "    return 1.0 - tf.reduce_mean(hits * y_true)\n"
    ),
    fix_title="Replace the step with a steep sigmoid (`tf.sigmoid((y_pred - t) * k)`) or argmax with softmax",
    check=check,
)
