"""Probe `batch-scaling`: does the loss grow with the batch size (LL305)?

The same samples twice over (batch 2B) must give the same loss as batch B; a `Loss.call`
that sums over the batch axis doubles instead, and it ignores `sample_weight`.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from loss_lsp.gradcheck.probes.subject import Context, shape_of, to_float


def probe_batch_scaling(ctx: Context) -> dict[str, Any]:
    y_true, y_pred = ctx.first_inputs
    double_true = tf.concat([y_true, y_true], axis=0)
    double_pred = tf.concat([y_pred, y_pred], axis=0)
    one = ctx.subject.run(y_true, y_pred, gradient=False)
    two = ctx.subject.run(double_true, double_pred, gradient=False)
    for out in (one, two):
        if out.error is not None:
            return {"ok": False, "error": ctx.subject.describe_error(out.error)}
    single, double = to_float(one.value), to_float(two.value)
    if single is None or double is None or single == 0:
        return {"ok": True, "ratio": None, "raw_shape": shape_of(one.raw)}
    return {"ok": True, "ratio": double / single, "single": single, "double": double,
            "raw_shape": shape_of(one.raw), "batch": int(y_pred.shape[0])}
