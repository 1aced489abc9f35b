"""LL904: the gradient check saw a silent broadcast (metadata only; produced by loss_lsp.gradcheck)."""

from __future__ import annotations

from loss_lsp.rules.rule import Rule

RULE = Rule(
    code="LL904",
    name="silent-broadcast",
    severity="error",
    summary="y_true and y_pred broadcast into a (batch, batch) tensor inside the loss",
    why=(
        "With the shapes the code states, an elementwise operation of the loss combined a (B,) tensor with a "
        "(B, 1) tensor and produced a (B, B) one: every target is compared with every prediction. Nothing "
        "fails, the loss is just the mean over all B x B pairs, and the model converges to the batch mean. "
        "Keras aligns the ranks only for a plain function passed to `compile`, not for a `Loss` subclass "
        "or a custom training loop. Only a (B, B) tensor computed from the targets on one side and the "
        "predictions on the other is reported: pairs built on purpose (RankNet's "
        "`y_pred - tf.transpose(y_pred)`, pairwise distances, a same-label mask from `y_true`) are not."
    ),
    example=(
        "import keras\n"
        "import tensorflow as tf\n\n"
        "class SquaredError(keras.losses.Loss):\n"
        "    def call(self, y_true, y_pred):  # y_true (B,), y_pred (B, 1)\n"
        "        return tf.square(y_true - y_pred)\n"
    ),
    fixed=(
        "import keras\n"
        "import tensorflow as tf\n\n"
        "class SquaredError(keras.losses.Loss):\n"
        "    def call(self, y_true, y_pred):\n"
        "        return tf.square(y_true - tf.squeeze(y_pred, axis=-1))\n"
    ),
    fix_title="Give y_true and y_pred the same shape before combining them (squeeze or reshape)",
    scope="gradient-check",
)
