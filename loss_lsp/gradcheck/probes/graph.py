"""Probe `graph`: the loss and its gradient inside `tf.function` (autograph off), as `fit` runs it.

There `.numpy()` does not exist, NumPy cannot convert a symbolic tensor, and a Python `if`
on a tensor raises: confirms LL101/LL102/LL105 where the eager run looked fine.
"""

from __future__ import annotations

from typing import Any

from loss_lsp.gradcheck.probes.broadcast import outer_broadcasts
from loss_lsp.gradcheck.probes.subject import USER_ERRORS, Context, finite, reraise_fatal, to_float


def probe_graph(ctx: Context) -> dict[str, Any]:
    y_true, y_pred = ctx.first_inputs
    function = ctx.subject.graph_function()
    try:
        concrete = function.get_concrete_function(y_true, y_pred)
        value, grad, grad_none = concrete(y_true, y_pred)
    except USER_ERRORS as exc:
        reraise_fatal(exc)
        return {"ok": False, "error": ctx.subject.describe_error(exc)}
    batch = ctx.inputs.y_pred_shape[0] if ctx.inputs.y_pred_shape else 0
    return {
        "ok": True,
        "value": to_float(value),
        "value_finite": finite(value),
        "grad_none": bool(grad_none),
        "grad_finite": finite(grad) if not bool(grad_none) else None,
        "broadcasts": outer_broadcasts(concrete.graph, batch, ctx.subject),
    }
