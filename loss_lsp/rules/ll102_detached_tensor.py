"""LL102: a call that detaches y_pred from the graph (.numpy(), float(), stop_gradient, ...)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.engine.namespaces import DETACHING
from loss_lsp.rules.common import arg_vals, short
from loss_lsp.rules.rule import Rule

_METHODS = {"numpy", "tolist", "item"}
_BUILTINS = {"float", "int", "bool"}
_NUMPY = {"array", "asarray", "asanyarray", "copy"}


def check(ctx: LossContext) -> Iterator[Finding]:
    keeps_gradient = ctx.flow.returned().pred
    for flow in ctx.flow.all_flows():
        for node in flow.nodes(ast.Call):
            assert isinstance(node, ast.Call)
            func = node.func
            op = flow.op(node)
            target: ast.AST | None = None
            what = ""
            if op is None and isinstance(func, ast.Attribute) and func.attr in _METHODS:
                if flow.val(func.value).pred:
                    target, what = func.value, f"`.{func.attr}()`"
            elif op is None and isinstance(func, ast.Name) and func.id in _BUILTINS and node.args:
                if flow.val(node.args[0]).pred:
                    target, what = node.args[0], f"`{func.id}()`"
            elif op is not None and op.namespace == "np" and op.name in _NUMPY and node.args:
                if flow.val(node.args[0]).pred:
                    target, what = node.args[0], f"`{ctx.text(func, flow)}()`"
            elif op is not None and op.namespace in ("tf", "ops", "K") and short(op) in DETACHING:
                if any(v.pred for v in arg_vals(flow, node)) and not keeps_gradient:
                    target = node.args[0] if node.args and short(op) == "stop_gradient" else None
                    what = f"`{ctx.text(func, flow)}`"
                    if target is None:
                        yield ctx.finding(RULE, node, _message(what), None, flow)
                        continue
            if target is None:
                continue
            unsafe = op is not None and short(op) == "stop_gradient"
            fix = ctx.replace(f"Remove {what}", node, ctx.text(target, flow), "unsafe" if unsafe else "safe", flow)
            yield ctx.finding(RULE, node, _message(what), fix, flow)


def _message(what: str) -> str:
    return (f"{what} detaches a y_pred-derived tensor from the graph: no gradient reaches the model "
            "through this value")


RULE = Rule(
    code="LL102",
    name="detached-tensor",
    severity="error",
    summary="`.numpy()`, `float()`, `np.array()`, `.tolist()`, `tf.stop_gradient` or `py_function` on the y_pred path",
    why=(
        "These calls hand back a value TensorFlow cannot differentiate: a NumPy array or Python number, "
        "or (for `tf.stop_gradient`, `tf.py_function`, `tf.numpy_function`) a tensor with no gradient. "
        "When every path from y_pred to the loss goes through one, the loss has no gradient and `fit` "
        "stops with `No gradients provided for any variable`. `.numpy()` also fails outright in graph mode."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def loss(y_true, y_pred):\n"
        "    p = tf.constant(y_pred.numpy())\n"
        "    return tf.reduce_mean(tf.square(y_true - p))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def loss(y_true, y_pred):\n"
        "    p = tf.constant(y_pred)\n"
        "    return tf.reduce_mean(tf.square(y_true - p))\n"
    ),
    fix_title="Remove the detaching call and keep the tensor",
    check=check,
)
