"""The abstract values of the training script: arrays, frames, datasets, Keras tensors, models.

A shape is a tuple of dimensions; a dimension is an ``int`` or ``None`` (unknown). A shape of
``None`` means even the rank is unknown. The first dimension of data arrays is the number of
samples; once a batch is taken it becomes ``None``. Nothing here guesses: an operation whose
result is not determined by what is known gives ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Union

Dim = Union[int, None]
Shape = Union[tuple[Dim, ...], None]
INT_DTYPES = ("int", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")
FLOAT_DTYPES = ("float", "float16", "float32", "float64", "bfloat16", "half", "double")


@dataclass(frozen=True)
class Arr:
    """A NumPy array, a pandas ``.values`` or a TensorFlow tensor (outside the loss)."""

    shape: Shape
    dtype: str | None = None
    # "binary", "integer:K" (classes 0..K-1), "integer" (K unknown), "one_hot:K", "continuous"; None unknown.
    domain: str | None = None
    origin: str = ""  # "`y = x.sum(axis=1)`, line 12"
    table: bool = False  # read from a text table (np.loadtxt): one or two dimensions, not known which

    def but(self, **changes: object) -> Arr:
        return replace(self, **changes)

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)


@dataclass(frozen=True)
class Scalar:
    """A Python number (its value when it is a known constant)."""

    value: int | float | None = None
    dtype: str | None = None


NONE = Scalar(None, "NoneType")  # the constant None (``activation=None``, ``axis=None``)


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Frame:
    """A pandas DataFrame: rows and the number of columns, when known."""

    rows: Dim = None
    columns: int | None = None
    origin: str = ""


@dataclass(frozen=True)
class Series:
    rows: Dim = None
    dtype: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class Tup:
    """A tuple or list literal (its items' values)."""

    items: tuple[object, ...]


@dataclass(frozen=True)
class DictV:
    items: tuple[tuple[str, object], ...]

    def get(self, key: str) -> object:
        return dict(self.items).get(key)


@dataclass
class PyList:
    """A list built up with ``append`` (its length is unknown, its items alike)."""

    item: object = None
    known: bool = True  # False once items of different kinds were appended


@dataclass(frozen=True)
class Dataset:
    """A ``tf.data.Dataset``: the structure of one element (batched elements lead with ``None``)."""

    element: object
    batched: bool = False


@dataclass(frozen=True)
class KT:
    """A symbolic Keras tensor of the functional API; its batch dimension is ``None``."""

    shape: Shape
    activation: str | None = None  # of the layer that produced it ("linear" when it has none)
    name: str | None = None  # the producing layer's name= (for dict losses)


@dataclass(frozen=True)
class Layer:
    """A layer object, not yet applied (``keras.layers.Dense(1)``)."""

    kind: str
    args: tuple[object, ...] = ()
    kwargs: tuple[tuple[str, object], ...] = ()

    def kw(self, name: str) -> object:
        return dict(self.kwargs).get(name)


@dataclass
class Model:
    """A Sequential or functional model; ``outputs`` is a KT, a Tup/DictV of KTs, or None (unknown)."""

    outputs: object = None
    layers: list[Layer] | None = None  # a Sequential's layers (``model.add`` appends)
    input_shape: Shape = None
    losses: object = None  # what compile received: the expression node(s), mirrored as Tup/DictV
    instance: Obj | None = None  # a subclassed model: its outputs come from running its ``call``


@dataclass(eq=False)
class Obj:
    """An object of one of the script's classes (a subclassed model, a trainer): its ``self.x`` attributes."""

    cls: str
    attrs: dict[str, object]


@dataclass(frozen=True)
class Func:
    """A function of the script (to interpret when called or mapped)."""

    node: object  # ast.FunctionDef | ast.Lambda
    block_start: int


@dataclass(frozen=True)
class ClassRef:
    name: str
    kind: str  # "loss", "model", "other"


@dataclass(frozen=True)
class Instance:
    """An instance of one of the script's classes (a Loss subclass, a subclassed model...)."""

    cls: ClassRef


@dataclass(frozen=True)
class Library:
    """A library object whose methods we know (``StandardScaler()``, ``LabelEncoder()``)."""

    kind: str


# --- shapes ----------------------------------------------------------------------------------------
def broadcast(a: Shape, b: Shape) -> Shape:
    """NumPy broadcasting of two shapes; None where it cannot be known (or would fail)."""
    if a is None or b is None:
        return None
    out: list[Dim] = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == 1:
            out.append(y)
        elif y == 1 or x == y:
            out.append(x)
        elif x is None or y is None:
            out.append(None)  # one of them may be 1 at run time: size unknown
        else:
            return None  # incompatible: NumPy raises; the script would not get here
    return tuple(reversed(out))


def size(shape: Shape) -> int | None:
    if shape is None or any(d is None for d in shape):
        return None
    total = 1
    for d in shape:
        total *= d  # type: ignore[operator]
    return total


def shape_text(shape: Shape, batch: bool = True) -> str:
    """``(batch, 1)``; unknown dimensions show as ``?``."""
    if shape is None:
        return "(unknown rank)"
    parts = ["batch" if batch and i == 0 else "?" if d is None or d == -1 else str(d) for i, d in enumerate(shape)]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def is_int(dtype: str | None) -> bool:
    return dtype is not None and dtype.split(".")[-1] in INT_DTYPES


def float_of(dtype: str | None) -> bool:
    return dtype is not None and dtype.split(".")[-1] in FLOAT_DTYPES


def join(a: object, b: object) -> object:
    """Either value (two branches, two calls): what both agree on."""
    if a is b or a == b:
        return a
    if isinstance(a, Arr) and isinstance(b, Arr):
        if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
            shape = None
        else:
            shape = tuple(x if x == y else None for x, y in zip(a.shape, b.shape))
        return Arr(shape, a.dtype if a.dtype == b.dtype else None, a.domain if a.domain == b.domain else None,
                   a.origin if a.origin == b.origin else "")
    if isinstance(a, KT) and isinstance(b, KT):
        shape = None if a.shape is None or b.shape is None or len(a.shape) != len(b.shape) else tuple(
            x if x == y else None for x, y in zip(a.shape, b.shape))
        return KT(shape, a.activation if a.activation == b.activation else None, a.name if a.name == b.name else None)
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        return Scalar(None, a.dtype if a.dtype == b.dtype else None)
    if isinstance(a, Tup) and isinstance(b, Tup) and len(a.items) == len(b.items):
        return Tup(tuple(join(x, y) for x, y in zip(a.items, b.items)))
    return None
