"""LL306: y_true and y_pred shapes that cannot broadcast: the first batch raises ``Incompatible shapes``."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding, Fix
from loss_lsp.engine.shapes import as_received, is_int_dtype
from loss_lsp.engine.dataflow import Flow
from loss_lsp.engine.shapes.operands import outcome, received_operand_shapes
from loss_lsp.engine.shapes.values import shape_text
from loss_lsp.rules.rule import Rule

_PATHS = {"loss_class": "a Loss subclass's call gets them as the program makes them",
          "direct": "a direct call gets them as the program makes them",
          "compile": "as Keras passes them to a function given to compile",
          "unknown": "as the program makes them"}


def crash_shapes(ctx: LossContext, flow: Flow, true_side: ast.AST, pred_side: ast.AST) -> tuple[tuple, tuple] | None:
    """The two operand shapes when combining them raises (as the loss receives them on its call path)."""
    if not ctx.shapes.known:
        return None
    y_true, y_pred = as_received(ctx.shapes.y_true, ctx.shapes.y_pred, ctx.loss.call_path)
    found = received_operand_shapes(flow, ctx.loss.params, y_true, y_pred, true_side, pred_side)
    return found if found is not None and outcome(*found) == "crash" else None


def crashes(ctx: LossContext) -> bool:
    """Whether some op of the loss raises at the first batch (nothing after it runs)."""
    return any(crash_shapes(ctx, flow, t, p) is not None
               for flow in ctx.flow.all_flows() for _, t, p in flow.rank_mismatches())


def check(ctx: LossContext) -> Iterator[Finding]:
    for flow in ctx.flow.all_flows():
        for node, true_side, pred_side in flow.rank_mismatches():
            found = crash_shapes(ctx, flow, true_side, pred_side)
            if found is None:
                continue
            t, p = found
            t_text, p_text = ctx.text(true_side, flow), ctx.text(pred_side, flow)
            classes = p[-1] if len(t) + 1 == len(p) and isinstance(p[-1], int) and p[-1] > 1 else None
            sparse = classes is not None and ((ctx.shapes.y_true_domain or "").startswith(("integer", "binary"))
                                              or is_int_dtype(ctx.shapes.y_true_dtype))
            message = (f"`{t_text}` is {shape_text(t)} and `{p_text}` is {shape_text(p)} here "
                       f"({_PATHS.get(ctx.loss.call_path, _PATHS['unknown'])}): they do not "
                       "broadcast, so TensorFlow raises `Incompatible shapes` at the first batch")
            fix: Fix | None = None
            if sparse:
                message += (f"; the labels are class ids and the predictions "
                            f"{classes} class probabilities: one-hot the labels or use a sparse cross-entropy")
                fix = ctx.replace(f"One-hot `{t_text}` ({classes} classes)", true_side,
                                  f"{ctx.file.tf()}.one_hot({ctx.file.tf()}.cast({t_text}, {ctx.file.tf()}.int32), "
                                  f"{classes})", "unsafe", flow, ctx.file.tf_fix_edits())
            elif len(p) == len(t) + 1 and p[-1] == 1:
                fix = ctx.replace(f"Squeeze `{p_text}`'s trailing axis", pred_side,
                                  f"{ctx.file.tf()}.squeeze({p_text}, axis=-1)", "unsafe", flow,
                                  ctx.file.tf_fix_edits())
            elif len(t) == len(p) + 1 and t[-1] == 1:
                fix = ctx.replace(f"Squeeze `{t_text}`'s trailing axis", true_side,
                                  f"{ctx.file.tf()}.squeeze({t_text}, axis=-1)", "unsafe", flow,
                                  ctx.file.tf_fix_edits())
            yield ctx.finding(RULE, node, message, fix, flow)


RULE = Rule(
    code="LL306",
    name="shape-mismatch-crash",
    severity="error",
    summary="y_true and y_pred shapes that cannot broadcast on this call path: the first batch raises",
    why=(
        "Keras aligns only a trailing axis of size 1, and only for a plain function given to `compile`. A "
        "`keras.losses.Loss` subclass or a loss called in a custom loop receives the arrays as the program "
        "makes them: `(N, H, W)` masks against `(N, H, W, 1)` predictions, or `(N,)` class ids against "
        "`(N, K)` probabilities, do not broadcast, and training stops at the first batch with "
        "`InvalidArgumentError: Incompatible shapes`, deep inside the traced train step."
    ),
    example=(
        "import keras\nimport tensorflow as tf\n\n"
        "class Dice(keras.losses.Loss):\n"
        "    def call(self, y_true, y_pred):  # loss-lsp: shapes y_true=(8, 64, 64) y_pred=(8, 64, 64, 1)\n"
        "        inter = tf.reduce_sum(y_true * y_pred, axis=[1, 2])\n"
        "        return 1.0 - 2.0 * inter / (tf.reduce_sum(y_true, axis=[1, 2]) + 1.0)\n"
    ),
    fixed=(
        "import keras\nimport tensorflow as tf\n\n"
        "class Dice(keras.losses.Loss):\n"
        "    def call(self, y_true, y_pred):  # loss-lsp: shapes y_true=(8, 64, 64) y_pred=(8, 64, 64, 1)\n"
        "        inter = tf.reduce_sum(y_true * tf.squeeze(y_pred, axis=-1), axis=[1, 2])\n"
        "        return 1.0 - 2.0 * inter / (tf.reduce_sum(y_true, axis=[1, 2]) + 1.0)\n"
    ),
    fix_title="Squeeze the trailing axis of size 1, or one-hot class-id labels",
    check=check,
)
