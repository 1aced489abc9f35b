"""LL305: a Loss subclass's call that reduces over the batch axis.

Only where the batch axis is certain: the reduced tensor is an element-wise function of
y_true/y_pred (so its axis 0 is still the batch), it carries y_pred's gradient, and the
reduction reaches the returned loss. After a matmul, a transpose, a reshape or another
reduction the engine does not know which axis is the batch (Barlow Twins' D x D matrix,
a disjoint graph's node axis), so it says nothing; nor about label-only counts or logged
statistics. On real code the unrestricted version was wrong every time it fired.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Edit, Finding, Fix
from loss_lsp.rules.common import arg, library_calls, short
from loss_lsp.rules.rule import Rule

_SUMS = {"reduce_sum", "sum"}
_ALL = {"reduce_sum", "sum", "reduce_mean", "mean", "reduce_max", "max", "reduce_min", "min"}
# Ops that keep every axis where it is (the batch stays axis 0).
_ELEMENTWISE = {"square", "abs", "log", "log1p", "exp", "sqrt", "maximum", "minimum", "clip_by_value", "clip",
                "sigmoid", "tanh", "relu", "softplus", "add", "subtract", "multiply", "divide", "truediv",
                "squared_difference", "pow", "power", "cast", "convert_to_tensor", "identity", "where",
                "negative", "binary_crossentropy", "divide_no_nan", "huber", "log_cosh", "logcosh"}
_DTYPES = {"float16", "float32", "float64", "bfloat16", "int32", "int64", "bool"}
_MAX_DEPTH = 8


def check(ctx: LossContext) -> Iterator[Finding]:
    if ctx.loss.kind != "loss_class":
        return
    reduced: set[int] = set()  # flagged reductions and the names holding their results
    reduced_names: set[str] = set()
    for flow, node, op in library_calls(ctx):
        name = short(op)
        if name not in _ALL:
            continue
        tensor = arg(node, 0, "input_tensor", "x")
        if tensor is None or not flow.val(tensor).pred or flow.val(tensor).rank == 0:
            continue
        if flow is not ctx.flow or not _elementwise(flow, tensor, set(ctx.loss.params), _assignments(flow.fn)):
            continue  # which axis is the batch is not known here
        if any(id(n) in reduced or (isinstance(n, ast.Name) and n.id in reduced_names) for n in ast.walk(tensor)):
            continue  # already reduced over the batch: report the first reduction only
        axis = arg(node, 1, "axis")
        batch_axis = _has_zero(axis)
        if axis is None and name in _SUMS:
            message = (f"`{ctx.text(node.func, flow)}` over every axis in a Loss's call sums the batch too: the loss "
                       "grows with the batch size and sample_weight is ignored")
        elif batch_axis:
            message = (f"`{ctx.text(node.func, flow)}` over axis 0 reduces the batch inside call: Keras then reduces "
                       "again, sample_weight is ignored and the loss scales with the batch size")
        else:
            continue
        reduced.add(id(node))
        reduced_names.update(_assigned_from(flow.fn, node))
        yield ctx.finding(RULE, node, message, _fix(ctx, flow, node, axis), flow)


def _assignments(fn: ast.AST) -> dict[str, list[ast.expr]]:
    out: dict[str, list[ast.expr]] = {}
    for stmt in ast.walk(fn):
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    out.setdefault(target.id, []).append(stmt.value)
                elif isinstance(target, (ast.Tuple, ast.List)):
                    for elt in ast.walk(target):
                        if isinstance(elt, ast.Name):
                            out.setdefault(elt.id, []).append(target)  # unpacked: not element-wise
        elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            out.setdefault(stmt.target.id, []).append(stmt.value)
    return out


def _elementwise(flow, node: ast.AST, params: set[str], assigned: dict[str, list[ast.expr]],  # type: ignore[no-untyped-def]
                 depth: int = 0) -> bool:
    """Whether ``node`` is an element-wise function of the loss's inputs, so its axis 0 is the batch."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        if node.id in params and node.id not in assigned:
            return True
        values = assigned.get(node.id)
        return bool(values) and all(_elementwise(flow, v, params, assigned, depth + 1) for v in values)
    if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.MatMult):
        return all(_elementwise(flow, n, params, assigned, depth + 1) for n in (node.left, node.right))
    if isinstance(node, ast.UnaryOp):
        return _elementwise(flow, node.operand, params, assigned, depth + 1)
    if isinstance(node, ast.Compare):
        return all(_elementwise(flow, n, params, assigned, depth + 1) for n in (node.left, *node.comparators))
    if isinstance(node, ast.Attribute) and (
            (isinstance(node.value, ast.Name) and node.value.id == "self") or node.attr in _DTYPES):
        return True  # a configured weight, a constant or a dtype
    if isinstance(node, ast.Call):
        op = flow.op(node)
        if op is None or short(op) not in _ELEMENTWISE:
            return False
        values = [a for a in node.args if not isinstance(a, ast.Starred)]
        values += [kw.value for kw in node.keywords if kw.arg not in ("dtype", "name", "from_logits")]
        return all(_elementwise(flow, v, params, assigned, depth + 1) for v in values)
    return False


def _assigned_from(fn: ast.AST, value: ast.AST) -> set[str]:
    return {t.id for stmt in ast.walk(fn) if isinstance(stmt, ast.Assign) and stmt.value is value
            for t in stmt.targets if isinstance(t, ast.Name)}


def _has_zero(axis: ast.AST | None) -> bool:
    items = axis.elts if isinstance(axis, (ast.List, ast.Tuple)) else [axis] if axis is not None else []
    return any(isinstance(i, ast.Constant) and i.value == 0 and not isinstance(i.value, bool) for i in items)


def _fix(ctx: LossContext, flow, node: ast.Call, axis: ast.AST | None) -> Fix | None:  # type: ignore[no-untyped-def]
    if axis is not None:
        return ctx.replace("Reduce over the last axis only", axis, "-1", "unsafe", flow)
    if not node.args:
        return None
    last = node.args[-1]
    end = ctx.span(last, flow)
    insert = Edit(type(end)(end.end_line, end.end_col, end.end_line, end.end_col), ", axis=-1")
    return Fix("Reduce over the last axis only", "unsafe", (insert,))


RULE = Rule(
    code="LL305",
    name="batch-reduction-in-call",
    severity="warning",
    summary="A `Loss.call` that reduces over the batch axis (`axis=0`, or `reduce_sum` of everything)",
    why=(
        "`Loss.call` should return one value per sample; `Loss.__call__` then applies `sample_weight` and "
        "the reduction (`sum_over_batch_size` by default). Reducing over the batch inside `call` hands Keras "
        "a scalar: sample weights and class weights are silently ignored, and a sum makes the loss (and "
        "the effective learning rate under SGD) grow with the batch size. Measured: 32x the per-sample loss "
        "for a batch of 32. The rule reports only reductions of an element-wise function of y_true/y_pred, "
        "where axis 0 is certainly the batch: after a matmul (Barlow Twins' D x D matrix), a reshape or "
        "another reduction (a graph's node axis) it stays quiet, and so it does for label-only counts."
    ),
    example=(
        "import keras\nimport tensorflow as tf\n\n"
        "class SumSquares(keras.losses.Loss):\n"
        "    def call(self, y_true, y_pred):\n"
        "        return tf.reduce_sum(tf.square(y_true - y_pred))\n"
    ),
    fixed=(
        "import keras\nimport tensorflow as tf\n\n"
        "class SumSquares(keras.losses.Loss):\n"
        "    def call(self, y_true, y_pred):\n"
        "        return tf.reduce_sum(tf.square(y_true - y_pred), axis=-1)\n"
    ),
    fix_title="Reduce over the non-batch axes only (`axis=-1`)",
    check=check,
)
