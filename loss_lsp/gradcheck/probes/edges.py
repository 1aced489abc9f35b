"""Probe `edge-inputs`: NaN or Inf in the loss or its gradient at the inputs where unguarded
logs, divisions, square roots and exponentials break (LL201-LL206, LL903).

Edges: y_pred exactly 0 and exactly 1, an all-zero y_true mask (alone and with y_pred = 0),
y_pred == y_true (a perfect fit), and large logits (+-100, only for LL204/LL205: a probability
output never gets there). The first non-finite edge is re-run under
`tf.debugging.enable_check_numerics`, so the evidence names the op that first produced the
NaN/Inf and the user's line that created it.
"""

from __future__ import annotations

import re
import traceback
from typing import Any

import numpy as np
import tensorflow as tf

from loss_lsp.gradcheck.probes.subject import USER_ERRORS, Context, Inputs, Subject, finite, reraise_fatal, to_float

LOGIT = 100.0
MAX_LOCATED = 2


def _edges(inputs: Inputs) -> list[tuple[str, str, Any, Any]]:
    """(name, family, y_true, y_pred); family "probability" or "logit". Only inputs the program can
    produce: exact 0 and 1 are what a saturated sigmoid/softmax gives (one-hot rows for a softmax),
    an all-zero y_true is an empty mask or all class 0 (never one-hot targets), large logits only
    reach a loss whose model ends without a squashing activation."""
    random_true = inputs.true("random")
    zero, one = ("y_pred=0", "y_pred=1") if not inputs.softmax else \
        ("y_pred one-hot on another class (saturated softmax)", "y_pred one-hot (saturated softmax)")
    cases = [
        (zero, "probability", random_true, inputs.pred(0.0)),
        (one, "probability", random_true, inputs.pred(1.0)),
    ]
    if inputs.empty_mask_possible():
        cases += [
            ("all-zero y_true", "probability", inputs.true("zeros"), inputs.pred()),
            (f"all-zero y_true and {zero}", "probability", inputs.true("zeros"), inputs.pred(0.0)),
        ]
    if not inputs.integer and inputs.y_true_shape == inputs.y_pred_shape \
            and (inputs.pred_range != "softmax" or inputs.one_hot):
        same = inputs.true("uniform" if inputs.domain in (None, "continuous") else "random")
        cases.append(("y_pred=y_true", "probability", same, tf.identity(same)))
    if inputs.logits_possible:
        low = LOGIT * inputs.lowest_logit_sign
        shown = f"±{LOGIT:g}" if low else f"{LOGIT:g} and 0 (ReLU)"
        if int(np.prod(inputs.y_pred_shape)) > 1:
            cases.append((f"y_pred={shown} (large logits)", "logit", random_true,
                          _alternating(inputs.y_pred_shape, low=low)))
            if len(inputs.y_pred_shape) >= 2 and inputs.y_pred_shape[-1] > 2:
                # signs alternating along every row too, so a slice of the columns also saturates
                cases.append((f"y_pred={shown} (large logits, alternating)", "logit", random_true,
                              _alternating(inputs.y_pred_shape, every_entry=True, low=low)))
        else:  # a single prediction: each extreme on its own
            cases += [(f"y_pred={value:+g} (a large logit)", "logit", random_true, inputs.pred(value))
                      for value in dict.fromkeys((LOGIT, low)) if value]
    return cases


def _alternating(shape: tuple[int, ...], every_entry: bool = False, low: float = -LOGIT) -> Any:
    """+LOGIT for the first class of each row and ``low`` for the rest (along the batch for one unit);
    ``every_entry``: they alternate entry by entry."""
    count = int(np.prod(shape))
    index = np.arange(count)
    if len(shape) >= 2 and shape[-1] > 1 and not every_entry:
        first = index % shape[-1] == 0
    else:
        first = index % 2 == 0
    return tf.constant(np.where(first, LOGIT, low).reshape(shape).astype(np.float32))


def probe_edges(ctx: Context) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    located = 0
    for name, family, y_true, y_pred in _edges(ctx.inputs):
        out = ctx.subject.run(y_true, y_pred)
        entry: dict[str, Any] = {"edge": name, "family": family}
        if out.error is not None:
            entry["error"] = ctx.subject.describe_error(out.error)
            results.append(entry)
            continue
        entry["value"] = to_float(out.value)
        entry["value_finite"] = finite(out.value)
        entry["grad_finite"] = finite(out.grad) if out.grad is not None else None
        if entry["value_finite"] is False or entry["grad_finite"] is False:
            entry["kind"] = _kind(out.value, out.grad)
            if located < MAX_LOCATED:
                located += 1
                entry["origin"] = locate(ctx.subject, y_true, y_pred)
        results.append(entry)
    return {"ok": True, "edges": results}


def _kind(value: Any, grad: Any) -> str:
    def of(x: Any) -> str:
        arr = np.asarray(x, dtype=np.float64)
        return "NaN" if np.isnan(arr).any() else "Inf"
    if finite(value) is False:
        return f"{of(value)} in the loss"
    return f"{of(grad)} in the gradient (the loss is finite)"


_NODE = re.compile(r"Detected at node (\S+?)/CheckNumerics")
_EAGER_OP = re.compile(r'eagerly-executing op "([^"]+)"')
_GRAPH_OP = re.compile(r'graph op "([^"]+)"')
_VALUES = re.compile(r"Tensor had (\S+) values")


def locate(subject: Subject, y_true: Any, y_pred: Any) -> dict[str, Any] | None:
    """The op (and the user's line) that first produced a NaN/Inf, via check_numerics.

    Eagerly first (a millisecond: the forward op's Python frame is the user's line); a NaN born
    in the backward pass has no such frame, so then the loss is traced once more and the
    gradient op is mapped back to the forward op that created it.
    """
    tf.debugging.enable_check_numerics()
    try:
        eager = _locate_eager(subject, y_true, y_pred)
        if eager is not None and eager["line"] is not None:
            return eager
        function = subject.graph_function()
        try:
            function(y_true, y_pred)
        except tf.errors.InvalidArgumentError as exc:
            return _from_graph_error(exc, function, y_true, y_pred, subject)
        except USER_ERRORS as exc:
            reraise_fatal(exc)  # else an eager-only loss: keep what the eager run said
        return eager
    finally:
        tf.debugging.disable_check_numerics()


def _locate_eager(subject: Subject, y_true: Any, y_pred: Any) -> dict[str, Any] | None:
    try:
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            value = subject.reduce(subject.raw(y_true, y_pred))
        tape.gradient(value, y_pred)
    except tf.errors.InvalidArgumentError as exc:
        text = str(exc)
        op = _EAGER_OP.search(text)
        values = _VALUES.search(text)
        line = subject.user_line(traceback.extract_tb(exc.__traceback__))
        return {"op": op.group(1) if op else "", "values": values.group(1) if values else "",
                "line": line, "gradient_of": "", "gradient": line is None}
    except USER_ERRORS as exc:
        reraise_fatal(exc)
    return None


def _from_graph_error(exc: Exception, function: Any, y_true: Any, y_pred: Any,
                      subject: Subject) -> dict[str, Any]:
    text = str(exc)
    node = _NODE.search(text)
    op_type = _GRAPH_OP.search(text)
    values = _VALUES.search(text)
    result = {"op": op_type.group(1) if op_type else "", "values": values.group(1) if values else "",
              "line": None, "gradient_of": "", "gradient": False}
    if node is None:
        return result
    try:
        graph = function.get_concrete_function(y_true, y_pred).graph
        op = graph.get_operation_by_name(node.group(1))
    except (KeyError, ValueError, TypeError):
        return result
    line = subject.user_line(getattr(op, "traceback", None))
    if line is not None:
        result["line"] = line
        return result
    # A gradient op: its name scope ("gradient_tape/pow/Pow") names the forward op; else its
    # inputs lead back to the forward op the user wrote.
    result["gradient"] = True
    parts = op.name.split("/")
    for end in range(len(parts) - 1, 1, -1):
        try:
            forward = graph.get_operation_by_name("/".join(parts[1:end]))
        except (KeyError, ValueError):
            continue
        line = subject.user_line(getattr(forward, "traceback", None))
        if line is not None:
            result["line"] = line
            result["gradient_of"] = forward.type
            return result
    seen = set()
    frontier = [t.op for t in op.inputs]
    while frontier:
        candidate = frontier.pop(0)
        if candidate.name in seen:
            continue
        seen.add(candidate.name)
        line = subject.user_line(getattr(candidate, "traceback", None))
        if line is not None and not candidate.name.startswith("gradient"):
            result["line"] = line
            result["gradient_of"] = candidate.type
            return result
        if len(seen) < 50:
            frontier.extend(t.op for t in candidate.inputs)
    return result
