"""pandas frames and series, scikit-learn splits and scalers, and the datasets shipped with Keras."""

from __future__ import annotations

from collections.abc import Sequence

from loss_lsp.engine.shapes.arrays import _dtype, _kw, astype, to_array
from loss_lsp.engine.shapes.values import Arr, DictV, Frame, Library, Scalar, Series, Text, Tup

_SCALERS = {"StandardScaler", "MinMaxScaler", "RobustScaler", "MaxAbsScaler", "Normalizer", "PowerTransformer",
            "QuantileTransformer", "SimpleImputer"}


def frame_method(frame: Frame, name: str, args: Sequence[object], kwargs: dict[str, object]) -> object:
    if name in ("to_numpy", "as_matrix"):
        return to_array(frame)
    if name in ("drop",):
        columns = _kw(kwargs, "columns")
        axis = _kw(kwargs, "axis")
        labels = args[0] if args else columns
        dropping_columns = columns is not None or (isinstance(axis, Scalar) and axis.value == 1) or (
            isinstance(axis, Text) and axis.value == "columns")
        if not dropping_columns:
            return Frame(None, frame.columns)
        count = len(labels.items) if isinstance(labels, Tup) else 1 if isinstance(labels, Text) else None
        left = frame.columns - count if frame.columns is not None and count is not None else None
        return Frame(frame.rows, left)
    if name in ("dropna", "sample", "query", "head", "tail", "drop_duplicates"):
        return Frame(None, frame.columns)
    if name in ("fillna", "copy", "astype", "sort_values", "replace", "sort_index"):
        return Frame(frame.rows, frame.columns)
    if name in ("assign", "reset_index"):  # columns added (or not): a frame of unknown width
        return Frame(frame.rows, None)
    if name == "pop":
        return Series(frame.rows)
    return None


def series_method(series: Series, name: str, args: Sequence[object], kwargs: dict[str, object]) -> object:
    if name in ("to_numpy", "ravel"):
        return Arr((series.rows,), series.dtype, None, series.origin)
    if name in ("astype",):
        return astype(series, _dtype(args[0]) if args else None)
    if name in ("map", "apply", "fillna", "copy", "replace", "clip", "round", "abs"):
        return Series(series.rows, None)
    if name in ("factorize",):
        return Tup((Arr((series.rows,), "int64"), None))
    return None


def sklearn_call(name: str, args: Sequence[object], kwargs: dict[str, object]) -> object:
    if name == "train_test_split":
        parts: list[object] = []
        for arrayish in args:
            split = _rows_unknown(arrayish)
            parts += [split, split]
        return Tup(tuple(parts)) if parts else None
    if name in _SCALERS or name in ("LabelEncoder", "OneHotEncoder", "LabelBinarizer", "PCA"):
        return Library(f"sklearn:{name}")
    return None


def sklearn_method(tool: Library, name: str, args: Sequence[object]) -> object:
    kind = tool.kind.split(":", 1)[1]
    if name not in ("fit_transform", "transform", "inverse_transform"):
        return tool if name == "fit" else None
    data = to_array(args[0]) if args else None
    if data is None:
        return None
    if kind in _SCALERS:
        return data.but(domain="continuous" if data.domain is not None else None, dtype="float64", origin="")
    if kind == "LabelEncoder":
        return Arr(data.shape[:1] if data.shape else None, "int64", None)
    return None


def _rows_unknown(value: object) -> object:
    base = to_array(value)
    if isinstance(value, Frame):
        return Frame(None, value.columns)
    if isinstance(value, Series):
        return Series(None, value.dtype)
    if base is None or base.shape is None or not base.shape:
        return None
    return base.but(shape=(None, *base.shape[1:]), origin="")


# Shapes of the datasets shipped with Keras: ((x_train, y_train), (x_test, y_test)).
KERAS_DATASETS: dict[str, tuple[tuple[int, ...], str, tuple[int, ...], str, str | None]] = {
    "mnist": ((28, 28), "uint8", (), "uint8", "integer:10"),
    "fashion_mnist": ((28, 28), "uint8", (), "uint8", "integer:10"),
    "cifar10": ((32, 32, 3), "uint8", (1,), "uint8", "integer:10"),
    "cifar100": ((32, 32, 3), "uint8", (1,), "int64", "integer:100"),
    "boston_housing": ((13,), "float64", (), "float64", "continuous"),
}


def keras_dataset(name: str) -> object:
    entry = KERAS_DATASETS.get(name)
    if entry is None:
        return None
    x_shape, x_dtype, y_shape, y_dtype, domain = entry
    origin = f"keras.datasets.{name}"
    x = Arr((None, *x_shape), x_dtype, "continuous" if x_dtype.startswith("float") else None, origin)
    y = Arr((None, *y_shape), y_dtype, domain, origin)
    return Tup((Tup((x, y)), Tup((x, y))))


def pandas_call(name: str, args: list[object], kwargs: dict[str, object]) -> object:
    if name.startswith("read_"):
        return Frame(None, None)
    if name == "DataFrame":
        data = args[0] if args else kwargs.get("data")
        if isinstance(data, DictV):
            return Frame(None, len(data.items))
        array = to_array(data) if data is not None else None
        if array is not None and array.shape is not None and len(array.shape) == 2:
            return Frame(array.shape[0], array.shape[1])
        return Frame(None, None)
    if name == "Series":
        array = to_array(args[0]) if args else None
        return Series(array.shape[0] if array is not None and array.shape else None, array.dtype if array else None)
    if name == "get_dummies":
        source = args[0] if args else None
        rows = source.rows if isinstance(source, (Series, Frame)) else None
        return Frame(rows, None)
    if name == "concat":
        return Frame(None, None)
    return None
