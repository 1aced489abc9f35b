"""LL307: (B, 1) class ids multiplied with (B, K) probabilities: each id is stretched over every class."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.dataflow import Flow
from loss_lsp.engine.findings import Finding
from loss_lsp.engine.shapes import as_received
from loss_lsp.engine.shapes.operands import received_operand_shapes
from loss_lsp.engine.shapes.values import shape_text
from loss_lsp.rules.rule import Rule

_ELEMENTWISE = (ast.Mult, ast.Sub, ast.Add)


def _pairs(flow: Flow) -> Iterator[tuple[ast.AST, ast.AST, ast.AST]]:
    """Live elementwise ops with one side from y_true only and the other from y_pred: (op, true, pred)."""
    for node in flow.nodes(ast.BinOp):
        if not isinstance(node.op, _ELEMENTWISE):  # type: ignore[attr-defined]
            continue
        left, right = node.left, node.right  # type: ignore[attr-defined]
        for a, b in ((left, right), (right, left)):
            va, vb = flow.val(a), flow.val(b)
            if va.true and not va.pred and vb.pred and va.tensor and vb.tensor:
                yield node, a, b


def check(ctx: LossContext) -> Iterator[Finding]:
    domain = ctx.shapes.y_true_domain or ""
    if not domain.startswith("integer:") or not ctx.shapes.known:
        return
    classes = int(domain.split(":", 1)[1])
    y_true, y_pred = as_received(ctx.shapes.y_true, ctx.shapes.y_pred, ctx.loss.call_path)
    for flow in ctx.flow.all_flows():
        for node, true_side, pred_side in _pairs(flow):
            found = received_operand_shapes(flow, ctx.loss.params, y_true, y_pred, true_side, pred_side)
            if found is None:
                continue
            t, p = found
            if len(t) != len(p) or t[-1] != 1 or p[-1] != classes or classes < 2:
                continue
            text = ctx.text(true_side, flow)
            fix = ctx.replace(f"One-hot `{text}` ({classes} classes)", true_side,
                              f"{ctx.file.tf()}.one_hot({ctx.file.tf()}.cast({ctx.file.tf()}.squeeze({text}, axis=-1), "
                              f"{ctx.file.tf()}.int32), {classes})", "unsafe", flow, ctx.file.tf_fix_edits())
            yield ctx.finding(
                RULE, node,
                f"`{text}` holds class ids 0..{classes - 1} of shape {shape_text(t)} and `{ctx.text(pred_side, flow)}` "
                f"is {shape_text(p)}: combining them stretches each id over all {classes} classes instead of "
                "picking one, so the loss is wrong and nothing raises", fix, flow)


RULE = Rule(
    code="LL307",
    name="class-ids-as-one-hot",
    severity="error",
    summary="(B, 1) integer class ids combined elementwise with (B, K) class probabilities",
    why=(
        "A hand-written categorical cross-entropy `-sum(y_true * log(y_pred))` expects one-hot labels. Given "
        "class ids of shape `(B, 1)` (CIFAR-10's labels, `y.reshape(-1, 1)`, a label column), `y_true * "
        "log(y_pred)` broadcasts the id over every class: the loss weights all K log-probabilities by the "
        "class number, class 0 contributes nothing, and training runs without any error. `(B,)` ids crash "
        "instead (LL306)."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def cce(y_true, y_pred):  # loss-lsp: shapes y_true=(8, 1) y_pred=(8, 10)\n"
        "    return -tf.reduce_sum(y_true * tf.math.log(y_pred + 1e-7), axis=-1)\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def cce(y_true, y_pred):  # loss-lsp: shapes y_true=(8, 1) y_pred=(8, 10)\n"
        "    y_true = tf.one_hot(tf.cast(tf.squeeze(y_true, axis=-1), tf.int32), 10)\n"
        "    return -tf.reduce_sum(y_true * tf.math.log(y_pred + 1e-7), axis=-1)\n"
    ),
    fix_title="`tf.one_hot` the class ids (or use a sparse categorical cross-entropy)",
    check=check,
)
