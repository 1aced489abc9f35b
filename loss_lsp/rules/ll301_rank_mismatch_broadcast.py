"""LL301: y_true and y_pred of different ranks combined elementwise: a silent (B, B) broadcast."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.dataflow import Flow
from loss_lsp.engine.findings import Finding, Fix
from loss_lsp.engine.shapes import as_received
from loss_lsp.engine.shapes.operands import outcome, received_operand_shapes
from loss_lsp.engine.shapes.values import shape_text
from loss_lsp.rules.common import arg, short
from loss_lsp.rules.ll306_shape_mismatch_crash import crashes
from loss_lsp.rules.rule import Rule


def check(ctx: LossContext) -> Iterator[Finding]:
    if crashes(ctx):
        return  # the first batch raises (LL306): no later broadcast is ever reached
    for flow in ctx.flow.all_flows():
        for node, true_side, pred_side in flow.rank_mismatches():
            t, p = flow.val(true_side), flow.val(pred_side)
            squeeze = _squeeze_call(flow, pred_side)
            if ctx.loss.call_path == "compile" and squeeze is not None:
                message = (f"Keras already aligned y_true to y_pred's rank before calling this function; "
                           f"the squeeze makes `{ctx.text(pred_side, flow)}` rank {p.rank} against rank {t.rank} "
                           "labels, so they broadcast to (B, B) and the loss averages every pair, silently")
                fix = _remove_squeeze(ctx, flow, squeeze)
            else:
                path = {"loss_class": "a Loss subclass's call", "direct": "a direct call"}.get(
                    ctx.loss.call_path, "this call")
                known = _program_shapes(ctx, flow, true_side, pred_side)
                if known is not None:
                    stated = (f"`{ctx.text(true_side, flow)}` is {shape_text(known[0])} and "
                              f"`{ctx.text(pred_side, flow)}` {shape_text(known[1])} here ({path} gets them as "
                              "the program makes them): this broadcasts")
                else:
                    stated = (f"`{ctx.text(true_side, flow)}` has rank {t.rank} and `{ctx.text(pred_side, flow)}` "
                              f"rank {p.rank}: with (B,) labels and (B, 1) predictions ({path} gets them unaligned) "
                              "this broadcasts")
                message = f"{stated} to (B, B), averages every pair, and trains towards the mean, silently"
                fix = _add_squeeze(ctx, flow, true_side, pred_side, t.rank, p.rank)  # type: ignore[arg-type]
            yield ctx.finding(RULE, node, message, fix, flow)


def _program_shapes(ctx: LossContext, flow: Flow, true_side: ast.AST, pred_side: ast.AST) -> tuple | None:
    """The operands' shapes when the program states them and they broadcast (not a hint's fixed batch)."""
    if not ctx.shapes.known:
        return None
    y_true, y_pred = as_received(ctx.shapes.y_true, ctx.shapes.y_pred, ctx.loss.call_path)
    found = received_operand_shapes(flow, ctx.loss.params, y_true, y_pred, true_side, pred_side)
    if found is None or outcome(*found) != "broadcast" or -1 not in (found[0][:1] + found[1][:1]):
        return None
    return found


def _squeeze_call(flow: Flow, node: ast.AST) -> ast.Call | None:
    """The squeeze that produced this operand (directly or through one assignment)."""
    if isinstance(node, ast.Name):
        name = node.id  # (node is replaced below: compare with the name, not the node)
        for stmt in ast.walk(flow.fn):
            if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                    and stmt.targets[0].id == name):
                node = stmt.value
    if isinstance(node, ast.Call):
        op = flow.op(node)
        if op is not None and short(op) == "squeeze":
            return node
    return None


def _remove_squeeze(ctx: LossContext, flow: Flow, squeeze: ast.Call) -> Fix | None:
    inner = arg(squeeze, 0, "input", "x", "a")
    if inner is None:
        return None
    return ctx.replace("Remove the squeeze (Keras aligns the ranks on this path)", squeeze,
                       ctx.text(inner, flow), "unsafe", flow)


def _add_squeeze(ctx: LossContext, flow: Flow, true_side: ast.AST, pred_side: ast.AST, t: int, p: int) -> Fix | None:
    if p == t + 1:
        target = pred_side
    elif t == p + 1:
        target = true_side
    else:
        return None
    tf = ctx.file.tf()
    return ctx.replace(f"Squeeze `{ctx.text(target, flow)}` to rank {min(t, p)}", target,
                       f"{tf}.squeeze({ctx.text(target, flow)}, axis=-1)", "unsafe", flow, ctx.file.tf_fix_edits())


RULE = Rule(
    code="LL301",
    name="rank-mismatch-broadcast",
    severity="warning",
    summary="y_true and y_pred of ranks (B,) and (B, 1) combined elementwise: silent (B, B) broadcast",
    why=(
        "`y_true - y_pred` with shapes (B,) and (B, 1) broadcasts to (B, B): every label is compared with "
        "every prediction, the mean of that matrix is minimised by predicting the batch mean, and nothing "
        "raises. Whether it happens depends on the call path: Keras expands (B,) labels to (B, 1) before "
        "calling a plain function given to `compile` (so adding `tf.squeeze(y_pred)` there *creates* the "
        "bug), but a `keras.losses.Loss` subclass's `call` and a loss called directly in a custom training "
        "loop receive the arrays as they are. Measured: the true MSE after training is about 830 times worse."
    ),
    example=(
        "import keras\nimport tensorflow as tf\n\n"
        "class MSE(keras.losses.Loss):\n"
        "    def call(self, y_true, y_pred):  # loss-lsp: shapes y_true=(8,) y_pred=(8, 1)\n"
        "        return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)\n"
    ),
    fixed=(
        "import keras\nimport tensorflow as tf\n\n"
        "class MSE(keras.losses.Loss):\n"
        "    def call(self, y_true, y_pred):  # loss-lsp: shapes y_true=(8,) y_pred=(8, 1)\n"
        "        return tf.reduce_mean(tf.square(y_true - tf.squeeze(y_pred, axis=-1)), axis=-1)\n"
    ),
    fix_title="`tf.squeeze(y_pred, axis=-1)` on a Loss subclass or direct call; remove the squeeze on the compile path",
    check=check,
)
