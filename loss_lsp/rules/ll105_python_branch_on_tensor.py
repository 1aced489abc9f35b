"""LL105: Python control flow (if/while/and/or/bool) on a tensor inside a loss."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.rules.rule import Rule


def check(ctx: LossContext) -> Iterator[Finding]:
    for flow in ctx.flow.all_flows():
        for node in flow.walk():
            if not isinstance(node, (ast.If, ast.While, ast.IfExp, ast.BoolOp, ast.Call)):
                continue
            probe = node.test if isinstance(node, (ast.If, ast.While)) else node
            if not flow.evaluated(probe) or (ctx.loss.kind == "computation" and not flow.is_live(probe)):
                continue  # in a training step only what feeds the differentiated value counts
            test: ast.AST | None = None
            what = ""
            if isinstance(node, (ast.If, ast.While, ast.IfExp)):
                test, what = node.test, {ast.If: "`if`", ast.While: "`while`", ast.IfExp: "`... if ... else`"}[type(node)]
            elif isinstance(node, ast.BoolOp):
                values = [v for v in node.values if _tensor(flow, v)]
                if values:
                    yield ctx.finding(RULE, node, _message("`and`/`or`"), None, flow)
                continue
            elif isinstance(node.func, ast.Name) and node.func.id == "bool" and node.args:
                test, what = node.args[0], "`bool()`"
            if test is None or not _tensor(flow, test) or isinstance(test, ast.BoolOp):
                continue
            scalar = flow.val(test).rank == 0
            yield ctx.finding(RULE, test, _scalar_message(what) if scalar else _message(what), None, flow)


def _scalar_message(what: str) -> str:
    return (f"Python {what} on a tensor: the whole batch takes one branch, chosen from this batch's values; "
            "inside tf.function autograph has to turn it into tf.cond (other Keras backends fail)")


def _tensor(flow, node: ast.AST) -> bool:  # type: ignore[no-untyped-def]
    v = flow.val(node)
    return v.tensor and v.data


def _message(what: str) -> str:
    return (f"Python {what} on a tensor: eagerly it raises for a batch (\"truth value ... is ambiguous\"), "
            "and inside tf.function it decides once for the whole batch, not per element; use `tf.where` "
            "or a smooth weight")


RULE = Rule(
    code="LL105",
    name="python-branch-on-tensor",
    severity="warning",
    summary="Python `if`/`while`/`and`/`or`/`bool()` on a tensor inside a loss",
    why=(
        "A loss receives a whole batch. Python control flow needs one boolean: eagerly, a tensor with more "
        "than one element raises `ValueError: The truth value of an array with more than one element is "
        "ambiguous`; inside `tf.function` autograph turns the `if` into a `tf.cond` over the whole batch "
        "(or fails on other backends), which is not the per-sample choice the code reads as. The gradient "
        "then flows only through the branch taken for the batch."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def loss(y_true, y_pred):\n"
        "    if y_pred > 0.5:\n"
        "        return tf.reduce_mean(tf.square(y_true - y_pred))\n"
        "    return tf.reduce_mean(tf.abs(y_true - y_pred))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def loss(y_true, y_pred):\n"
        "    per_sample = tf.where(y_pred > 0.5, tf.square(y_true - y_pred), tf.abs(y_true - y_pred))\n"
        "    return tf.reduce_mean(per_sample)\n"
    ),
    fix_title="Rewrite with `tf.where` (no automatic fix)",
    check=check,
)
