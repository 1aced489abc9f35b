"""LL903: the gradient check produced NaN or Inf (metadata only; produced by loss_lsp.gradcheck)."""

from __future__ import annotations

from loss_lsp.rules.rule import Rule

RULE = Rule(
    code="LL903",
    name="nan-or-inf",
    severity="error",
    summary="NaN or Inf in the loss or its gradient at edge inputs",
    why=(
        "The gradient check fed the loss the values real training reaches: predictions of exactly 0 and 1, "
        "an all-zero target mask, a perfect fit (y_pred == y_true). The loss or its gradient became NaN or "
        "Inf; the evidence names the operation that first produced it (found with "
        "`tf.debugging.enable_check_numerics`) and its line. One NaN in one batch turns every weight into "
        "NaN, and training cannot recover."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def overlap(y_true, y_pred):\n"
        "    shared = tf.reduce_sum(y_true * y_pred)\n"
        "    return 1.0 - shared / tf.reduce_sum(y_true)\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def overlap(y_true, y_pred):\n"
        "    shared = tf.reduce_sum(y_true * y_pred)\n"
        "    return 1.0 - (shared + 1.0) / (tf.reduce_sum(y_true) + 1.0)\n"
    ),
    fix_title="Guard the operation: a smoothing constant, a clip, or an epsilon",
    scope="gradient-check",
)
