"""LL308: a `tf.nn.*_with_logits` cross-entropy wired wrongly: probabilities given as logits, labels and
logits swapped, or one-hot labels given to the sparse loss."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.dataflow import Flow
from loss_lsp.engine.findings import Edit, Finding, Fix
from loss_lsp.engine.values import Val
from loss_lsp.rules.common import library_calls, short
from loss_lsp.rules.rule import Rule

# TF2 (and tf.compat.v1 since TF 2) take (labels, logits, ...) in this order; TF1's `targets=` is `labels=`.
_WITH_LOGITS = {"softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
                "sparse_softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits",
                "weighted_cross_entropy_with_logits"}
_LABELS = ("labels", "targets")


def operands(node: ast.Call) -> tuple[ast.expr | None, ast.expr | None]:
    """(labels, logits) of a call, positional or by keyword."""
    positional = [a for a in node.args if not isinstance(a, ast.Starred)]
    labels = positional[0] if positional else None
    logits = positional[1] if len(positional) > 1 else None
    for kw in node.keywords:
        if kw.arg in _LABELS:
            labels = kw.value
        elif kw.arg == "logits":
            logits = kw.value
    return labels, logits


def _is_data(v: Val) -> bool:
    """Labels, a placeholder fed with data: no gradient, only values."""
    return v.true and not v.pred and not v.cut


def check(ctx: LossContext) -> Iterator[Finding]:
    for flow, node, op in library_calls(ctx, namespaces=("tf",)):
        name = short(op)
        if name not in _WITH_LOGITS:
            continue
        labels, logits = operands(node)
        if labels is None or logits is None:
            continue
        label_val, logit_val = flow.val(labels), flow.val(logits)
        if logit_val.pred and logit_val.prob and not logit_val.prob.startswith("1-"):
            yield ctx.finding(
                RULE, logits,
                f"`{ctx.text(logits, flow)}` is a {logit_val.prob} output passed as logits: `{name}` applies "
                f"{'softmax' if 'softmax' in name else 'sigmoid'} again, so the loss saturates and its gradient "
                "shrinks toward 0; pass the scores before the activation", _unwrap_fix(ctx, flow, logits), flow)
        elif label_val.pred and _is_data(logit_val):
            positional = node.args[:2] == [labels, logits]
            where = (f"positional arguments of `{name}` are (labels, logits)" if positional
                     else "the keywords are the other way round")
            yield ctx.finding(
                RULE, node,
                f"labels and logits are swapped ({where}): `{ctx.text(labels, flow)}` carries the gradient but "
                f"is passed as the labels, and `{ctx.text(logits, flow)}` is data passed as the logits",
                _swap_fix(ctx, flow, node, labels, logits), flow)
        elif name.startswith("sparse") and _one_hot_labels(label_val, logit_val):
            yield ctx.finding(
                RULE, labels,
                f"`{ctx.text(labels, flow)}` has the rank of the logits ({logit_val.rank}): one-hot labels, but "
                f"`{name}` takes class ids of rank {logit_val.rank - 1} (it raises ValueError); use "
                "`softmax_cross_entropy_with_logits` for one-hot labels", None, flow)  # type: ignore[operator]


def _one_hot_labels(labels: Val, logits: Val) -> bool:
    return (labels.tensor and not labels.integer and labels.rank is not None and labels.rank == logits.rank
            and not labels.pred)


def _unwrap_fix(ctx: LossContext, flow: Flow, logits: ast.expr) -> Fix | None:
    """``logits=tf.nn.softmax(z)`` -> ``logits=z``; nothing when the softmax was applied earlier."""
    if not (isinstance(logits, ast.Call) and logits.args):
        return None
    op = flow.op(logits)
    if op is None or short(op) not in ("softmax", "sigmoid"):
        return None
    return ctx.replace("Pass the scores before the activation", logits, ctx.text(logits.args[0], flow),
                       "unsafe", flow)


def _swap_fix(ctx: LossContext, flow: Flow, node: ast.Call, labels: ast.expr, logits: ast.expr) -> Fix:
    """Each argument goes where the other was (named, when they were positional)."""
    positional = node.args[:2] == [labels, logits]
    edits = (Edit(ctx.span(labels, flow), f"{'labels=' if positional else ''}{ctx.text(logits, flow)}"),
             Edit(ctx.span(logits, flow), f"{'logits=' if positional else ''}{ctx.text(labels, flow)}"))
    return Fix("Swap labels and logits", "unsafe", edits)


RULE = Rule(
    code="LL308",
    name="logits-wiring",
    severity="error",
    summary="A `*_with_logits` cross-entropy given probabilities as logits, labels and logits swapped, or "
            "one-hot labels to the sparse loss",
    why=(
        "`tf.nn.softmax_cross_entropy_with_logits` and `sigmoid_cross_entropy_with_logits` apply the activation "
        "themselves: given a softmax or sigmoid output as `logits`, they squash it a second time, the loss "
        "saturates and the gradient nearly vanishes. Their positional order is `(labels, logits)`; "
        "passing the prediction first makes it the labels (and TF1 refused positional arguments), so "
        "the model is trained toward the data instead of the other way round. "
        "`sparse_softmax_cross_entropy_with_logits` takes class ids of rank `logits.rank - 1`; one-hot labels "
        "raise `ValueError`."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "x = tf.compat.v1.placeholder(tf.float32, [None, 784])\n"
        "y = tf.compat.v1.placeholder(tf.float32, [None, 10])\n"
        "W = tf.Variable(tf.zeros([784, 10]))\n"
        "probs = tf.nn.softmax(tf.matmul(x, W))\n"
        "loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=probs))\n"
        "train = tf.compat.v1.train.AdamOptimizer().minimize(loss)\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "x = tf.compat.v1.placeholder(tf.float32, [None, 784])\n"
        "y = tf.compat.v1.placeholder(tf.float32, [None, 10])\n"
        "W = tf.Variable(tf.zeros([784, 10]))\n"
        "scores = tf.matmul(x, W)\n"
        "loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=scores))\n"
        "train = tf.compat.v1.train.AdamOptimizer().minimize(loss)\n"
    ),
    fix_title="Pass the pre-activation scores as `logits`, name `labels=`/`logits=` the right way round",
    check=check,
)
