"""Inside a loss: the full shape of an operand, and what combining two shapes elementwise does.

An operand's shape is known when it is y_true / y_pred as received (never reassigned) or passed
through operations that keep the shape (cast, clip, log, arithmetic with a constant...). The
batch dimension is -1: a size the program does not fix, so ``-1`` against ``k > 1`` fails unless
the batch happens to be ``k``.
"""

from __future__ import annotations

import ast
from typing import Literal

from loss_lsp.engine.memo import on_node

Outcome = Literal["same", "broadcast", "crash"]
_SAME_SHAPE = {"cast", "clip_by_value", "clip", "log", "exp", "sqrt", "square", "abs", "sigmoid", "tanh",
               "identity", "convert_to_tensor", "stop_gradient", "log1p", "negative", "softplus", "relu",
               "log_sigmoid", "xlogy", "multiply", "add", "subtract", "maximum", "minimum", "pow", "divide",
               "divide_no_nan", "squared_difference", "truediv", "multiply_no_nan", "where"}


def _assignments(fn: ast.AST) -> dict[str, list[ast.AST | None]]:
    """Name -> the values assigned to it in ``fn`` (None for targets that are not a plain name)."""
    def compute() -> dict[str, list[ast.AST | None]]:
        found: dict[str, list[ast.AST | None]] = {}
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    value = node.value if isinstance(target, ast.Name) else None
                    for name in (n.id for n in ast.walk(target) if isinstance(n, ast.Name)):
                        found.setdefault(name, []).append(value)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr, ast.For, ast.comprehension)):
                for name in (n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)):
                    found.setdefault(name, []).append(None)
        return found

    return on_node(fn, "assigned_values", compute)


def operand_shape(fn: ast.AST, node: ast.AST, seeds: dict[str, tuple], op_name: object,
                  depth: int = 0, raw: frozenset[str] = frozenset()) -> tuple | None:
    """The shape of ``node`` in ``fn`` (seeds: parameter -> shape); ``op_name(call)`` names a library call.

    A name assigned once (``p = tf.clip_by_value(y_pred, ...)``, or ``y_pred = tf.squeeze(y_pred, -1)``)
    has the shape of its value; a name assigned more than once is unknown.
    """
    if depth > 12:
        return None
    if isinstance(node, ast.Name):
        values = _assignments(fn).get(node.id, [])
        if not values or node.id in raw:
            return seeds.get(node.id)
        if len(values) == 1 and values[0] is not None:
            # y_pred = tf.squeeze(y_pred, -1): inside the value, the name is the parameter as received
            inner = raw | {node.id} if node.id in seeds else raw
            return operand_shape(fn, values[0], seeds, op_name, depth + 1, inner)
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return ()
    if isinstance(node, ast.UnaryOp):
        return operand_shape(fn, node.operand, seeds, op_name, depth + 1, raw)
    if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.MatMult):
        return _both(operand_shape(fn, node.left, seeds, op_name, depth + 1, raw),
                     operand_shape(fn, node.right, seeds, op_name, depth + 1, raw))
    if isinstance(node, ast.Call) and node.args:
        name = op_name(node)  # type: ignore[operator]
        if name in ("squeeze", "expand_dims", "one_hot"):
            return _reshaped(name, operand_shape(fn, node.args[0], seeds, op_name, depth + 1, raw), node)
        if name not in _SAME_SHAPE:
            return None
        tensors = node.args[1:3] if name == "where" else node.args[:1] if name in (
            "cast", "clip_by_value", "clip") else node.args[:2]
        shape: tuple | None = ()
        for arg in tensors:
            shape = _both(shape, operand_shape(fn, arg, seeds, op_name, depth + 1, raw))
        return shape
    return None


def _int_arg(node: ast.Call, index: int, name: str) -> int | None:
    value = node.args[index] if len(node.args) > index else next(
        (k.value for k in node.keywords if k.arg == name), None)
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) and isinstance(value.operand, ast.Constant):
        value = ast.Constant(-value.operand.value)
    if isinstance(value, ast.Constant) and isinstance(value.value, int) and not isinstance(value.value, bool):
        return value.value
    return None


def _reshaped(name: str, shape: tuple | None, node: ast.Call) -> tuple | None:
    if shape is None:
        return None
    if name == "one_hot":
        depth = _int_arg(node, 1, "depth")
        return (*shape, depth) if depth is not None else None
    axis = _int_arg(node, 1, "axis")
    if name == "expand_dims":
        if axis is None or not -len(shape) - 1 <= axis <= len(shape):
            return None
        position = axis % (len(shape) + 1)
        return (*shape[:position], 1, *shape[position:])
    if axis is None:
        has_axis = len(node.args) > 1 or any(k.arg == "axis" for k in node.keywords)
        if has_axis or any(d is None or d == -1 for d in shape):
            return None
        return tuple(d for d in shape if d != 1)
    if not shape or not -len(shape) <= axis < len(shape) or shape[axis] != 1:
        return None
    position = axis % len(shape)
    return shape[:position] + shape[position + 1:]


def _both(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None:
        return None
    if outcome(a, b) != "same" and a and b:
        return None  # a broadcast inside the operand: leave it to the rules that look at it
    return a if len(a) >= len(b) else b


def outcome(a: tuple, b: tuple) -> Outcome | None:
    """Elementwise ``a op b``: same shape, a broadcast (e.g. (B,) with (B, 1)), a crash, or unknown (None)."""
    result: Outcome = "same"
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == y:
            continue
        if x == 1 or y == 1:
            result = "broadcast"
            continue
        if x is None or y is None:
            return None
        return "crash"  # two different sizes, or the batch against a fixed size k > 1
    return result


def received_operand_shapes(flow: object, params: list[str], y_true: tuple | None, y_pred: tuple | None,
                            true_side: ast.AST, pred_side: ast.AST) -> tuple[tuple, tuple] | None:
    """The shapes of the two sides of an elementwise op in a loss, from the shapes the loss receives
    (``as_received``); None when either is unknown. ``flow`` names library calls (``flow.op``)."""
    if y_true is None or y_pred is None or len(params) < 2:
        return None
    seeds = {params[0]: tuple(y_true), params[1]: tuple(y_pred)}

    def op_name(call: ast.Call) -> str | None:
        op = flow.op(call)  # type: ignore[attr-defined]
        return op.name.rsplit(".", 1)[-1] if op is not None else None

    fn = flow.fn  # type: ignore[attr-defined]
    t = operand_shape(fn, true_side, seeds, op_name)
    p = operand_shape(fn, pred_side, seeds, op_name)
    return (t, p) if t is not None and p is not None else None
