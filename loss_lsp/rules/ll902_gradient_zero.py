"""LL902: the gradient check found an exactly-zero gradient (metadata only; produced by loss_lsp.gradcheck)."""

from __future__ import annotations

from loss_lsp.rules.rule import Rule

RULE = Rule(
    code="LL902",
    name="gradient-zero",
    severity="warning",
    summary="The gradient with respect to y_pred is exactly zero on a large fraction of inputs",
    why=(
        "The gradient check evaluated d loss / d y_pred on random predictions against several targets "
        "(random, all zeros, all ones, uniform) and found entries whose gradient is exactly zero whatever the "
        "target is. Zeros that the targets explain -- terms masked by y_true, a hinge's satisfied region -- "
        "are by design and are not reported. Where the gradient is zero the model gets no signal: training "
        "runs without an error and those predictions never move."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def agreement(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.abs(y_true - tf.math.sign(y_pred - 0.5)))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def agreement(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.abs(y_true - tf.tanh((y_pred - 0.5) * 10.0)))\n"
    ),
    fix_title="Replace the flat step with a smooth one (a steep sigmoid or tanh)",
    scope="gradient-check",
)
