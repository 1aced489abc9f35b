"""Probe `zero-gradient`: the fraction of y_pred entries whose gradient is exactly zero
whatever the targets are (LL103's `sign`, LL104, LL902).

Each y_pred draw is tried against several targets (random, all zeros, all ones, uniform;
for class labels: random, all class 0, every class in turn). An entry counts as dead only
if its gradient is zero against every one of them: zeros that a y_true mask or a hinge's
satisfied region explains change with the targets and are by design.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loss_lsp.gradcheck.probes.subject import Context, Inputs

DRAWS = 1
BATCH = 64  # more points than the stated batch, so the fraction means something


def probe_zero_gradient(ctx: Context) -> dict[str, Any]:
    stated = ctx.inputs
    bigger = stated.resized(BATCH)
    result = _zero_fraction(ctx, bigger)
    if not result.get("ok"):  # a loss tied to its batch size
        result = _zero_fraction(ctx, stated)
    return result


def _zero_fraction(ctx: Context, inputs: Inputs) -> dict[str, Any]:
    dead = 0
    total = 0
    zero_somewhere = 0
    for draw in range(DRAWS):
        y_pred = inputs.pred(draw=draw + 1)
        alive = np.zeros(tuple(y_pred.shape), dtype=bool)
        seen_zero = np.zeros_like(alive)
        for kind in inputs.target_kinds():
            out = ctx.subject.run(inputs.true(kind, draw=draw), y_pred)
            if out.error is not None:
                return {"ok": False, "error": ctx.subject.describe_error(out.error)}
            if out.grad is None:
                return {"ok": True, "none": True}
            grad = np.asarray(out.grad)
            alive |= grad != 0  # NaN counts as alive: the edge probe reports it
            seen_zero |= grad == 0
        dead += int(np.sum(~alive))
        zero_somewhere += int(np.sum(seen_zero & alive))
        total += alive.size
    return {
        "ok": True,
        "none": False,
        "fraction": dead / total if total else 0.0,
        "explained_fraction": zero_somewhere / total if total else 0.0,
        "points": total,
        "targets": list(inputs.target_kinds()),
    }
