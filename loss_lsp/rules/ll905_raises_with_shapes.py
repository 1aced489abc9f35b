"""LL905: the loss raised in the gradient check (metadata only; produced by loss_lsp.gradcheck)."""

from __future__ import annotations

from loss_lsp.rules.rule import Rule

RULE = Rule(
    code="LL905",
    name="raises-with-shapes",
    severity="error",
    summary="The loss raises with the shapes and dtypes the code states",
    why=(
        "The gradient check called the loss the way its call site does, with inputs of the shapes and "
        "dtypes the code states (the model's last layer, `Input(shape=...)`, the arrays given to `fit`, or a "
        "`# loss-lsp: shapes` hint), eagerly and inside `tf.function` as `fit` runs it, and it raised. "
        "The evidence quotes the exception and the line. Training would stop at the first batch."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def per_class(y_true, y_pred):  # loss-lsp: shapes y_true=(8, 3) y_pred=(8, 3)\n"
        "    return tf.reduce_mean(tf.square(y_true - y_pred), axis=2)\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def per_class(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)\n"
    ),
    fix_title="Make the loss accept the shapes and dtypes it is called with",
    scope="gradient-check",
)
