"""Probe `variables`: variables the loss creates, checked against a model compiled with it (LL401).

Creation is watched with `tf.variable_creator_scope` while the loss is built and called. If it
creates a trainable variable, a one-layer model is compiled with the loss and trained for one
step: the loss's variable is not among the model's trainable variables and does not move.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from loss_lsp.gradcheck.probes.subject import USER_ERRORS, Context, reraise_fatal


class VariableRecorder:
    def __init__(self) -> None:
        self.created: list[Any] = []

    @contextmanager
    def watching(self) -> Iterator[None]:
        def creator(next_creator: Any, **kwargs: Any) -> Any:
            variable = next_creator(**kwargs)
            self.created.append(variable)
            return variable
        with tf.variable_creator_scope(creator):
            yield


def _value(variable: Any) -> np.ndarray | None:
    try:
        return np.array(variable.numpy(), dtype=np.float64)
    except Exception:  # noqa: BLE001 - a variable we cannot read is reported without values
        return None


def probe_variables(ctx: Context, recorder: VariableRecorder) -> dict[str, Any]:
    trainable = [v for v in recorder.created if getattr(v, "trainable", False)]
    if not trainable:
        return {"ok": True, "created": len(recorder.created), "trainable": 0}
    names = [str(getattr(v, "name", "?")).split(":")[0] for v in trainable]
    shape = ctx.inputs.y_pred_shape
    model = keras.Sequential([keras.Input(shape=(*shape[1:-1], 3)), keras.layers.Dense(shape[-1])])
    try:
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=ctx.subject.obj)
        before = [_value(v) for v in trainable]
        x = np.random.default_rng(0).uniform(size=(shape[0], *shape[1:-1], 3)).astype("float32")
        model.train_on_batch(x, np.asarray(ctx.inputs.true("random")))
    except USER_ERRORS as exc:
        reraise_fatal(exc)
        return {"ok": True, "trainable": len(trainable), "names": names,
                "fit_error": ctx.subject.describe_error(exc)}
    model_vars = {id(getattr(v, "value", v)) for v in model.trainable_variables} | \
        {id(v) for v in model.trainable_variables}
    tracked = [id(v) in model_vars for v in trainable]
    after = [_value(v) for v in trainable]
    moved = [b is not None and a is not None and not np.allclose(a, b) for b, a in zip(before, after, strict=True)]
    return {
        "ok": True,
        "trainable": len(trainable),
        "names": names,
        "tracked": tracked,
        "moved": moved,
        "before": [None if b is None else float(b.reshape(-1)[0]) for b in before],
        "after": [None if a is None else float(a.reshape(-1)[0]) for a in after],
        "model_variables": len(model.trainable_variables),
    }
