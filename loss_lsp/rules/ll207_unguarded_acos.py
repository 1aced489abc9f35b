"""LL207: acos / asin of a y_pred-derived value that is not kept inside (-1, 1)."""

from __future__ import annotations

from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.rules.common import arg, library_calls, short
from loss_lsp.rules.rule import Rule

_ARC = {"acos", "asin", "arccos", "arcsin"}


def check(ctx: LossContext) -> Iterator[Finding]:
    eps = ctx.file.eps()
    for flow, node, op in library_calls(ctx):
        if short(op) not in _ARC:
            continue
        target = arg(node, 0, "x")
        if target is None:
            continue
        v = flow.val(target)
        if not v.pred or v.below_one:
            continue
        text = ctx.text(target, flow)
        clip = _clip(ctx, text, eps)
        fix = ctx.replace("Clip the argument to [-1 + eps, 1 - eps]", target, clip, "safe", flow,
                          ctx.file.tf_fix_edits() if clip.startswith(ctx.file.tf()) else ())
        yield ctx.finding(
            RULE, node,
            f"`{ctx.text(node.func, flow)}` of `{text}`: a cosine of normalised vectors reaches ±1 exactly "
            "(identical embeddings) and rounds just outside it; there the gradient is infinite and outside "
            "it the value is NaN", fix, flow)


def _clip(ctx: LossContext, text: str, eps: str) -> str:
    ops = ctx.file.ops()
    if ops:
        return f"{ops}.clip({text}, -1.0 + {eps}, 1.0 - {eps})"
    backend = ctx.file.backend()
    if backend:
        return f"{backend}.clip({text}, -1.0 + {eps}, 1.0 - {eps})"
    return f"{ctx.file.tf()}.clip_by_value({text}, -1.0 + {eps}, 1.0 - {eps})"


RULE = Rule(
    code="LL207",
    name="unguarded-acos",
    severity="warning",
    summary="`acos` / `asin` of a y_pred-derived value not clipped inside (-1, 1)",
    why=(
        "d/dx acos(x) = -1 / sqrt(1 - x^2) is infinite at x = ±1, and acos is NaN just outside [-1, 1]. "
        "Angular losses take acos of a cosine similarity: identical embeddings give exactly 1, and the "
        "dot product of two L2-normalised float32 vectors regularly rounds to 1.0000001. The loss or its "
        "gradient becomes NaN as soon as two embeddings coincide."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def angular(y_true, y_pred):\n"
        "    cos = tf.reduce_sum(tf.math.l2_normalize(y_true, -1) * tf.math.l2_normalize(y_pred, -1), -1)\n"
        "    return tf.reduce_mean(tf.math.acos(cos))\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def angular(y_true, y_pred):\n"
        "    cos = tf.reduce_sum(tf.math.l2_normalize(y_true, -1) * tf.math.l2_normalize(y_pred, -1), -1)\n"
        "    return tf.reduce_mean(tf.math.acos(tf.clip_by_value(cos, -1.0 + 1e-7, 1.0 - 1e-7)))\n"
    ),
    fix_title="Clip the argument to [-1 + eps, 1 - eps]",
    check=check,
)
