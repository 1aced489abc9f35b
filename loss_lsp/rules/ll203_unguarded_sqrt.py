"""LL203: sqrt / ** 0.5 / norm of a y_pred-derived value that can be 0."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.rules.common import arg, library_calls, naive_guards, short, wrap
from loss_lsp.rules.rule import Rule

_NORMS = {"norm", "euclidean_norm", "reduce_euclidean_norm", "l2_norm"}


def check(ctx: LossContext) -> Iterator[Finding]:
    guarded: set[int] = set()
    for flow in ctx.flow.all_flows():
        guarded |= set(naive_guards(flow))
    for flow, node, op in library_calls(ctx):
        name = short(op)
        if name not in {"sqrt", *_NORMS} or id(node) in guarded:
            continue
        target = arg(node, 0, "x", "tensor", "input_tensor")
        if target is None:
            continue
        v = flow.val(target)
        if not v.pred or v.positive:
            continue
        text = ctx.text(target, flow)
        eps = ctx.eps(flow)
        if name == "sqrt":
            fix = ctx.replace("Add epsilon inside the square root", target, f"{wrap(text)} + {eps}", "safe", flow)
        else:
            fix = _norm_fix(ctx, flow, node, text, eps)
        yield ctx.finding(RULE, node, _message(ctx.text(node.func, flow), text), fix, flow)
    for flow in ctx.flow.all_flows():
        for node in flow.nodes(ast.BinOp):
            assert isinstance(node, ast.BinOp)
            exponent = node.right
            if not (isinstance(node.op, ast.Pow) and isinstance(exponent, ast.Constant)
                    and isinstance(exponent.value, float) and 0 < exponent.value < 1):
                continue
            v = flow.val(node.left)
            if not v.pred or v.positive or id(node) in guarded:
                continue
            text = ctx.text(node.left, flow)
            fix = ctx.replace("Add epsilon before the power", node.left, f"({wrap(text)} + {ctx.eps(flow)})", "safe",
                              flow)
            yield ctx.finding(RULE, node, _message(f"** {exponent.value}", text), fix, flow)


def _norm_fix(ctx: LossContext, flow, node: ast.Call, text: str, eps: str):  # type: ignore[no-untyped-def]
    extra = [kw for kw in node.keywords if kw.arg not in ("axis", "keepdims")]
    if extra or len(node.args) > 1:
        return None
    tf = ctx.file.tf()
    kwargs = "".join(f", {kw.arg}={ctx.text(kw.value, flow)}" for kw in node.keywords)
    return ctx.replace("Write the norm as sqrt(sum(x^2) + eps)", node,
                       f"{tf}.sqrt({tf}.reduce_sum({tf}.square({text}){kwargs}) + {eps})", "safe", flow,
                       ctx.file.tf_fix_edits())


def _message(func: str, text: str) -> str:
    return (f"`{func}` of `{text}`, which can be 0: the gradient of sqrt is infinite at 0, so a perfect "
            "prediction turns the gradient into NaN")


RULE = Rule(
    code="LL203",
    name="unguarded-sqrt",
    severity="warning",
    summary="`sqrt`, `** 0.5` or `norm` of a value that can be 0 (infinite gradient at 0)",
    why=(
        "d/dx sqrt(x) = 1 / (2 sqrt(x)) is infinite at 0. RMSE-style losses and Euclidean distances reach "
        "0 exactly when the prediction is perfect (or two embeddings coincide); the loss is 0.0 but its "
        "gradient is NaN, so training breaks silently just as it converges."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def rmse(y_true, y_pred):\n"
        "    return tf.sqrt(tf.reduce_mean(tf.square(y_true - y_pred)))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def rmse(y_true, y_pred):\n"
        "    return tf.sqrt(tf.reduce_mean(tf.square(y_true - y_pred)) + 1e-7)\n"
    ),
    fix_title="Add epsilon inside the square root",
    check=check,
)
