"""LL901: the gradient check found no gradient at all (metadata only; produced by loss_lsp.gradcheck)."""

from __future__ import annotations

from loss_lsp.rules.rule import Rule

RULE = Rule(
    code="LL901",
    name="gradient-none",
    severity="error",
    summary="The gradient of the loss with respect to y_pred is None",
    why=(
        "The gradient check ran the loss under `tf.GradientTape` and asked for d loss / d y_pred: TensorFlow "
        "returned `None`, so no operation connects the loss value to the predictions. `fit` stops with "
        "`No gradients provided for any variable`. No static rule pointed at the cause; look for a step "
        "(`round`, a comparison cast to float, `argmax`), a NumPy round trip or `stop_gradient` on the "
        "path from y_pred to the returned value."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def hit_rate(y_true, y_pred):\n"
        "    hits = tf.math.equal(tf.math.rint(y_pred), y_true)\n"
        "    return 1.0 - tf.reduce_mean(tf.cast(hits, tf.float32))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def hit_rate(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.abs(y_true - y_pred))\n"
    ),
    fix_title="Compute the loss from y_pred with differentiable operations only",
    scope="gradient-check",
)
