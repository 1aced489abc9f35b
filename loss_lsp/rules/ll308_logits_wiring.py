"""LL308: a cross-entropy on scores wired wrongly: probabilities given as logits (`tf.nn.*_with_logits`, or a
Keras loss function with ``from_logits=True``), labels and predictions swapped, or one-hot labels given to the
sparse loss."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, replace

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.dataflow import Flow
from loss_lsp.engine.findings import Edit, Finding, Fix
from loss_lsp.engine.namespaces import Op
from loss_lsp.engine.values import Val
from loss_lsp.rules.common import short
from loss_lsp.rules.rule import Rule

# TF2 (and tf.compat.v1 since TF 2) take (labels, logits, ...) in this order; TF1's `targets=` is `labels=`.
_WITH_LOGITS = {"softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
                "sparse_softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits",
                "weighted_cross_entropy_with_logits"}
# tf.compat.v1.losses.* take (labels, logits, ...) too, under these names.
_TF1_LOSSES = {"softmax_cross_entropy": ("onehot_labels",), "sigmoid_cross_entropy": ("multi_class_labels",),
               "sparse_softmax_cross_entropy": ("labels",)}
# Keras's loss functions take (y_true, y_pred, from_logits=...); its loss objects take from_logits when built
# and (y_true, y_pred) when called.
_KERAS_FUNCTIONS = {"categorical_crossentropy", "binary_crossentropy", "sparse_categorical_crossentropy",
                    "categorical_focal_crossentropy", "binary_focal_crossentropy"}
_KERAS_CLASSES = {"CategoricalCrossentropy", "BinaryCrossentropy", "SparseCategoricalCrossentropy",
                  "CategoricalFocalCrossentropy", "BinaryFocalCrossentropy"}


@dataclass(frozen=True)
class _Wiring:
    labels: tuple[str, ...]  # keyword names of the labels argument; the first is the one a fix writes
    scores: str  # keyword name of the scores argument
    activates: bool  # whether the loss applies softmax/sigmoid to the scores itself


def _wiring(op: Op, node: ast.Call) -> _Wiring | None:
    name = short(op)
    if op.namespace == "tf" and name in _WITH_LOGITS:
        return _Wiring(("labels", "targets"), "logits", True)
    if op.namespace == "tf" and op.name.startswith("losses.") and name in _TF1_LOSSES:
        return _Wiring(_TF1_LOSSES[name], "logits", True)
    if op.namespace == "losses" and name in _KERAS_FUNCTIONS:
        return _Wiring(("y_true",), "y_pred", _from_logits(node))
    return None


def _from_logits(node: ast.Call) -> bool:
    """``from_logits=True`` written out (a variable or an omitted keyword is not known to be True)."""
    value = next((kw.value for kw in node.keywords if kw.arg == "from_logits"), None)
    return isinstance(value, ast.Constant) and value.value is True


def _wired_calls(ctx: LossContext) -> Iterator[tuple[Flow, ast.Call, str, _Wiring]]:
    """Every cross-entropy call on the path, with its name and argument wiring: library functions, and calls
    of Keras loss objects (``CategoricalCrossentropy(from_logits=True)`` built inline, in a name or on self)."""
    for flow in ctx.flow.all_flows():
        for node in flow.nodes(ast.Call):
            op = flow.op(node)  # type: ignore[arg-type]
            if op is not None and op.namespace in ("tf", "losses"):
                wiring = _wiring(op, node)  # type: ignore[arg-type]
                if wiring is not None:
                    yield flow, node, short(op), wiring  # type: ignore[misc]
                continue
            if op is not None or len(node.args) + len(node.keywords) < 2:  # type: ignore[attr-defined]
                continue  # a loss object is called with (y_true, y_pred)
            built = flow.constructor(node)  # type: ignore[arg-type]
            made = ctx.module.op(built.func, flow.local_imports) if built is not None else None
            if made is not None and made.namespace == "losses" and short(made) in _KERAS_CLASSES:
                yield flow, node, short(made), _Wiring(("y_true",), "y_pred", _from_logits(built))  # type: ignore[misc,arg-type]


def operands(node: ast.Call, wiring: _Wiring) -> tuple[ast.expr | None, ast.expr | None]:
    """(labels, scores) of a call, positional or by keyword."""
    positional = [a for a in node.args if not isinstance(a, ast.Starred)]
    labels = positional[0] if positional else None
    scores = positional[1] if len(positional) > 1 else None
    for kw in node.keywords:
        if kw.arg in wiring.labels:
            labels = kw.value
        elif kw.arg == wiring.scores:
            scores = kw.value
    return labels, scores


def _is_data(v: Val) -> bool:
    """Labels, a placeholder fed with data: no gradient, only values."""
    return v.true and not v.pred and not v.cut


def check(ctx: LossContext) -> Iterator[Finding]:
    for flow, node, name, wiring in _wired_calls(ctx):
        labels, scores = operands(node, wiring)
        if labels is None or scores is None:
            continue
        label_val, score_val = flow.val(labels), flow.val(scores)
        probability = score_val.prob or score_val.ends_in  # an activation in the loss, or the model's last layer
        # Keras's own cross-entropies take the logits back from a softmax/sigmoid output (a Keras activation's,
        # or any such op in a tf.function) and only warn: measured in Keras 3.15, fit trains the same either way.
        if wiring.activates and wiring.scores == "logits" and score_val.pred and probability and (
                not probability.startswith("1-")):
            given = "passed as logits"
            again = "softmax" if "softmax" in name or name.lower().startswith(("categorical", "sparse")) else "sigmoid"
            finding = ctx.finding(
                RULE, scores,
                f"`{ctx.text(scores, flow)}` is a {probability} output {given}: `{name}` applies {again} "
                "again, so the loss saturates and its gradient shrinks toward 0; pass the scores before the "
                "activation", _unwrap_fix(ctx, flow, scores), flow)
            # It trains, badly, without raising: a warning like LL304's double activation (unless the user set one).
            yield replace(finding, severity=ctx.settings.severity_for(RULE.code, "warning"))
        elif label_val.pred and (_is_data(score_val) or _is_constant_target(flow, scores)):
            positional = node.args[:2] == [labels, scores]
            pair = f"{wiring.labels[0]}, {wiring.scores}"
            where = f"positional arguments of `{name}` are ({pair})" if positional else "the keywords are reversed"
            yield ctx.finding(
                RULE, node,
                f"{wiring.labels[0]} and {wiring.scores} are swapped ({where}): `{ctx.text(labels, flow)}` carries "
                f"the gradient but is passed as {wiring.labels[0]}, and `{ctx.text(scores, flow)}` is "
                f"{'a constant target' if _is_constant_target(flow, scores) else 'data'}",
                _swap_fix(ctx, flow, node, labels, scores, wiring), flow)
        elif name.startswith("sparse_softmax") and _one_hot_labels(label_val, score_val):
            yield ctx.finding(
                RULE, labels,
                f"`{ctx.text(labels, flow)}` has the rank of the logits ({score_val.rank}): one-hot labels, but "
                f"`{name}` takes class ids of rank {score_val.rank - 1} (it raises ValueError); use "  # type: ignore[operator]
                "`softmax_cross_entropy_with_logits` for one-hot labels", None, flow)


_CONSTANT_TARGETS = {"ones_like", "zeros_like", "ones", "zeros", "fill", "constant"}


def _is_constant_target(flow: Flow, node: ast.expr) -> bool:
    """``tf.ones_like(d)``: a constant target (the GAN labels of real and fake), never a score to train."""
    op = flow.op(node) if isinstance(node, ast.Call) else None
    return op is not None and short(op) in _CONSTANT_TARGETS and not flow.val(node).pred


def _one_hot_labels(labels: Val, logits: Val) -> bool:
    return (labels.tensor and not labels.integer and labels.rank is not None and labels.rank == logits.rank
            and not labels.pred)


def _unwrap_fix(ctx: LossContext, flow: Flow, scores: ast.expr) -> Fix | None:
    """``logits=tf.nn.softmax(z)`` -> ``logits=z``; nothing when the softmax was applied earlier."""
    if not (isinstance(scores, ast.Call) and scores.args):
        return None
    op = flow.op(scores)
    if op is None or short(op) not in ("softmax", "sigmoid"):
        return None
    return ctx.replace("Pass the scores before the activation", scores, ctx.text(scores.args[0], flow),
                       "unsafe", flow)


def _swap_fix(ctx: LossContext, flow: Flow, node: ast.Call, labels: ast.expr, scores: ast.expr,
              wiring: _Wiring) -> Fix:
    """Each argument goes where the other was (named, when they were positional)."""
    positional = node.args[:2] == [labels, scores]
    label_kw, score_kw = (f"{wiring.labels[0]}=", f"{wiring.scores}=") if positional else ("", "")
    edits = (Edit(ctx.span(labels, flow), f"{label_kw}{ctx.text(scores, flow)}"),
             Edit(ctx.span(scores, flow), f"{score_kw}{ctx.text(labels, flow)}"))
    return Fix("Swap labels and logits", "unsafe", edits)


RULE = Rule(
    code="LL308",
    name="logits-wiring",
    severity="error",
    summary="A cross-entropy on scores given probabilities (`*_with_logits`, `from_logits=True`), labels and "
            "predictions swapped, or one-hot labels to the sparse loss",
    why=(
        "`tf.nn.softmax_cross_entropy_with_logits` and `sigmoid_cross_entropy_with_logits` apply the activation "
        "themselves: given a softmax or sigmoid output, they squash it a second time, the loss saturates and the "
        "gradient nearly vanishes. (Keras's own cross-entropies with `from_logits=True` are not reported for "
        "this: they take the logits back from a softmax/sigmoid output and only warn.) Their "
        "positional order is `(labels, logits)` / `(y_true, y_pred)`; passing the prediction first makes it "
        "the labels (and TF1 refused positional arguments), so the model is trained toward the data instead "
        "of the other way round. "
        "`sparse_softmax_cross_entropy_with_logits` takes class ids of rank `logits.rank - 1`; one-hot labels "
        "raise `ValueError`. Swapped arguments and one-hot labels are errors; an activation applied twice trains "
        "badly without raising and is a warning, as in LL304."
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
