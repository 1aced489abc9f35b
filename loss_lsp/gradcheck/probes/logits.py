"""Probe `logits-wiring`: how the loss and its gradient w.r.t. y_pred behave as the predictions get
confidently wrong (LL308).

From the program's first inputs, y_pred moves along the loss's own ascent direction (the sign of
its gradient) by 0, FAR/2 and FAR score units per entry. A cross-entropy on logits keeps growing
linearly there (its gradient softmax(z) - y tends to -y); an extra softmax/sigmoid in front of a
`*_with_logits` loss saturates, so the loss stops growing and the gradient w.r.t. the scores
shrinks like e^-FAR/2. Swapped labels/logits make the loss linear in y_pred: the same gradient at
every point.

When the model ends in a softmax/sigmoid, the walk moves the scores before it (y_pred stays an
output the model can produce) and the gradient is taken w.r.t. those scores.

Both the eager call and the `tf.function` (autograph off) are measured: in a graph Keras's
cross-entropies take the logits back from a Softmax/Sigmoid op (and from Keras's own activations
even eagerly), so the double activation may be harmless where the loss actually runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from loss_lsp.gradcheck.probes.subject import USER_ERRORS, Context, reraise_fatal, to_float

FAR = 20.0  # score units: e^-10 at the middle point already separates a saturated activation from a live one

Step = Callable[[Any, Any], tuple[Any, Any]]  # (y_true, y_pred) -> (loss, dL/dy_pred or None)


def _max_abs(grad: np.ndarray) -> float:
    return float(np.max(np.abs(grad))) if grad.size else 0.0


def _model_activation(ctx: Context) -> tuple[Callable[[Any], Any], str]:
    """The model's own last activation (Keras's, as its output layer applies it), or none."""
    if ctx.inputs.softmax:
        return keras.activations.softmax, "softmax"
    if ctx.inputs.pred_range == "sigmoid":
        return keras.activations.sigmoid, "sigmoid"
    return (lambda z: z), ""


def _scores(y_pred: Any, activation: str) -> Any:
    """Scores z the model's activation turns into y_pred (y_pred itself when it ends linearly)."""
    if activation == "softmax":
        return tf.math.log(y_pred)
    if activation == "sigmoid":
        return tf.math.log(y_pred) - tf.math.log1p(-y_pred)
    return y_pred


def probe_logits_wiring(ctx: Context) -> dict[str, Any]:
    y_true, y_pred = ctx.first_inputs
    activate, activation = _model_activation(ctx)
    subject = ctx.subject

    # Walk the scores before the model's activation: y_pred must stay an output the model can produce.
    def eager(t: Any, z: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            tape.watch(z)
            value = subject.reduce(subject.raw(t, activate(z)))
        return value, tape.gradient(value, z)

    graph = tf.function(eager, autograph=False, reduce_retracing=False)

    result: dict[str, Any] = {"ok": True, "activation": activation}
    start = _scores(tf.cast(y_pred, tf.float32), activation)
    for mode, step in (("eager", eager), ("graph", graph)):
        try:
            result[mode] = _walk(step, y_true, start)
        except USER_ERRORS as exc:
            reraise_fatal(exc)
            result[mode] = {"ok": False, "error": subject.describe_error(exc)}
    return result


def _walk(step: Step, y_true: Any, y_pred: Any) -> dict[str, Any]:
    value, grad = step(y_true, y_pred)
    if grad is None:
        return {"ok": True, "none": True}
    direction = tf.sign(tf.convert_to_tensor(grad, tf.float32))
    losses: list[float | None] = []
    grads: list[np.ndarray] = []
    for distance in (0.0, FAR / 2, FAR):
        if distance:
            value, grad = step(y_true, y_pred + distance * direction)
        if grad is None:
            return {"ok": True, "none": True}
        losses.append(to_float(value))
        grads.append(np.asarray(grad, dtype=np.float64))
    scale = max(_max_abs(grads[0]), _max_abs(grads[-1]))
    first_half = None if None in losses else losses[1] - losses[0]  # type: ignore[operator]
    return {
        "ok": True,
        "none": False,
        "distances": [0.0, FAR / 2, FAR],
        "losses": losses,
        "max_grad": [_max_abs(g) for g in grads],
        # growth of the loss over the second half of the walk relative to the first: ~1 for a live cross-entropy
        "growth": (losses[2] - losses[1]) / first_half if first_half else None,  # type: ignore[operator]
        # change of the gradient between the first and the farthest point, relative to its size
        "grad_change": _max_abs(grads[-1] - grads[0]) / scale if scale else 0.0,
    }
