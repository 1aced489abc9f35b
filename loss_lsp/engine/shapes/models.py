"""Keras layers and models on abstract values: what a Sequential or functional model outputs.

A layer applied to a symbolic tensor (KT) gives a KT with the output shape and the activation
of the layer; a model's outputs are a KT, or a Tup/DictV of KTs for several outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

from loss_lsp.engine.shapes.arrays import as_int, as_ints
from loss_lsp.engine.shapes.values import KT, Arr, Dim, Layer, Library, Model, Scalar, Shape, Text, Tup, broadcast, size

RANGES = ("sigmoid", "softmax", "relu", "tanh", "linear")
_KEEP = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
         "AlphaDropout", "ActivityRegularization", "Masking", "Identity", "GaussianNoise"}
_NORMALIZE = {"BatchNormalization", "LayerNormalization", "Normalization", "GroupNormalization",
              "UnitNormalization", "Rescaling"}
_ACTIVATION_LAYERS = {"Softmax": "softmax", "ReLU": "relu", "LeakyReLU": None, "ELU": None, "PReLU": None}
_MERGE = {"Add": "add", "Multiply": "multiply", "Average": "average", "Subtract": "subtract", "Maximum": "maximum",
          "Minimum": "minimum"}
LAYER_KINDS = ({"Dense", "Input", "InputLayer", "Flatten", "Reshape", "Activation", "Embedding", "Concatenate",
                "LSTM", "GRU", "SimpleRNN", "Bidirectional", "UpSampling1D", "UpSampling2D", "UpSampling3D",
                "RepeatVector", "Permute", "Lambda", "TimeDistributed", "Conv1D", "Conv2D", "Conv3D",
                "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "SeparableConv2D", "DepthwiseConv2D",
                "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
                "AveragePooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
                "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
                "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D",
                "GlobalMaxPool2D", "Cropping2D", "ZeroPadding2D"}
               | _KEEP | _NORMALIZE | set(_ACTIVATION_LAYERS) | set(_MERGE))


def activation_name(value: object, default: str | None = "linear") -> str | None:
    """``"sigmoid"``, ``keras.activations.sigmoid``, ``tf.nn.softmax``, ``None`` -> a range name."""
    if value is None:
        return default
    if isinstance(value, Scalar) and value.dtype == "NoneType":
        return "linear"
    name = value.value if isinstance(value, Text) else value.kind[len("act:"):] if (
        isinstance(value, Library) and value.kind.startswith("act:")) else None
    if name is None:
        return None
    name = name.lower()
    return name if name in RANGES else None


def input_tensor(shape_value: object, name: object = None, batch: object = None) -> KT:
    dims = as_ints(shape_value)
    if dims is None:
        return KT(None, None)
    return KT((None, *dims), "linear", name.value if isinstance(name, Text) else None)


def apply(layer: Layer, value: object) -> object:
    """The KT a layer gives when called on ``value`` (a KT, or a Tup of KTs for merge layers)."""
    kind = layer.kind
    name = layer.kw("name")
    label = name.value if isinstance(name, Text) else None
    if kind in ("Concatenate",) or kind in _MERGE:
        return _merge(layer, value, label)
    if isinstance(value, Arr):  # a model/layer called eagerly on data
        value = KT((None, *value.shape[1:]) if value.shape else None)
    if not isinstance(value, KT):
        return KT(None, None, label)
    shape, activation = _shape_and_activation(layer, value)
    return KT(shape, activation, label)


def _arg(layer: Layer, index: int, *names: str) -> object:
    if index < len(layer.args):
        return layer.args[index]
    for n in names:
        found = layer.kw(n)
        if found is not None:
            return found
    return None


def _shape_and_activation(layer: Layer, inp: KT) -> tuple[Shape, str | None]:  # noqa: C901 - one table
    kind, shape = layer.kind, inp.shape
    own_activation = activation_name(layer.kw("activation"))
    if kind == "Dense":
        units = as_int(_arg(layer, 0, "units"))
        return (None if shape is None else (*shape[:-1], units)), own_activation
    if kind in _KEEP:
        return shape, inp.activation
    if kind in _NORMALIZE:
        return shape, "linear"
    if kind == "Activation":
        return shape, activation_name(_arg(layer, 0, "activation"))
    if kind in _ACTIVATION_LAYERS:
        return shape, _ACTIVATION_LAYERS[kind]
    if kind == "Flatten":
        return (None, size(shape[1:]) if shape is not None else None), inp.activation
    if kind == "Reshape":
        target = as_ints(_arg(layer, 0, "target_shape"))
        if target is None or any(d is None for d in target):
            return None, inp.activation
        if -1 in target:
            total = size(shape[1:]) if shape is not None else None
            known = size(tuple(d for d in target if d != -1))
            fill = total // known if total is not None and known else None
            target = tuple(fill if d == -1 else d for d in target)
        return (None, *target), inp.activation
    if kind.startswith(("GlobalAverage", "GlobalMax", "GlobalAvg")):
        keep = layer.kw("keepdims")
        if isinstance(keep, Scalar) and keep.value is True:
            return (None if shape is None else (shape[0], *(1 for _ in shape[1:-1]), shape[-1])), inp.activation
        return (None, shape[-1] if shape is not None else None), inp.activation
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        units = as_int(_arg(layer, 0, "units"))
        sequences = layer.kw("return_sequences")
        if isinstance(sequences, Scalar) and sequences.value is True:
            return (None if shape is None else (shape[0], shape[1] if len(shape) > 1 else None, units)), own_activation
        return (None, units), None
    if kind == "Embedding":
        out = as_int(_arg(layer, 1, "output_dim"))
        return (None if shape is None else (*shape, out)), "linear"
    if kind.startswith(("Conv", "SeparableConv", "DepthwiseConv")):
        return _conv(layer, shape), own_activation
    if kind.startswith(("MaxPool", "AveragePool", "AvgPool")):
        return _pool(layer, shape), inp.activation
    if kind.startswith("UpSampling"):
        factor = as_ints(_arg(layer, 0, "size"))
        if shape is None:
            return None, inp.activation
        spatial = len(shape) - 2
        factors = factor if factor is not None and len(factor) == spatial else (
            (factor[0],) * spatial if factor else (2,) * spatial)
        dims = tuple(None if d is None or f is None else d * f for d, f in zip(shape[1:-1], factors))
        return (shape[0], *dims, shape[-1]), inp.activation
    if kind == "RepeatVector":
        n = as_int(_arg(layer, 0, "n"))
        return (None if shape is None else (shape[0], n, *shape[1:])), inp.activation
    return None, None  # Lambda, TimeDistributed, custom layers: not known


def _spatial(layer: Layer, shape: Shape, size_index: int, size_names: tuple[str, ...],
             default_size: tuple[int, ...] | None) -> tuple[list[Dim], list[int | None], list[int | None], str] | None:
    if shape is None or len(shape) < 3:
        return None
    spatial = len(shape) - 2
    sizes = as_ints(_arg(layer, size_index, *size_names))
    if sizes is None:
        sizes = default_size
    if sizes is None:
        return None
    if len(sizes) == 1:
        sizes = sizes * spatial
    strides = as_ints(layer.kw("strides")) or None
    padding = layer.kw("padding")
    pad = padding.value.lower() if isinstance(padding, Text) else "valid" if padding is None else "?"
    return list(shape[1:-1]), list(sizes), list(strides) if strides else [], pad


def _conv(layer: Layer, shape: Shape) -> Shape:
    filters = as_int(_arg(layer, 0, "filters"))
    if layer.kind.startswith("DepthwiseConv"):
        filters = shape[-1] if shape is not None else None
    found = _spatial(layer, shape, 1, ("kernel_size",), None)
    if found is None or layer.kw("dilation_rate") is not None:
        return None if shape is None else (shape[0], *(None for _ in shape[1:-1]), filters)
    dims, kernel, strides, pad = found
    if len(strides) == 1:
        strides = strides * len(dims)
    strides = strides or [1] * len(dims)
    transpose = "Transpose" in layer.kind
    out: list[Dim] = []
    for d, k, s in zip(dims, kernel, strides):
        if d is None or k is None or s is None or pad not in ("valid", "same"):
            out.append(None)
        elif transpose:
            out.append(d * s if pad == "same" else (d - 1) * s + max(k, s))
        else:
            out.append(-(-d // s) if pad == "same" else (d - k) // s + 1)
    return (shape[0], *out, filters)  # type: ignore[index]


def _pool(layer: Layer, shape: Shape) -> Shape:
    found = _spatial(layer, shape, 0, ("pool_size",), (2,))
    if found is None:
        return None if shape is None else (shape[0], *(None for _ in shape[1:-1]), shape[-1])
    dims, pool, strides, pad = found
    strides = strides * len(dims) if len(strides) == 1 else strides or list(pool)
    out: list[Dim] = []
    for d, k, s in zip(dims, pool, strides):
        if d is None or k is None or s is None or pad not in ("valid", "same"):
            out.append(None)
        else:
            out.append(-(-d // s) if pad == "same" else (d - k) // s + 1)
    return (shape[0], *out, shape[-1])  # type: ignore[index]


def _merge(layer: Layer, value: object, label: str | None) -> KT:
    items = value.items if isinstance(value, Tup) else ()
    if not items or not all(isinstance(i, KT) for i in items):
        return KT(None, None, label)
    shapes = [i.shape for i in items]  # type: ignore[union-attr]
    activations = {i.activation for i in items}  # type: ignore[union-attr]
    activation = activations.pop() if len(activations) == 1 else None
    if layer.kind == "Concatenate":
        axis = as_int(_arg(layer, 0, "axis"))
        axis = -1 if axis is None and _arg(layer, 0, "axis") is None else axis
        if axis is None or any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1:  # type: ignore[arg-type]
            return KT(None, activation, label)
        rank = len(shapes[0])  # type: ignore[arg-type]
        position = axis % rank
        total: Dim = 0
        for s in shapes:
            total = None if total is None or s[position] is None else total + s[position]  # type: ignore[index,operator]
        out = list(shapes[0])  # type: ignore[arg-type]
        out[position] = total
        return KT(tuple(out), activation, label)
    merged: Shape = shapes[0]
    for s in shapes[1:]:
        merged = broadcast(merged, s)
    return KT(merged, activation if layer.kind in ("Average", "Maximum", "Minimum") else "linear", label)


def sequential_output(layers: Sequence[Layer], input_shape: Shape) -> KT | None:
    """Run a Sequential's layers from its Input (or ``input_shape=`` of the first layer, or the fit data)."""
    if not layers:
        return None
    current: object = KT(input_shape, None) if input_shape is not None else KT(None, None)
    for layer in layers:
        if isinstance(layer, Model):  # a model used as a layer
            current = model_call(layer, current)
            continue
        if layer.kind in ("Input", "InputLayer"):
            shape_value = layer.kw("shape") or layer.kw("input_shape") or (layer.args[0] if layer.args else None)
            current = input_tensor(shape_value, layer.kw("name"))
            continue
        stated = layer.kw("input_shape")
        if stated is not None and isinstance(current, KT) and current.shape is None:
            current = input_tensor(stated)
        current = apply(layer, current)
    return current if isinstance(current, KT) else None


def declared_input(layers: Sequence[Layer]) -> Shape:
    for layer in layers[:1]:
        if not isinstance(layer, Layer):
            return None
        shape_value = layer.kw("shape") or layer.kw("input_shape") or (
            layer.args[0] if layer.kind in ("Input", "InputLayer") and layer.args else None)
        dims = as_ints(shape_value)
        if dims is not None:
            return (None, *dims)
    return None


def outputs_of(model: Model, data_shape: Shape = None) -> object:
    """The model's outputs; a Sequential without a stated input takes the shape of the data it is fit on."""
    if model.layers is not None:
        stated = declared_input(model.layers)
        start = stated or model.input_shape or (None if data_shape is None else (None, *data_shape[1:]))
        return sequential_output(model.layers, start if stated is None else None)
    return model.outputs


def model_call(model: Model, value: object) -> object:
    """``model(x)``: the outputs at the batch's shape (a custom loop or a model used as a layer)."""
    shape = value.shape if isinstance(value, (Arr, KT)) else None
    return outputs_of(model, shape)
