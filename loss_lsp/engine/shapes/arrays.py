"""NumPy, pandas, scikit-learn and TensorFlow array operations on abstract values (values.py).

Each function takes the values of the operands (already evaluated) and returns the value of the
result, or None when it cannot be known. Only shapes, dtypes and label domains are tracked.
"""

from __future__ import annotations

from collections.abc import Sequence

from loss_lsp.engine.shapes.values import (
    Arr, Dim, Frame, Library, PyList, Scalar, Series, Shape, Text, Tup, broadcast, float_of, is_int, size,
)

Index = tuple  # ("int", k) | ("slice", lo, hi, step) | ("new",) | ("ellipsis",) | ("fancy", n) | ("col", name) | ("cols", n)

_ELEMENTWISE = {
    "log", "log1p", "log2", "log10", "exp", "expm1", "sqrt", "abs", "absolute", "square", "sin", "cos", "tanh",
    "floor", "ceil", "round", "rint", "sign", "negative", "nan_to_num", "clip", "clip_by_value", "copy",
    "sigmoid", "relu", "fillna", "cbrt", "reciprocal", "deg2rad", "rad2deg", "exp2",
}
_REDUCTIONS = {"sum", "mean", "max", "min", "std", "var", "prod", "median", "any", "all", "amax", "amin",
               "nanmean", "nansum", "nanmax", "nanmin", "reduce_sum", "reduce_mean", "reduce_max", "reduce_min",
               "reduce_prod", "reduce_std", "reduce_variance", "reduce_any", "reduce_all", "argmax", "argmin",
               "count_nonzero", "norm", "average"}
_BINARY = {"add", "subtract", "multiply", "divide", "true_divide", "maximum", "minimum", "power", "pow", "where",
           "mod", "floor_divide", "hypot", "logical_and", "logical_or", "greater", "less", "equal", "not_equal",
           "greater_equal", "less_equal", "fmax", "fmin", "arctan2"}
_COMPARE = {"greater", "less", "equal", "not_equal", "greater_equal", "less_equal", "logical_and", "logical_or",
            "isnan", "isfinite", "isinf", "logical_not"}
_CONTINUOUS_RANDOM = {"rand", "randn", "random", "random_sample", "uniform", "normal", "standard_normal",
                      "lognormal", "exponential", "gamma", "beta", "sample", "ranf", "truncated_normal"}
_FILLED = {"zeros", "ones", "empty", "full"}
_LIKE = {"zeros_like", "ones_like", "empty_like", "full_like"}

def as_int(value: object) -> int | None:
    if isinstance(value, Scalar) and isinstance(value.value, int) and not isinstance(value.value, bool):
        return value.value
    return None


def as_ints(value: object) -> tuple[int | None, ...] | None:
    """A shape argument: an int or a tuple/list of ints (None for the unknown ones)."""
    if isinstance(value, Scalar):
        number = as_int(value)
        return (number,) if number is not None else None
    if isinstance(value, Tup):
        return tuple(as_int(item) for item in value.items)
    return None


def _dtype(value: object) -> str | None:
    """``"float32"``, ``np.float32``, ``tf.int64``, ``int``."""
    if isinstance(value, Text):
        return value.value
    if isinstance(value, Library) and value.kind.startswith("dtype:"):
        return value.kind[len("dtype:"):]
    return None


def _kw(kwargs: dict[str, object], *names: str) -> object:
    for name in names:
        if name in kwargs:
            return kwargs[name]
    return None


def _arg(args: Sequence[object], kwargs: dict[str, object], index: int, *names: str) -> object:
    if index < len(args):
        return args[index]
    return _kw(kwargs, *names)


def to_array(value: object) -> Arr | None:
    """What ``np.array(value)`` gives: from arrays, pandas objects, list literals and appended lists."""
    if isinstance(value, Arr):
        return value
    if isinstance(value, Series):
        return Arr((value.rows,), value.dtype, None, value.origin)
    if isinstance(value, Frame):
        return Arr((value.rows, value.columns), None, None, value.origin)
    if isinstance(value, Scalar):
        return Arr((), "int64" if isinstance(value.value, int) else "float64")
    if isinstance(value, PyList):
        if not value.known or value.item is None:
            return None
        inner = to_array(value.item)
        return Arr((None, *inner.shape), inner.dtype, inner.domain) if inner and inner.shape is not None else None
    if isinstance(value, Tup):
        inner = [to_array(item) for item in value.items]
        if not inner:
            return Arr((0,), "float64")
        if any(i is None or i.shape is None for i in inner):
            return None
        first = inner[0]
        if any(i.shape != first.shape for i in inner):  # type: ignore[union-attr]
            return None
        dtypes = {i.dtype for i in inner}  # type: ignore[union-attr]
        dtype = first.dtype if len(dtypes) == 1 else "float64"  # type: ignore[union-attr]
        domain = _literal_domain(value) if first.shape == () else None  # type: ignore[union-attr]
        return Arr((len(inner), *first.shape), dtype, domain)  # type: ignore[union-attr, misc]
    return None


def _literal_domain(value: Tup) -> str | None:
    numbers = [item.value for item in value.items if isinstance(item, Scalar)]
    if len(numbers) != len(value.items) or any(n is None for n in numbers):
        return None
    if all(isinstance(n, int) for n in numbers):
        return "binary" if set(numbers) <= {0, 1} else None
    return "continuous"


# --- creation ---------------------------------------------------------------------------------
def create(name: str, args: Sequence[object], kwargs: dict[str, object]) -> object:
    """np.* / tf.* / rng.* functions that make an array from sizes (or from a list)."""
    dtype = _dtype(_kw(kwargs, "dtype"))
    if name in ("array", "asarray", "asanyarray", "constant", "convert_to_tensor", "ascontiguousarray"):
        base = to_array(args[0]) if args else None
        return base.but(dtype=dtype or base.dtype) if base else None
    if name in ("rand", "randn", "standard_normal") and (args and not kwargs.get("size")):
        dims = tuple(as_int(a) for a in args)
        return Arr(dims, "float64" if name != "standard_normal" else "float64", "continuous")
    if name in _CONTINUOUS_RANDOM or name in ("integers", "randint", "choice", "binomial", "bernoulli"):
        return _random(name, args, kwargs, dtype)
    if name in _FILLED:
        shape = as_ints(_arg(args, kwargs, 0, "shape"))
        return Arr(shape, dtype or "float64") if shape is not None else None
    if name in _LIKE and args and isinstance(args[0], Arr):
        return args[0].but(dtype=dtype or args[0].dtype, domain=None, origin="")
    if name in ("loadtxt", "genfromtxt"):
        return Arr(None, dtype or "float64", None, table=True)
    if name == "arange":
        ints = [as_int(a) for a in args]
        if len(ints) == 1 and ints[0] is not None:
            return Arr((ints[0],), "int64")
        if len(ints) >= 2 and ints[0] is not None and ints[1] is not None and (len(ints) < 3 or ints[2]):
            step = ints[2] if len(ints) > 2 else 1
            return Arr((max(0, -(-(ints[1] - ints[0]) // step)),), "int64")  # type: ignore[operator]
        return Arr((None,), "int64")
    if name == "linspace":
        given = _arg(args, kwargs, 2, "num")
        num = as_int(given) if given is not None else 50
        return Arr((num,), "float64", "continuous")
    if name in ("eye", "identity"):
        n = as_int(args[0]) if args else None
        return Arr((n, n), dtype or "float64")
    return None


def _random(name: str, args: Sequence[object], kwargs: dict[str, object], dtype: str | None) -> object:
    position = {"uniform": 2, "normal": 2, "lognormal": 2, "randint": 2, "integers": 2, "choice": 1,
                "binomial": 2, "gamma": 2, "beta": 2, "exponential": 1, "random": 0, "random_sample": 0,
                "sample": 0, "ranf": 0, "truncated_normal": 0, "bernoulli": 1}.get(name, 0)
    shape_arg = _arg(args, kwargs, position, "size", "shape")
    shape = as_ints(shape_arg) if shape_arg is not None else ()
    if shape is None:
        return None
    if name in ("randint", "integers"):
        low = as_int(_arg(args, kwargs, 0, "low"))
        high = as_int(_arg(args, kwargs, 1, "high"))
        if high is None and "high" not in kwargs and len(args) < 2:
            low, high = 0, low
        classes = high if low == 0 and high is not None else None
        domain = "binary" if classes == 2 else f"integer:{classes}" if classes else None
        return _sized(shape, dtype or "int64", domain)
    if name == "choice":
        pool = args[0] if args else None
        domain = _literal_domain(pool) if isinstance(pool, Tup) else None
        if isinstance(pool, Scalar) and pool.value == 2:
            domain = "binary"
        elif isinstance(pool, Scalar) and isinstance(pool.value, int):
            domain = f"integer:{pool.value}"
        item_dtype = "int64" if domain and domain != "continuous" else None
        return _sized(shape, dtype or item_dtype, domain)
    if name in ("binomial", "bernoulli"):
        trials = as_int(args[0]) if name == "binomial" and args else 1
        return _sized(shape, dtype or "int64", "binary" if trials == 1 else None)
    return _sized(shape, dtype or "float64", "continuous")


def _sized(shape: tuple[Dim, ...], dtype: str | None, domain: str | None) -> object:
    if shape == ():
        return Scalar(None, dtype)
    return Arr(shape, dtype, domain)


# --- elementwise, reductions, shape ops ------------------------------------------------------------
def arith(a: object, b: object, compare: bool = False) -> object:
    """``a op b`` for arrays and numbers (NumPy broadcasting)."""
    a_arr = to_array(a) if not isinstance(a, (Scalar, Arr)) else a
    b_arr = to_array(b) if not isinstance(b, (Scalar, Arr)) else b
    if isinstance(a, Series) and isinstance(b, (Series, Scalar)):
        return Series(a.rows, "bool" if compare else None)
    arrays = [v for v in (a_arr, b_arr) if isinstance(v, Arr)]
    if not arrays:
        if isinstance(a_arr, Scalar) and isinstance(b_arr, Scalar):
            return Scalar(None, "bool" if compare else None)
        return None
    shape: Shape = arrays[0].shape
    for other in arrays[1:]:
        shape = broadcast(shape, other.shape)
    if not all(isinstance(v, (Arr, Scalar)) for v in (a_arr, b_arr)):
        return None
    if compare:
        return Arr(shape, "bool", "binary")
    dtypes = [v.dtype for v in (a_arr, b_arr)]  # type: ignore[union-attr]
    floats = [v for v in (a_arr, b_arr) if isinstance(v, Scalar) and isinstance(v.value, float)]
    dtype = next((d for d in dtypes if float_of(d)), None) or ("float64" if floats else dtypes[0] if
                                                                 dtypes[0] == dtypes[1] else None)
    continuous = any(isinstance(v, Arr) and v.domain == "continuous" for v in (a_arr, b_arr))
    return Arr(shape, dtype, "continuous" if continuous else None)


def elementwise(name: str, arr: object, rest: Sequence[object]) -> object:
    if isinstance(arr, Series):
        return Series(arr.rows, arr.dtype)
    if isinstance(arr, Frame):
        return arr
    base = to_array(arr)
    if base is None:
        return None
    keeps_domain = name in ("copy", "clip", "clip_by_value", "nan_to_num", "fillna", "round", "rint", "abs")
    domain = base.domain if keeps_domain and base.domain != "continuous" else (
        "continuous" if base.domain == "continuous" or float_of(base.dtype) else None)
    if name in ("round", "rint", "floor", "ceil", "sign") and base.domain == "continuous":
        domain = None
    return base.but(domain=domain, origin="")


def reduce(name: str, arr: object, axis: object, keepdims: object) -> object:
    base = to_array(arr)
    if base is None:
        return None
    arg = name in ("argmax", "argmin")
    dtype = "int64" if arg else base.dtype
    if base.shape is None:
        return Arr(None, dtype)
    keep = isinstance(keepdims, Scalar) and keepdims.value is True
    axes = as_ints(axis) if axis is not None else None
    if axis is None or (isinstance(axis, Scalar) and axis.dtype == "NoneType"):
        if arg or not keep:
            return Scalar(None, dtype)
        return Arr(tuple(1 for _ in base.shape), dtype)
    if axes is None or any(a is None for a in axes):
        return Arr(None, dtype)
    rank = len(base.shape)
    normal = {a % rank if rank else 0 for a in axes}  # type: ignore[operator]
    if any(not -rank <= a < rank for a in axes):  # type: ignore[operator]
        return None  # NumPy raises: the program would stop here
    shape = tuple(1 if i in normal else d for i, d in enumerate(base.shape) if keep or i not in normal)
    domain = None
    if arg:
        classes = base.shape[next(iter(normal))] if len(normal) == 1 else None
        domain = ("binary" if classes == 2 else f"integer:{classes}") if classes else None
    elif name in ("mean", "sum", "std", "var", "reduce_mean", "reduce_sum", "average", "median", "norm") and (
            base.domain == "continuous" or float_of(base.dtype)):
        domain = "continuous"
    elif name in ("max", "min", "amax", "amin", "reduce_max", "reduce_min"):
        domain = base.domain if base.domain != "one_hot" else None
    if shape == ():
        return Scalar(None, dtype)
    return Arr(shape, dtype, domain)


def reshape(arr: object, dims: tuple[int | None, ...] | None) -> object:
    base = to_array(arr)
    if base is None or dims is None:
        return None
    total = size(base.shape)
    if any(d is None for d in dims):
        return base.but(shape=None, origin="")
    if list(dims).count(-1) > 1:
        return None
    if -1 in dims:
        known = 1
        for d in dims:
            if d != -1:
                known *= d  # type: ignore[operator]
        fill: Dim = total // known if total is not None and known else None
        if base.shape is not None and total is None and len(dims) >= 1:
            # (N, ...) -> (-1, k...): the unknown part is the samples when the rest is known
            rest = base.shape[1:]
            rest_size = size(rest)
            if base.shape[0] is None and rest_size is not None and known and rest_size % known == 0 and dims[0] == -1:
                fill = None
        dims = tuple(fill if d == -1 else d for d in dims)
    domain = base.domain if not (base.domain or "").startswith("one_hot") else None
    return Arr(dims, base.dtype, domain)


def expand_dims(arr: object, axis: int | None) -> object:
    base = to_array(arr)
    if base is None or base.shape is None or axis is None:
        return None
    rank = len(base.shape) + 1
    if not -rank <= axis < rank:
        return None
    position = axis % rank
    shape = list(base.shape)
    shape.insert(position, 1)
    return base.but(shape=tuple(shape), origin="")


def squeeze(arr: object, axis: object) -> object:
    base = to_array(arr)
    if base is None or base.shape is None:
        return None
    if axis is None:
        if any(d is None for d in base.shape):
            return base.but(shape=None, origin="")  # which axes are 1 is not known
        return base.but(shape=tuple(d for d in base.shape if d != 1), origin="")
    axes = as_ints(axis)
    if axes is None or any(a is None for a in axes):
        return base.but(shape=None, origin="")
    rank = len(base.shape)
    drop = {a % rank for a in axes}  # type: ignore[operator]
    if any(base.shape[a] not in (1, None) for a in drop):
        return None  # NumPy raises
    return base.but(shape=tuple(d for i, d in enumerate(base.shape) if i not in drop), origin="")


def ravel(arr: object) -> object:
    base = to_array(arr)
    if base is None:
        return None
    domain = base.domain if not (base.domain or "").startswith("one_hot") else None
    return Arr((size(base.shape),), base.dtype, domain)


def transpose(arr: object) -> object:
    base = to_array(arr)
    if base is None or base.shape is None:
        return None
    return base.but(shape=tuple(reversed(base.shape)), origin="")


def matmul(a: object, b: object) -> object:
    left, right = to_array(a), to_array(b)
    if left is None or right is None or left.shape is None or right.shape is None:
        return None
    if not left.shape or not right.shape:
        return arith(left, right)
    dtype = left.dtype if left.dtype == right.dtype else "float64"
    domain = "continuous" if "continuous" in (left.domain, right.domain) else None
    if len(right.shape) == 1:
        return Arr(left.shape[:-1], dtype, domain) if left.shape[:-1] else Scalar(None, dtype)
    if len(left.shape) == 1:
        return Arr(right.shape[:-2] + right.shape[-1:], dtype, domain)
    batch = broadcast(left.shape[:-2], right.shape[:-2])
    if batch is None:
        return None
    return Arr((*batch, left.shape[-2], right.shape[-1]), dtype, domain)


def join(name: str, items: object, axis: int | None) -> object:
    """concatenate / stack / hstack / vstack / column_stack of a list literal of arrays."""
    if not isinstance(items, Tup) or not items.items:
        return None
    parts = [to_array(item) for item in items.items]
    if any(p is None or p.shape is None for p in parts):
        return None
    shapes = [p.shape for p in parts]  # type: ignore[union-attr]
    dtypes = {p.dtype for p in parts}  # type: ignore[union-attr]
    domains = {p.domain for p in parts}  # type: ignore[union-attr]
    dtype = dtypes.pop() if len(dtypes) == 1 else None
    domain = domains.pop() if len(domains) == 1 else None
    if name == "column_stack":
        shapes = [s if len(s) == 2 else (*s, 1) for s in shapes]  # type: ignore[arg-type]
        name, axis = "concatenate", 1
    elif name == "hstack":
        name, axis = "concatenate", (1 if len(shapes[0]) > 1 else 0)  # type: ignore[arg-type]
    elif name == "vstack":
        shapes = [s if len(s) > 1 else (1, *s) for s in shapes]  # type: ignore[arg-type]
        name, axis = "concatenate", 0
    if axis is None:
        return None
    if name == "stack":
        first = shapes[0]
        if any(s != first for s in shapes):
            return None
        rank = len(first) + 1  # type: ignore[arg-type]
        out = list(first)  # type: ignore[arg-type]
        out.insert(axis % rank, len(shapes))
        return Arr(tuple(out), dtype, domain)
    rank = len(shapes[0])  # type: ignore[arg-type]
    if any(len(s) != rank for s in shapes) or not rank:  # type: ignore[arg-type]
        return None
    position = axis % rank
    total: Dim = 0
    for s in shapes:
        total = None if total is None or s[position] is None else total + s[position]  # type: ignore[index,operator]
    out = list(shapes[0])  # type: ignore[arg-type]
    out[position] = total
    return Arr(tuple(out), dtype, domain if position == 0 else None)


def astype(arr: object, dtype: str | None) -> object:
    if isinstance(arr, Series):
        return Series(arr.rows, dtype or arr.dtype, arr.origin)
    if isinstance(arr, Frame):
        return arr
    base = to_array(arr)
    if base is None:
        return None
    domain = base.domain
    if is_int(dtype) and domain == "continuous":
        domain = None  # truncated floats: integers of unknown range
    return base.but(dtype=dtype, domain=domain)


def one_hot(labels: object, classes: int | None) -> object:
    """``to_categorical(y, K)`` / ``tf.one_hot(y, K)``: a trailing class axis (to_categorical drops a trailing 1)."""
    base = to_array(labels)
    if base is None or base.shape is None:
        return None
    shape = base.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    domain = f"one_hot:{classes}" if classes else None
    return Arr((*shape, classes), "float32", domain)


def subscript(value: object, items: list[Index]) -> object:
    """``a[...]`` on arrays (basic and fancy indexing), frames (columns) and series."""
    if isinstance(value, Frame):
        if len(items) == 1 and items[0][0] == "col":
            return Series(value.rows, None)
        if len(items) == 1 and items[0][0] == "cols":
            return Frame(value.rows, items[0][1])
        if len(items) == 1 and items[0][0] in ("slice", "fancy"):
            return Frame(None, value.columns)
        return None
    if isinstance(value, Series):
        if len(items) == 1 and items[0][0] in ("slice", "fancy"):
            return Series(None, value.dtype)
        return Scalar(None, value.dtype) if len(items) == 1 and items[0][0] == "int" else None
    if isinstance(value, Tup):
        if len(items) == 1 and items[0][0] == "int":
            k = items[0][1]
            return value.items[k] if -len(value.items) <= k < len(value.items) else None
        return None
    base = to_array(value) if isinstance(value, Arr) else None
    indexed = [item for item in items if item[0] not in ("new", "ellipsis")]
    if base is not None and base.shape is None and base.table and len(indexed) == 2:
        base = base.but(shape=(None, None))  # table[:, k] runs only on a two-dimensional table
    if base is None or base.shape is None:
        return None
    shape = list(base.shape)
    out: list[Dim] = []
    axis = 0
    consumed = sum(1 for item in items if item[0] not in ("new", "ellipsis"))
    only_rows = True
    for item in items:
        kind = item[0]
        if kind == "new":
            out.append(1)
            continue
        if kind == "ellipsis":
            keep = len(shape) - consumed
            out.extend(shape[axis:axis + keep])
            axis += keep
            continue
        if axis >= len(shape):
            return None  # too many indices: the script fails here
        dim = shape[axis]
        if axis > 0:
            only_rows = False
        if kind == "int":
            pass  # the axis goes away
        elif kind == "slice":
            out.append(_slice_len(dim, item[1], item[2], item[3]))
        elif kind == "fancy":
            out.append(item[1])
        else:
            return None
        axis += 1
    out.extend(shape[axis:])
    domain = base.domain
    if not only_rows and (domain or "").startswith("one_hot"):
        domain = "binary" if items and items[-1][0] == "int" else None
    if not out:
        return Scalar(None, base.dtype)
    return Arr(tuple(out), base.dtype, domain)


def _slice_len(dim: Dim, lo: int | None | str, hi: int | None | str, step: int | None | str) -> Dim:
    if "?" in (lo, hi, step):
        return None
    if dim is None:
        # x[:k] has k rows whatever N is (if N >= k); x[k:] depends on N
        if lo in (None, 0) and isinstance(hi, int) and hi >= 0 and step in (None, 1):
            return None
        return None
    return len(range(dim)[slice(lo, hi, step)])  # type: ignore[arg-type]
