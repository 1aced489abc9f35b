"""LL204: exp of an unbounded y_pred-derived value."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding, Fix
from loss_lsp.rules.common import arg, library_calls, parents, short
from loss_lsp.rules.rule import Rule


def check(ctx: LossContext) -> Iterator[Finding]:
    calls = [(flow, node, op) for flow, node, op in library_calls(ctx) if short(op) == "exp"]
    kept_small = {(id(flow), name) for flow, node, _ in calls for name in _penalised_exponent(flow, node)}
    for flow, node, op in calls:
        target = arg(node, 0, "x")
        if target is None:
            continue
        if (id(flow), _scaled_name(target)) in kept_small:
            continue  # a Gaussian KL term `1 + v - exp(v)` keeps v near 0 (evidence: vae_kl_exp_log_var.py)
        v = flow.val(target)
        if not v.pred or v.nonpos:
            continue
        if v.high is not None and v.high <= _FLOAT32_EXP_LIMIT:
            continue  # proven small enough (exp(-ce), exp(64 * sigmoid(x)))
        if v.high is None and (v.bounded or v.opaque):
            continue  # bounded by an unknown amount, or computed by a callable it cannot see: it says nothing
        up = parents(flow)
        fix = _softplus(ctx, flow, node, target, up) or _logsumexp(ctx, flow, node, target, up)
        yield ctx.finding(
            RULE, node,
            f"`{ctx.text(node.func, flow)}` of {_described(v, ctx.text(target, flow))} overflows float32 above "
            "~88: the loss becomes inf and the gradient NaN", fix, flow)


def _penalised_exponent(flow, exp: ast.Call) -> list[str]:  # type: ignore[no-untyped-def]
    """``v`` when ``exp(v)`` sits in a sum that also has ``v`` with the opposite sign: the Gaussian KL term
    ``-0.5 * (1 + v - mu**2 - exp(v))`` (or ``exp(v) - v - 1``). Its minimum is at v = 0 and it grows like
    exp(v), so training drives a log-variance down, never up to exp's overflow at ~88."""
    target = arg(exp, 0, "x")
    if not isinstance(target, ast.Name):
        return []
    up = parents(flow)
    top: ast.AST = exp
    sign = {id(exp): 1}
    while isinstance(up.get(id(top)), (ast.BinOp, ast.UnaryOp)):
        parent = up[id(top)]
        if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub):
            sign[id(parent)] = -sign[id(top)]
        elif isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Add, ast.Sub)):
            flips = isinstance(parent.op, ast.Sub) and parent.right is top
            sign[id(parent)] = -sign[id(top)] if flips else sign[id(top)]
        else:
            break
        top = parent
    return [target.id] if any(s == -sign[id(exp)] for s in _term_signs(top, target.id, sign[id(top)])) else []


def _term_signs(node: ast.AST, name: str, sign: int) -> Iterator[int]:
    """The signs with which the bare name ``name`` enters the additive expression ``node``."""
    if isinstance(node, ast.Name) and node.id == name:
        yield sign
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield from _term_signs(node.operand, name, -sign)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        yield from _term_signs(node.left, name, sign)
        yield from _term_signs(node.right, name, -sign if isinstance(node.op, ast.Sub) else sign)


def _scaled_name(node: ast.AST) -> str:
    """``v`` for ``v``, ``0.5 * v`` or ``v / 2`` (a factor of at most 1: the sampling step's exp(0.5 * v))."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
        constant_first = isinstance(node.op, ast.Mult) and isinstance(node.left, ast.Constant)
        factor, inner = (node.left, node.right) if constant_first else (node.right, node.left)
        if isinstance(factor, ast.Constant) and isinstance(factor.value, (int, float)) and factor.value > 0 and (
                factor.value <= 1 if isinstance(node.op, ast.Mult) else factor.value >= 1):
            node = inner
    return node.id if isinstance(node, ast.Name) else ""


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
        "`reduce_logsumexp` compute the usual `log(1 + exp(x))` and `log(sum(exp(x)))` without overflowing. "
        "A VAE's Gaussian KL term `-0.5 * (1 + v - mu**2 - exp(v))` is not reported, nor `exp(0.5 * v)` of the "
        "same log-variance `v`: the term has its minimum at v = 0 and grows like exp(v), so training pushes v "
        "down. Measured on the Keras guide's VAE (benchmarks/triage/evidence/vae_kl_exp_log_var.py): the "
        "largest log-variance was 0.07 at initialisation and 3.3 in training on inputs in [0, 1], and 16.8 on "
        "raw 0-255 pixels, falling from there; every loss and gradient stayed finite."
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
