"""The silent outer broadcast (LL301, LL904), read from the traced graph of the loss.

An elementwise op whose output is larger than both of its (non-scalar) inputs and holds the
batch size twice builds a (B, B) tensor. Where its inputs come from decides what it is: one side
from the targets only and the other from the predictions is the rank-mismatch bug ((B,) labels
against (B, 1) predictions, or a transpose on one side); both sides from the predictions (RankNet's
`y_pred - tf.transpose(y_pred)`, pairwise distances) or both from the targets (a same-label mask)
build pairs on purpose.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loss_lsp.gradcheck.probes.subject import Subject

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


def _origins(tensor: Any, memo: dict[str, frozenset[str]]) -> frozenset[str]:
    """Which of the step's arguments (y_true, y_pred) a graph tensor is computed from."""
    stack = [tensor.op]
    order = []
    seen: set[str] = set()
    while stack:  # iterative: a long loss graph must not exhaust Python's recursion
        op = stack.pop()
        if op.name in seen or op.name in memo:
            continue
        seen.add(op.name)
        order.append(op)
        stack.extend(t.op for t in op.inputs)
    for op in reversed(order):
        if op.type == "Placeholder":
            memo[op.name] = frozenset({op.name}) & {"y_true", "y_pred"}
        else:
            found: frozenset[str] = frozenset()
            for t in op.inputs:
                found |= memo.get(t.op.name, frozenset())
            memo[op.name] = found
    return memo.get(tensor.op.name, frozenset())


def pairing(sides: list[frozenset[str]]) -> str:
    """target-prediction (the bug), prediction-prediction / target-target (pairs on purpose), or other."""
    if len(sides) == 2:
        a, b = sides
        if (a == {"y_true"} and "y_pred" in b) or (b == {"y_true"} and "y_pred" in a):
            return "target-prediction"
        if a == b == {"y_pred"}:
            return "prediction-prediction"
        if a == b == {"y_true"}:
            return "target-target"
    return "other"


def outer_broadcasts(graph: Any, batch: int, subject: Subject, limit: int = 3) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if batch <= 1:
        return found
    memo: dict[str, frozenset[str]] = {}
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
        big_inputs = [t for t, size in zip(op.inputs, sizes, strict=True) if size > 1]
        line = subject.user_line(getattr(op, "traceback", None))
        found.append({"op": op.type, "inputs": [tuple(s) for s in shapes if s is not None],
                      "output": tuple(out), "line": line,
                      "pairing": pairing([_origins(t, memo) for t in big_inputs])})
        if len(found) >= limit:
            break
    return found
