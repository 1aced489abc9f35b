"""Probe `broadcast`: the loss tensor's shape for (B,) labels and (B, 1) predictions, and any
elementwise op that broadcast the two into a (B, B) intermediate (LL301, LL904).

The graph of the traced loss is read op by op: an elementwise op whose output is larger than
both of its (non-scalar) inputs and holds the batch size twice is the silent outer broadcast.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loss_lsp.gradcheck.probes.subject import (
    USER_ERRORS,
    Context,
    Inputs,
    Subject,
    describe_type,
    reraise_fatal,
    shape_of,
)

_ELEMENTWISE = {
    "Sub", "AddV2", "Add", "Mul", "RealDiv", "Div", "DivNoNan", "SquaredDifference", "Maximum", "Minimum",
    "Pow", "FloorDiv", "FloorMod", "Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual",
    "LogicalAnd", "LogicalOr", "Xlogy", "Xdivy", "MulNoNan", "Atan2", "SelectV2", "BiasAdd",
}


def _static(shape: Any) -> list[int] | None:
    try:
        dims = shape.as_list()
    except (ValueError, AttributeError):
        return None
    return None if dims is None or any(d is None for d in dims) else [int(d) for d in dims]


def outer_broadcasts(graph: Any, batch: int, subject: Subject, limit: int = 3) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if batch <= 1:
        return found
    for op in graph.get_operations():
        if op.type not in _ELEMENTWISE or len(op.inputs) < 2 or not op.outputs:
            continue
        shapes = [_static(t.shape) for t in op.inputs]
        out = _static(op.outputs[0].shape)
        if out is None or any(s is None for s in shapes):
            continue
        sizes = [int(np.prod(s)) if s else 1 for s in shapes]  # type: ignore[arg-type]
        big = [size for size in sizes if size > 1]
        if len(big) < 2 or int(np.prod(out)) <= max(sizes) or out.count(batch) < 2:
            continue
        line = subject.user_line(getattr(op, "traceback", None))
        found.append({"op": op.type, "inputs": [tuple(s) for s in shapes if s is not None],
                      "output": tuple(out), "line": line})
        if len(found) >= limit:
            break
    return found


def probe_broadcast(ctx: Context) -> dict[str, Any]:
    """Run with y_true (B,) and y_pred (B, 1) whatever the stated shapes (LL301's case)."""
    stated = ctx.inputs
    batch = stated.y_pred_shape[0] if stated.y_pred_shape else 8
    inputs = Inputs((batch,), (batch, 1), stated.y_true_dtype, stated.seed)
    y_true, y_pred = inputs.true("random"), inputs.pred()
    case = f"y_true {tuple(y_true.shape)} and y_pred {tuple(y_pred.shape)}"
    function = ctx.subject.graph_function()
    try:
        concrete = function.get_concrete_function(y_true, y_pred)
        broadcasts = outer_broadcasts(concrete.graph, batch, ctx.subject)
    except USER_ERRORS as exc:
        reraise_fatal(exc)
        broadcasts = None  # eager-only losses: the raw shape below still tells
    out = ctx.subject.run(y_true, y_pred, gradient=False)
    if out.error is not None:
        return {"ok": False, "case": case, "error": ctx.subject.describe_error(out.error)}
    return {"ok": True, "case": case, "raw_shape": shape_of(out.raw), "returned": describe_type(out.raw)["text"],
            "broadcasts": broadcasts or [], "batch": batch}
