"""LL203: sqrt / ** 0.5 / norm of a y_pred-derived value that can be 0."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.rules.common import positive_by_where, arg, constant_number, guarded, library_calls, short, wrap, zero_patched
from loss_lsp.rules.rule import Rule

_NORMS = {"norm", "euclidean_norm", "reduce_euclidean_norm", "l2_norm"}


def check(ctx: LossContext) -> Iterator[Finding]:
    skip: set[int] = set()
    for flow in ctx.flow.all_flows():
        skip |= guarded(flow)
    for flow, node, op in library_calls(ctx):
        name = short(op)
        if name not in {"sqrt", *_NORMS} or id(node) in skip:
            continue
        target = arg(node, 0, "x", "tensor", "input_tensor")
        if target is None or (name == "norm" and not _euclidean(arg(node, 1, "ord"))):
            continue
        v = flow.val(target)
        if not v.pred or v.positive or zero_patched(flow, target) or positive_by_where(flow, target):
            continue
        if _gradient_norm(flow, target):
            continue  # a gradient penalty's norm: the penalty pulls it toward 1, nothing pulls it to 0
        text = ctx.text(target, flow)
        eps = ctx.eps(flow)
        if name == "sqrt":
            fix = ctx.replace("Add epsilon inside the square root", target, f"{wrap(text)} + {eps}", "safe", flow)
        else:
            fix = _norm_fix(ctx, flow, node, text, eps)
        yield ctx.finding(RULE, node, _message(ctx.text(node.func, flow), text), fix, flow)
    for flow in ctx.flow.all_flows():
        for node in flow.nodes((ast.BinOp, ast.Call)):
            base, exponent = _power(flow, node)
            if base is None or exponent is None:
                continue
            power = constant_number(flow, exponent)
            if power is None or not 0 < power < 1:
                continue
            v = flow.val(base)
            if not v.pred or v.positive or id(node) in skip:
                continue
            text = ctx.text(base, flow)
            fix = ctx.replace("Add epsilon before the power", base, f"({wrap(text)} + {ctx.eps(flow)})", "safe", flow)
            spelled = f"** {power:g}" if isinstance(node, ast.BinOp) else f"{ctx.text(node.func, flow)}(..., {power:g})"  # type: ignore[attr-defined]
            yield ctx.finding(RULE, node, _message(spelled, text), fix, flow)


def _euclidean(order: ast.expr | None) -> bool:
    """A norm whose ``ord`` is absent or spelled as the 2-norm: a p-norm with p = 1 (or an ``ord`` passed in
    from elsewhere, which the engine cannot know) has a finite gradient at 0."""
    return order is None or isinstance(order, ast.Constant) and order.value in (2, 2.0, "euclidean", "fro", None)


def _gradient_norm(flow, target: ast.AST) -> bool:  # type: ignore[no-untyped-def]
    """The operand reads only values a tape returned (``grads = tape.gradient(pred, [x])[0]``): the norm
    of a gradient, as in WGAN-GP, which is 0 only where the critic is flat around the sample."""
    results: set[str] = set()
    others: set[str] = set()
    for node in flow.walk():
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value.value if isinstance(node.value, ast.Subscript) else node.value
            is_gradient = (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                           and value.func.attr in ("gradient", "jacobian", "batch_jacobian"))
            (results if is_gradient else others).add(node.targets[0].id)
    read = {n.id for n in ast.walk(target) if isinstance(n, ast.Name) and flow.val(n).pred}
    return bool(read) and read <= results - others


def _power(flow, node: ast.AST) -> tuple[ast.AST | None, ast.AST | None]:  # type: ignore[no-untyped-def]
    """(base, exponent) of ``x ** a`` / ``pow(x, a)`` / ``power(x, a)``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return node.left, node.right
    if isinstance(node, ast.Call) and len(node.args) >= 2:
        op = flow.op(node)
        if op is not None and op.is_tensor_op and short(op) in ("pow", "power"):
            return node.args[0], node.args[1]
    return None, None


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
    root = "sqrt" if func.endswith(("sqrt", "norm", " 0.5", "0.5)")) else "a fractional power"
    return (f"`{func}` of `{text}`, which can be 0: the gradient of {root} is infinite at 0, so a perfect "
            "prediction turns the gradient into NaN")


RULE = Rule(
    code="LL203",
    name="unguarded-sqrt",
    severity="warning",
    summary="`sqrt`, `** 0.5` or `norm` of a value that can be 0 (infinite gradient at 0)",
    why=(
        "d/dx sqrt(x) = 1 / (2 sqrt(x)) is infinite at 0. RMSE-style losses and Euclidean distances reach "
        "0 exactly when the prediction is perfect (or two embeddings coincide); the loss is 0.0 but its "
        "gradient is NaN, so training breaks silently just as it converges. The norm of a gradient a tape "
        "returned (a WGAN-GP penalty, `(norm - 1) ** 2`) is not reported: the penalty pulls it toward 1, and it "
        "is 0 only where the critic is flat around the sample."
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
