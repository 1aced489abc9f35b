"""The loss under test, called the way its call site calls it, and its synthetic inputs.

Imported only inside the worker (it imports TensorFlow and Keras).
"""

from __future__ import annotations

import os
import re
import traceback
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

try:  # Keras 3: the helpers Loss.__call__ itself uses
    from keras.src.losses.loss import reduce_weighted_values as _keras_reduce
except ImportError:  # pragma: no cover - other Keras versions
    _keras_reduce = None
try:  # what compile() wraps a plain loss function in (not exported under keras.losses)
    from keras.src.losses.losses import LossFunctionWrapper
except ImportError:  # pragma: no cover
    LossFunctionWrapper = getattr(keras.losses, "LossFunctionWrapper", None)

# What the user's code may raise that the probes catch and report.
USER_ERRORS = (Exception, SystemExit, KeyboardInterrupt)


def reraise_fatal(exc: BaseException) -> None:
    """Running out of memory is not the loss's answer: the worker reports it and restarts."""
    if isinstance(exc, (MemoryError, tf.errors.ResourceExhaustedError)):
        raise exc


INT_DTYPES = ("int", "int8", "int16", "int32", "int64", "uint8", "bool")
MAX_CLASS_SHIFTS = 32


@dataclass
class Inputs:
    """Deterministic synthetic y_true / y_pred at the program's shapes, with label values from the
    program's label domain and predictions in the range its model's last activation produces.

    domain: "binary" (0/1 masks), "integer:K" (class ids), "one_hot:K", "continuous", None (unknown:
    0/1 values, which binary and continuous targets both allow). pred_range: "sigmoid", "softmax",
    "relu", "tanh", "linear", None (unknown).
    """

    y_true_shape: tuple[int, ...]
    y_pred_shape: tuple[int, ...]
    y_true_dtype: str = "float32"
    seed: int = 0
    domain: str | None = None
    pred_range: str | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def resized(self, batch: int) -> Inputs:
        return Inputs((batch, *self.y_true_shape[1:]), (batch, *self.y_pred_shape[1:]), self.y_true_dtype,
                      self.seed, self.domain, self.pred_range)

    @property
    def integer(self) -> bool:
        """Class ids (integer values, whatever the dtype)."""
        return self.y_true_dtype in INT_DTYPES or (self.domain or "").startswith("integer")

    @property
    def one_hot(self) -> bool:
        return (self.domain or "").startswith("one_hot") and len(self.y_true_shape) >= 2

    @property
    def classes(self) -> int:
        stated = (self.domain or "").partition(":")[2]
        if stated.isdigit() and int(stated) > 1:
            return int(stated)
        last = self.y_pred_shape[-1] if self.y_pred_shape else 1
        return last if last > 1 else 2

    @property
    def softmax(self) -> bool:
        return self.pred_range == "softmax" and len(self.y_pred_shape) >= 2 and self.y_pred_shape[-1] > 1

    @property
    def logits_possible(self) -> bool:
        """Large outputs reach the loss only when the model ends linearly or with a ReLU."""
        return self.pred_range in (None, "linear", "relu")

    @property
    def lowest_logit_sign(self) -> float:
        """-1 where large negative outputs are possible too, 0 for a ReLU (its outputs stop at 0)."""
        return 0.0 if self.pred_range == "relu" else -1.0

    def pred(self, value: float | None = None, draw: int = 0) -> tf.Tensor:
        if self.pred_range == "softmax" and not self.softmax:  # a softmax over one unit is always 1
            return tf.constant(np.ones(self.y_pred_shape, dtype=np.float32))
        if value is not None:
            if self.softmax:  # a saturated softmax: one-hot rows (0 for every class but one)
                return tf.constant(self._one_hot_rows(shift=0 if value else 1))
            return tf.constant(np.full(self.y_pred_shape, value, dtype=np.float32))
        rng = np.random.default_rng(self.seed * 1000 + draw + 1)
        values = rng.uniform(0.05, 0.95, self.y_pred_shape)
        if self.softmax:
            values = values / values.sum(axis=-1, keepdims=True)
        return tf.constant(values.astype(np.float32))

    def _one_hot_rows(self, shift: int) -> np.ndarray:
        rows = int(np.prod(self.y_pred_shape[:-1]))
        classes = self.y_pred_shape[-1]
        hot = (np.arange(rows) + shift) % classes
        return np.eye(classes, dtype=np.float32)[hot].reshape(self.y_pred_shape)

    def true(self, kind: str = "random", draw: int = 0, like: tf.Tensor | None = None) -> tf.Tensor:
        """kind: random (binary / class ids), zeros, ones, uniform, cycle (every class), like (= y_pred)."""
        shape = self.y_true_shape
        rng = np.random.default_rng(self.seed * 1000 + 500 + draw)
        if self.integer:
            if kind == "zeros":
                values = np.zeros(shape)
            elif kind in ("cycle", "ones") or kind.startswith("shift:"):
                shift = int(kind.partition(":")[2] or 0)
                values = (np.arange(int(np.prod(shape))).reshape(shape) + shift) % self.classes
            else:
                values = rng.integers(0, self.classes, shape)
        elif self.one_hot:
            count, classes = int(np.prod(shape[:-1])), shape[-1]
            if kind == "zeros":
                hot = np.zeros(count, dtype=int)
            elif kind in ("cycle", "ones") or kind.startswith("shift:"):
                hot = (np.arange(count) + int(kind.partition(":")[2] or 0)) % classes
            else:
                hot = rng.integers(0, classes, count)
            values = np.eye(classes)[hot].reshape(shape)
        elif kind == "zeros":
            values = np.zeros(shape)
        elif kind == "ones":
            values = np.ones(shape)
        elif kind == "uniform" or (kind == "random" and self.domain == "continuous"):
            values = rng.uniform(0.05, 0.95, shape)
        elif kind == "like" and like is not None and tuple(like.shape) == tuple(shape):
            return tf.identity(like)
        else:
            values = (rng.uniform(0, 1, shape) < 0.5).astype(np.float64)
            flat = values.reshape(-1)
            if flat.size > 1:  # both classes present, so masks never empty by chance
                flat[0], flat[1] = 1.0, 0.0
            else:  # a single label: the positive one (the all-zero edge covers the other)
                flat[0] = 1.0
        return tf.constant(values.astype(self._numpy_dtype()))

    def _numpy_dtype(self) -> np.dtype:
        if self.y_true_dtype in INT_DTYPES:
            return np.dtype(self.y_true_dtype if self.y_true_dtype not in ("int", "bool") else "int32")
        return np.dtype("float32")

    def target_kinds(self) -> tuple[str, ...]:
        """Targets used to tell a dead gradient from one the targets switch off by design."""
        if self.integer or self.one_hot:
            # every class at every row: a cross-entropy's gradient lives on the target class only, by design
            classes = self.y_true_shape[-1] if self.one_hot else self.classes
            return ("random", *(f"shift:{k}" for k in range(min(classes, MAX_CLASS_SHIFTS))))
        if self.domain == "continuous":
            return ("uniform", "zeros", "ones", "random")
        return ("random", "zeros", "ones", "uniform")

    def empty_mask_possible(self) -> bool:
        """An all-zero y_true: an empty mask (binary, unknown) or all class 0 (class ids); never one-hot."""
        return not self.one_hot and self.domain != "continuous"


@dataclass
class Outcome:
    raw: Any = None
    value: Any = None
    grad: Any = None
    error: BaseException | None = None


class Subject:
    """Calls the loss like its call site: Keras's wrapper for a function given to `compile`,
    the `Loss` instance itself, or a plain call for a custom training loop."""

    def __init__(self, obj: Any, call_path: str, user_files: set[str]) -> None:
        self.obj = obj
        self.call_path = call_path
        self.user_files = {os.path.realpath(f) for f in user_files} | set(user_files)
        self.loss_object = isinstance(obj, keras.losses.Loss)
        if self.loss_object:
            self.path = "loss_class"
            self._target = obj
        elif call_path == "compile":
            self.path = "compile"
            # Exactly what compile() builds around a plain function (it aligns ranks first).
            self._target = LossFunctionWrapper(obj)
        else:
            self.path = "direct"
            self._target = None
        self._custom_call = self.loss_object and type(obj).__call__ is not keras.losses.Loss.__call__

    def describe_path(self) -> str:
        return {"compile": "through Keras's LossFunctionWrapper (as compile() does)",
                "loss_class": "as a keras.losses.Loss instance",
                "direct": "directly (custom training loop)"}[self.path]

    # -- calling --------------------------------------------------------------------------------------
    def raw(self, y_true: Any, y_pred: Any) -> Any:
        """What the user's code returns (before Keras reduces it)."""
        if self._target is None:
            return self.obj(y_true, y_pred)
        if self._custom_call:
            return self.obj(y_true, y_pred)
        dtype = self._target.dtype
        y_true = keras.ops.convert_to_tensor(y_true, dtype=dtype)
        y_pred = keras.ops.convert_to_tensor(y_pred, dtype=dtype)
        return self._target.call(y_true, y_pred)

    def reduce(self, raw: Any) -> Any:
        """The scalar Keras would optimise (the sum over the raw values on the direct path)."""
        if self._target is None or self._custom_call:
            return raw
        if _keras_reduce is not None:
            return _keras_reduce(raw, reduction=self._target.reduction, dtype=self._target.dtype)
        return keras.ops.mean(raw)  # pragma: no cover

    def run(self, y_true: Any, y_pred: Any, gradient: bool = True) -> Outcome:
        out = Outcome()
        try:
            with tf.GradientTape() as tape:
                tape.watch(y_pred)
                out.raw = self.raw(y_true, y_pred)
                out.value = self.reduce(out.raw)
            if gradient:
                out.grad = tape.gradient(out.value, y_pred) if _differentiable(out.value) else None
        except USER_ERRORS as exc:  # the user's code may raise anything
            reraise_fatal(exc)
            out.error = exc
        return out

    def graph_function(self) -> Any:
        """The loss and its gradient as one `tf.function`, autograph off: that is how `fit` meets the
        loss (Python `if` on a tensor fails there, `.numpy()` does not exist)."""
        def step(y_true: Any, y_pred: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(y_pred)
                raw = self.raw(y_true, y_pred)
                value = self.reduce(raw)
            grad = tape.gradient(value, y_pred)
            return value, (grad if grad is not None else tf.constant(0.0)), grad is None
        return tf.function(step, autograph=False, reduce_retracing=False)

    # -- reporting ------------------------------------------------------------------------------------
    def user_line(self, frames: Any) -> int | None:
        """The last line of the user's code among traceback frames (0-based), if any."""
        line = None
        for frame in frames or ():
            filename = getattr(frame, "filename", None)
            if filename is None and isinstance(frame, tuple):
                filename = frame[0]
            lineno = getattr(frame, "lineno", None)
            if lineno is None and isinstance(frame, tuple):
                lineno = frame[1]
            if filename and (filename in self.user_files or os.path.realpath(filename) in self.user_files):
                line = int(lineno) - 1
        return line

    def describe_error(self, exc: BaseException) -> dict[str, Any]:
        frames = traceback.extract_tb(exc.__traceback__)
        message = str(exc).strip()
        if isinstance(exc, SystemExit):
            message = f"SystemExit({exc.code!r})"
        first = _first_meaningful_line(message)
        return {
            "type": type(exc).__name__,
            "message": first[:400],
            "line": self.user_line(frames),
            "signature": _is_signature_error(exc, frames, self.user_files),
        }


def _differentiable(value: Any) -> bool:
    """A tensor, or (on the direct path) a tuple/list of tensors: the tape sums a structure."""
    if tf.is_tensor(value):
        return True
    return isinstance(value, (tuple, list)) and bool(value) and all(tf.is_tensor(v) for v in value)


_TF_NOISE = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*name:\s*$")


def _first_meaningful_line(message: str) -> str:
    message = "\n".join(_TF_NOISE.sub("", line) for line in message.splitlines())
    for line in message.splitlines():
        line = line.strip()
        if line and not line.startswith("{{function_node") and not line.startswith("in user code"):
            return line
    return message.splitlines()[0].strip() if message else ""


def _is_signature_error(exc: BaseException, frames: Any, user_files: set[str]) -> bool:
    """A TypeError raised by the call into the loss itself (wrong number of arguments)."""
    if not isinstance(exc, TypeError):
        return False
    text = str(exc)
    if "required positional argument" not in text and "required keyword-only argument" not in text \
            and "positional arguments but" not in text:
        return False
    # Raised at the call boundary: no frame of the user's function body is on the traceback.
    return not any(f.filename in user_files for f in frames)


def shape_of(value: Any) -> list[int] | None:
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    try:
        return [int(d) if d is not None else -1 for d in shape]
    except TypeError:
        return None


def describe_type(value: Any) -> dict[str, Any]:
    """What the loss returned, in the words of LL402."""
    if value is None:
        return {"kind": "none", "text": "None"}
    if isinstance(value, (tuple, list)):
        return {"kind": type(value).__name__, "text": f"a {type(value).__name__} of {len(value)} values",
                "length": len(value)}
    if isinstance(value, (bool, int, float)):
        return {"kind": "number", "text": f"a Python {type(value).__name__} ({value!r})"}
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        return {"kind": "ndarray", "text": f"a NumPy {type(value).__name__} of shape {tuple(np.shape(value))}"}
    if tf.is_tensor(value):
        return {"kind": "tensor", "text": f"a {value.dtype.name} tensor of shape {tuple(shape_of(value) or ())}",
                "dtype": value.dtype.name, "shape": shape_of(value)}
    return {"kind": "other", "text": f"a {type(value).__name__}"}


@dataclass
class Context:
    """What every probe gets: the loss, its inputs, the static codes flagged on it, and the
    first eager run (shared, so the probes that only read it cost nothing)."""

    subject: Subject
    inputs: Inputs
    codes: frozenset[str] = frozenset()
    stated_shapes: bool = False
    bare: str = ""  # the plain function compile() receives, for the signature probe
    evaluate: Any = None  # expression -> value in the loss's module
    _first: Outcome | None = None
    _first_inputs: tuple[Any, Any] | None = None

    @property
    def first(self) -> Outcome:
        if self._first is None:
            y_true, y_pred = self.inputs.true("random"), self.inputs.pred()
            self._first_inputs = (y_true, y_pred)
            self._first = self.subject.run(y_true, y_pred)
        return self._first

    @property
    def first_inputs(self) -> tuple[Any, Any]:
        _ = self.first
        assert self._first_inputs is not None
        return self._first_inputs


def finite(value: Any) -> bool | None:
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return bool(np.all(np.isfinite(array)))


def to_float(value: Any) -> float | None:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if array.size == 0:
        return None
    number = float(np.mean(array))
    return number if np.isfinite(number) else None
