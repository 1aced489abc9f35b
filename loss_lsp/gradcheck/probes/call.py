"""Probes `call` and `gradient`: one eager call on the stated inputs under `tf.GradientTape`.

`call` reports what came back (LL402) or what was raised (LL302/LL303/LL404/LL905);
`gradient` reports whether d loss / d y_pred exists at all (None -> LL101/LL102/LL103/LL901).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loss_lsp.gradcheck.probes.subject import Context, describe_type, finite, shape_of, to_float


def probe_call(ctx: Context) -> dict[str, Any]:
    out = ctx.first
    y_true, y_pred = ctx.first_inputs
    shown = {"path": ctx.subject.describe_path(), "y_true": describe_type(y_true)["text"],
             "y_pred": describe_type(y_pred)["text"]}
    if out.error is not None:
        return {"ok": False, "error": ctx.subject.describe_error(out.error), **shown}
    return {
        "ok": True,
        "returned": describe_type(out.raw),
        "raw_shape": shape_of(out.raw),
        "value": to_float(out.value),
        "value_finite": finite(out.value),
        **shown,
    }


def probe_gradient(ctx: Context) -> dict[str, Any]:
    out = ctx.first
    if out.error is not None:
        return {"ok": False, "error": ctx.subject.describe_error(out.error)}
    if out.grad is None:
        return {"ok": True, "none": True}
    grad = np.asarray(out.grad)
    usable = grad[np.isfinite(grad)]
    return {
        "ok": True,
        "none": False,
        "finite": bool(usable.size == grad.size),
        "zero_fraction": float(np.mean(grad == 0)),
        "mean_abs": float(np.mean(np.abs(usable))) if usable.size else None,
    }
