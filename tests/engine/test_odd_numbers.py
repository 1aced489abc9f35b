"""Numbers float() cannot hold (a 400-digit integer literal, 1e400) never become an internal error."""

from __future__ import annotations

from loss_lsp.checker import analyze

BIG = "1" + "0" * 400


def test_huge_literals_anywhere_in_a_loss_are_analysed_without_internal_errors() -> None:
    source = (
        "import tensorflow as tf\n\nEPS = " + BIG + "\n\n\n"
        "def loss(y_true, y_pred, gamma=" + BIG + "):\n"
        "    if y_true is None:\n"
        "        return " + BIG + "\n"
        "    p = tf.clip_by_value(y_pred, 0.0, " + BIG + ")\n"
        "    q = tf.exp(" + BIG + " * tf.sigmoid(y_pred) + 1e400) + tf.math.pow(p, 1 / gamma) + p ** " + BIG + "\n"
        "    return tf.reduce_mean(q * y_true + tf.math.log(p + EPS))\n"
    )
    analysis = analyze(source, "big.py")
    assert not [e.message for e in analysis.errors if "internal error" in e.message]
    assert analysis.findings  # still checked: the literal `return <number>` is reported (LL402)
