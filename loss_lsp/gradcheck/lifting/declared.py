"""What the program states about the values the lift feeds: a placeholder's shape and dtype, a variable's
literal shape, a Keras model's output units and activation. Nothing stated: None (the check assumes)."""

from __future__ import annotations

import ast

from loss_lsp.engine.module import dotted


def int_arg(call: ast.Call, index: int, keyword: str) -> int | None:
    value = call.args[index] if len(call.args) > index else next(
        (k.value for k in call.keywords if k.arg == keyword), None)
    return value.value if isinstance(value, ast.Constant) and type(value.value) is int else None


def declared_activation(call: ast.Call) -> str | None:
    value = next((k.value for k in call.keywords if k.arg == "activation"), None)
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value
    name = dotted(value) if value is not None else None
    return name.rsplit(".", 1)[-1] if name else None


def declared_output(model: ast.expr | None) -> tuple[tuple[int | None, ...] | None, str | None]:
    """The output shape and activation a model's definition states: a ``Dense(3, activation="softmax")``
    layer, or a ``Sequential([...])`` ending in one (or in ``Softmax()`` / ``Activation("sigmoid")``)."""
    if not isinstance(model, ast.Call):
        return None, None
    name = (dotted(model.func) or "").rsplit(".", 1)[-1]
    if name == "Sequential" and model.args and isinstance(model.args[0], ast.List) and model.args[0].elts:
        last = model.args[0].elts[-1]
        if isinstance(last, ast.Call):
            last_name = (dotted(last.func) or "").rsplit(".", 1)[-1]
            if last_name in ("Softmax", "Activation"):
                previous = model.args[0].elts[-2] if len(model.args[0].elts) > 1 else None
                shape, _ = declared_output(previous)
                if last_name == "Softmax":
                    return shape, "softmax"
                value = last.args[0] if last.args else None
                return shape, value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
            return declared_output(last)
        return None, None
    if name == "Dense":
        units = int_arg(model, 0, "units")
        return ((None, units) if units else None), declared_activation(model) or "linear"
    return None, None


def literal_shape(value: ast.expr) -> tuple[int | None, ...] | None:
    """The first literal shape in a variable's definition: ``tf.Variable(tf.zeros([784, 10]))``,
    ``get_variable("W", [784, 10])``, ``weight_variable([784, 10])``."""
    for node in ast.walk(value):
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts and all(
                isinstance(e, ast.Constant) and (e.value is None or type(e.value) is int) for e in node.elts):
            return tuple(e.value for e in node.elts)  # type: ignore[misc]
    return None


def declared_placeholder(call: ast.Call) -> tuple[tuple[int, ...] | None, str | None]:
    """``tf.placeholder(tf.float32, [None, 10])``: its shape (the batch as 0) and dtype, as declared."""
    dtype_node = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "dtype"), None)
    dtype = (dotted(dtype_node) or "").rsplit(".", 1)[-1] or None if dtype_node is not None else None
    shape_node = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "shape"),
                                                                 None)
    shape = None
    if isinstance(shape_node, (ast.List, ast.Tuple)) and all(
            isinstance(e, ast.Constant) and (e.value is None or type(e.value) is int) for e in shape_node.elts):
        dims = [e.value for e in shape_node.elts]  # type: ignore[attr-defined]
        if dims and dims[0] is None and all(d is not None for d in dims[1:]):
            shape = (None, *dims[1:])  # the batch
    return shape, dtype
