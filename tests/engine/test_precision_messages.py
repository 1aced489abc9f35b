"""What a finding says must be what happens: no promise of a failure the user's training will not see."""

from __future__ import annotations

from loss_lsp.checker import analyze

_HEADER = "import tensorflow as tf\n\n\n"


def _messages(body: str, code: str) -> list[str]:
    return [f.message for f in analyze(_HEADER + body, "m.py").findings if f.code == code]


def test_a_threshold_that_is_the_only_path_promises_no_gradient() -> None:
    (message,) = _messages("def loss(y_true, y_pred):\n"
                           "    return tf.reduce_mean(tf.abs(y_true - tf.cast(y_pred > 0.5, tf.float32)))\n", "LL103")
    assert "GradientTape returns None" in message


def test_a_threshold_beside_a_differentiable_term_does_not() -> None:
    (message,) = _messages("def loss(y_true, y_pred):\n"
                           "    hard = tf.cast(y_pred > 0.5, tf.float32)\n"
                           "    return tf.reduce_mean(tf.square(y_true - y_pred) + tf.abs(y_true - hard))\n", "LL103")
    assert "GradientTape returns None" not in message and "other terms" in message


def test_an_exp_overflow_names_the_bound_it_proved() -> None:
    (message,) = _messages("def loss(y_true, y_pred):\n"
                           "    return tf.reduce_mean(y_true * tf.exp(120.0 * tf.sigmoid(y_pred)))\n", "LL204")
    assert "reaches 120" in message
