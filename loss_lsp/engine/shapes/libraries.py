"""Library calls on abstract values: NumPy, pandas, scikit-learn, TensorFlow and Keras by their dotted path.

``library_call("numpy.random.rand", args, kwargs)`` gives the value of the call (values.py) or None.
"""

from __future__ import annotations

from loss_lsp.engine.shapes import arrays, datasets, models, tables
from loss_lsp.engine.shapes.values import KT, NONE, Arr, Layer, Library, Model, Scalar, Tup


def library_call(path: str, args: list[object], kwargs: dict[str, object]) -> object:
    name = path.rsplit(".", 1)[-1]
    root = path.split(".", 1)[0]
    if root == "numpy":
        if path.startswith("numpy.random.default_rng") or name == "RandomState":
            return Library("rng")
        return array_function(name, args, kwargs)
    if root == "pandas":
        return tables.pandas_call(name, args, kwargs)
    if root == "sklearn":
        return tables.sklearn_call(name, args, kwargs)
    if "keras" in path:
        return _keras(path, name, args, kwargs)
    if root == "tensorflow":
        if ".random." in path and name in ("uniform", "normal", "truncated_normal"):
            return _tf_random(name, args, kwargs)
        if ".data." in path or path.endswith(".data.Dataset." + name):
            if name == "from_tensor_slices" and args:
                return datasets.from_tensor_slices(args[0])
            if name == "zip" and args:
                return datasets.zip_datasets(args[0] if len(args) == 1 else Tup(tuple(args)))
            return None
        return array_function(name, args, kwargs)
    return None

def _keras(path: str, name: str, args: list[object], kwargs: dict[str, object]) -> object:
    if name == "epsilon":
        return Scalar(None, "float64")
    if name == "ImageDataGenerator":
        return Library("image_generator")
    if ".datasets." in path and name == "load_data":
        return tables.keras_dataset(path.split(".datasets.", 1)[1].split(".")[0])
    if name == "to_categorical" and args:
        classes = arrays.as_int(args[1] if len(args) > 1 else kwargs.get("num_classes"))
        return arrays.one_hot(args[0], classes)
    if name == "Input":
        return models.input_tensor(args[0] if args else kwargs.get("shape"), kwargs.get("name"))
    if name == "Sequential":
        layers = args[0] if args else kwargs.get("layers")
        items = list(layers.items) if isinstance(layers, Tup) else []
        if layers is not None and not isinstance(layers, Tup):
            return Model(outputs=None)
        start: tuple | None = None
        if items and isinstance(items[0], KT):  # keras.Input(shape=...) as the first item
            start, items = items[0].shape, items[1:]
        if not all(isinstance(i, (Layer, Model)) for i in items):
            return Model(outputs=None)
        return Model(layers=items, input_shape=start)  # type: ignore[arg-type]
    if name in ("Model", "Functional"):
        outputs = args[1] if len(args) > 1 else kwargs.get("outputs")
        return Model(outputs=outputs)
    if name == "concatenate" and args:
        return models.apply(Layer("Concatenate", (), tuple((k, v) for k, v in kwargs.items())), args[0])
    if name in ("add", "multiply", "average", "maximum", "minimum", "subtract") and ".layers." in path and args:
        return models.apply(Layer(name.capitalize()), args[0])
    if ".layers." in path and name in models.LAYER_KINDS:
        return Layer(name, tuple(args), tuple(kwargs.items()))
    if ".layers." in path or ".applications." in path or name == "load_model":
        return Model(outputs=None) if ".applications." in path or name == "load_model" else None
    if ".ops." in path:
        return array_function(name, args, kwargs)
    return None

def array_function(name: str, args: list[object], kwargs: dict[str, object]) -> object:
    """np.f(a, ...) / tf.f(a, ...): creation from sizes, or an operation on the first argument."""
    if name in ("concatenate", "concat", "stack", "hstack", "vstack", "column_stack") and args:
        axis = arrays.as_int(args[1] if len(args) > 1 else kwargs.get("axis", Scalar(0)))
        return arrays.join(name.replace("concat", "concatenate").replace("enateenate", "enate"), args[0], axis)
    created = arrays.create(name, args, kwargs)
    if created is not None:
        return created
    if not args:
        return None
    return array_op(name, args[0], args[1:], kwargs)

def array_op(name: str, arr: object, rest: list[object], kwargs: dict[str, object]) -> object:
    short = name[len("reduce_"):] if name.startswith("reduce_") else name
    if short in arrays._REDUCTIONS or name in arrays._REDUCTIONS:
        axis = rest[0] if rest else kwargs.get("axis")
        return arrays.reduce(short, arr, None if axis is NONE else axis, kwargs.get("keepdims",
                                                                                   kwargs.get("keep_dims")))
    if name == "reshape":
        dims_value = rest[0] if len(rest) == 1 else Tup(tuple(rest)) if rest else kwargs.get(
            "newshape", kwargs.get("shape"))
        return arrays.reshape(arr, arrays.as_ints(dims_value))
    if name == "expand_dims":
        return arrays.expand_dims(arr, arrays.as_int(rest[0] if rest else kwargs.get("axis")))
    if name == "squeeze":
        axis = rest[0] if rest else kwargs.get("axis")
        return arrays.squeeze(arr, None if axis is NONE else axis)
    if name in ("ravel", "flatten"):
        return arrays.ravel(arr)
    if name == "transpose" and not rest and "axes" not in kwargs and "perm" not in kwargs:
        return arrays.transpose(arr)
    if name in ("astype", "cast"):
        dtype = rest[0] if rest else kwargs.get("dtype")
        return arrays.astype(arr, arrays._dtype(dtype))
    if name in ("dot", "matmul") and rest:
        return arrays.matmul(arr, rest[0])
    if name == "one_hot":
        return arrays.one_hot(arr, arrays.as_int(rest[0] if rest else kwargs.get("depth")))
    if name == "to_categorical":
        return arrays.one_hot(arr, arrays.as_int(rest[0] if rest else kwargs.get("num_classes")))
    if name == "where" and len(rest) == 2:
        return arrays.arith(arrays.arith(arr, rest[0]), rest[1])
    if name in arrays._COMPARE:
        return arrays.arith(arr, rest[0] if rest else Scalar(0), compare=True)
    if name in arrays._BINARY and rest:
        return arrays.arith(arr, rest[0])
    if name in arrays._ELEMENTWISE:
        return arrays.elementwise(name, arr, rest)
    if name in ("numpy", "copy"):
        return arr
    return None


def _tf_random(name: str, args: list[object], kwargs: dict[str, object]) -> object:
    """tf.random.uniform(shape, minval, maxval, dtype) / normal(shape, ...): the shape comes first."""
    shape = arrays.as_ints(args[0] if args else kwargs.get("shape"))
    if shape is None:
        return None
    dtype = arrays._dtype(kwargs.get("dtype")) or "float32"
    if name == "uniform" and arrays.is_int(dtype):
        low = arrays.as_int(args[1] if len(args) > 1 else kwargs.get("minval", Scalar(0)))
        high = arrays.as_int(args[2] if len(args) > 2 else kwargs.get("maxval"))
        classes = high if low == 0 and high else None
        return Arr(shape, dtype, "binary" if classes == 2 else f"integer:{classes}" if classes else None)
    return Arr(shape, dtype, "continuous")
