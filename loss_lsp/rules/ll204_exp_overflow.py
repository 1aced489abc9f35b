"""LL204: exp of an unbounded y_pred-derived value."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding, Fix
from loss_lsp.rules.common import arg, library_calls, parents, short
from loss_lsp.rules.rule import Rule


def check(ctx: LossContext) -> Iterator[Finding]:
    for flow, node, op in library_calls(ctx):
        if short(op) != "exp":
            continue
        target = arg(node, 0, "x")
        if target is None:
            continue
        v = flow.val(target)
        if not v.pred or v.nonpos:
            continue
        if v.high is not None and v.high <= _FLOAT32_EXP_LIMIT:
            continue  # proven small enough (exp(-ce), exp(64 * sigmoid(x)))
        if v.high is None and v.bounded:
            continue  # bounded by an unknown amount: the engine does not know, so it says nothing
        up = parents(flow)
        fix = _softplus(ctx, flow, node, target, up) or _logsumexp(ctx, flow, node, target, up)
        yield ctx.finding(
            RULE, node,
            f"`{ctx.text(node.func, flow)}` of {_described(v, ctx.text(target, flow))} overflows float32 above "
            "~88: the loss becomes inf and the gradient NaN", fix, flow)


def _described(v, text: str) -> str:  # type: ignore[no-untyped-def]
    if v.high is None:
        return f"the unbounded `{text}`"
    return f"`{text}`, which reaches {v.high:g},"


_FLOAT32_EXP_LIMIT = 88.7  # exp(88.72) is float32's largest finite value


def _is_log(ctx: LossContext, flow, node: ast.AST | None) -> bool:  # type: ignore[no-untyped-def]
    if not isinstance(node, ast.Call):
        return False
    op = flow.op(node)
    return op is not None and short(op) in ("log",)


def _softplus(ctx: LossContext, flow, exp: ast.Call, x: ast.AST, up: dict[int, ast.AST]) -> Fix | None:  # type: ignore[no-untyped-def]
    """log(1 + exp(x)) -> softplus(x)."""
    add = up.get(id(exp))
    if not (isinstance(add, ast.BinOp) and isinstance(add.op, ast.Add)):
        return None
    other = add.left if add.right is exp else add.right
    if not (isinstance(other, ast.Constant) and other.value == 1):
        return None
    log = up.get(id(add))
    if not _is_log(ctx, flow, log):
        return None
    tf = ctx.file.tf()
    return ctx.replace("Use softplus", log, f"{tf}.math.softplus({ctx.text(x, flow)})", "safe", flow,
                       ctx.file.tf_fix_edits())


def _logsumexp(ctx: LossContext, flow, exp: ast.Call, x: ast.AST, up: dict[int, ast.AST]) -> Fix | None:  # type: ignore[no-untyped-def]
    """log(reduce_sum(exp(x), axis)) -> reduce_logsumexp(x, axis)."""
    total = up.get(id(exp))
    if not isinstance(total, ast.Call) or not total.args or total.args[0] is not exp:
        return None
    op = flow.op(total)
    if op is None or short(op) not in ("reduce_sum", "sum"):
        return None
    log = up.get(id(total))
    if not _is_log(ctx, flow, log):
        return None
    rest = [ctx.text(a, flow) for a in total.args[1:]] + [f"{kw.arg}={ctx.text(kw.value, flow)}"
                                                          for kw in total.keywords]
    tf = ctx.file.tf()
    args = ", ".join([ctx.text(x, flow), *rest])
    return ctx.replace("Use reduce_logsumexp", log, f"{tf}.reduce_logsumexp({args})", "safe", flow,
                       ctx.file.tf_fix_edits())


RULE = Rule(
    code="LL204",
    name="exp-overflow",
    severity="warning",
    summary="`exp` of an unbounded y_pred-derived value (overflows to inf)",
    why=(
        "float32 `exp` overflows to inf for inputs above about 88.7. Logits and regression outputs are "
        "unbounded, so one large prediction makes the loss inf and the gradient NaN. `softplus` and "
        "`reduce_logsumexp` compute the usual `log(1 + exp(x))` and `log(sum(exp(x)))` without overflowing."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def logistic(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.math.log(1 + tf.exp(-y_true * y_pred)))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def logistic(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.math.softplus(-y_true * y_pred))\n"
    ),
    fix_title="Use `softplus` / `reduce_logsumexp` where the pattern allows",
    check=check,
)
