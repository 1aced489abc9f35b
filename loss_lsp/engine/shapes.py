"""Shapes and dtypes of y_true / y_pred, as far as the code states them.

Sources, strongest first: an in-code hint ``# loss-lsp: shapes y_true=(8,) y_pred=(8, 1)``,
the training context (the model's last layer, ``Input(shape=...)``, the arrays given to
``fit``), then the ``default_shapes`` setting. Unknown stays ``None``: shape rules are quiet then.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from loss_lsp.engine.module import LayerCall, ModuleInfo

HINT = re.compile(r"#\s*loss-lsp:\s*shapes\s+(.*)$")
_HINT_ITEM = re.compile(r"(y_true|y_pred)\s*=\s*\(([^)]*)\)")
_HINT_DTYPE = re.compile(r"y_true_dtype\s*=\s*([A-Za-z0-9_]+)")
_INT_DTYPES = ("int", "int8", "int16", "int32", "int64", "uint8", "bool")


@dataclass(frozen=True)
class Shapes:
    y_true: tuple[int, ...] | None = None
    y_pred: tuple[int, ...] | None = None
    y_true_dtype: str | None = None
    source: str = ""  # "hint", "context", "setting"

    @property
    def known(self) -> bool:
        return self.y_true is not None and self.y_pred is not None


def hint_dtype(line: str) -> str | None:
    match = HINT.search(line)
    found = _HINT_DTYPE.search(match.group(1)) if match else None
    return found.group(1) if found else None


def parse_hint(line: str) -> dict[str, tuple[int, ...]]:
    match = HINT.search(line)
    if not match:
        return {}
    out: dict[str, tuple[int, ...]] = {}
    for name, body in _HINT_ITEM.findall(match.group(1)):
        try:
            out[name] = tuple(int(part) for part in body.split(",") if part.strip())
        except ValueError:
            continue
    return out


def _int_tuple(node: ast.AST | None) -> tuple[int, ...] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return (node.value,)
    if isinstance(node, (ast.Tuple, ast.List)):
        out = []
        for elt in node.elts:
            if isinstance(elt, ast.Constant) and isinstance(elt.value, int) and not isinstance(elt.value, bool):
                out.append(elt.value)
            elif isinstance(elt, ast.Constant) and elt.value is None:
                out.append(-1)
            else:
                return None
        return tuple(out)
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _output_units(layer: LayerCall) -> int | None:
    call = layer.call
    if layer.kind == "Dense":
        node = call.args[0] if call.args else _keyword(call, "units")
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
    return None


def _array_shape(module: ModuleInfo, node: ast.expr, depth: int = 0) -> tuple[tuple[int, ...] | None, str | None]:
    """Shape and dtype of an array expression given to fit: literals and np.random/np.zeros calls."""
    if isinstance(node, ast.Name) and depth < 3 and node.id in module.assignments:
        return _array_shape(module, module.assignments[node.id][0], depth + 1)
    if isinstance(node, (ast.List, ast.Tuple)):
        inner = [_array_shape(module, elt, depth + 1) for elt in node.elts]
        if all(isinstance(e, ast.Constant) for e in node.elts):
            is_int = all(isinstance(e.value, int) for e in node.elts)  # type: ignore[attr-defined]
            return (len(node.elts),), ("int32" if is_int else "float32")
        if inner and all(s is not None for s, _ in inner):
            return (len(node.elts), *inner[0][0]), inner[0][1]  # type: ignore[misc]
        return None, None
    if not isinstance(node, ast.Call):
        return None, None
    if isinstance(node.func, ast.Attribute) and node.func.attr in ("astype", "reshape") and depth < 4:
        shape, dtype = _array_shape(module, node.func.value, depth + 1)
        if node.func.attr == "reshape":
            shape = _int_tuple(node.args[0] if len(node.args) == 1 else ast.Tuple(elts=node.args))
        else:
            dtype = _dtype_name(node.args[0] if node.args else None) or dtype
        return shape, dtype
    op = module.op(node.func)
    if op is None:
        return None, None
    if op.namespace == "np" and op.name in ("array", "asarray") and node.args:
        shape, dtype = _array_shape(module, node.args[0], depth + 1)
        dtype_node = _keyword(node, "dtype")
        return shape, _dtype_name(dtype_node) or dtype
    if op.namespace == "np" and op.name in ("random.rand", "random.randn"):
        dims = tuple(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, int))
        return (dims or None), "float32"
    if op.namespace == "np" and op.name in ("random.randint", "random.random", "random.normal", "random.uniform",
                                             "zeros", "ones", "empty", "random.random_sample", "full"):
        size = _keyword(node, "size") or _keyword(node, "shape")
        if size is None and op.name in ("zeros", "ones", "empty", "full") and node.args:
            size = node.args[0]
        if size is None and op.name == "random.randint" and len(node.args) >= 3:
            size = node.args[2]
        shape = _int_tuple(size)
        dtype = _dtype_name(_keyword(node, "dtype"))
        if dtype is None:
            dtype = "int32" if op.name == "random.randint" else "float32"
        return shape, dtype
    return None, None


def _dtype_name(node: ast.expr | None) -> str | None:
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return node.id if node.id in ("int", "float", "bool") else None
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def is_int_dtype(name: str | None) -> bool:
    return bool(name) and name in _INT_DTYPES  # type: ignore[operator]


def _direct_target(module: ModuleInfo, call: ast.Call) -> tuple[tuple[int, ...] | None, str | None]:
    """``loss_fn(y[i:j], model(x))`` in a training loop: the labels' array, sliced or not."""
    target = call.args[0]
    if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Slice):
        target = target.value
    return _array_shape(module, target)


def from_context(module: ModuleInfo, compile_line: int) -> Shapes:
    """Shapes stated around one compile call (0-based absolute line)."""
    y_pred: tuple[int, ...] | None = None
    dense = module.last_layer_before(compile_line, ("Dense",), lambda layer: _output_units(layer) is not None)
    if dense is not None:
        y_pred = (-1, _output_units(dense))  # type: ignore[arg-type]
    y_true: tuple[int, ...] | None = None
    dtype: str | None = None
    for _, fit in zip(range(3), module.fits_after(compile_line)):  # the fit right after is this model's
        target = fit.call.args[1] if len(fit.call.args) >= 2 else _keyword(fit.call, "y")
        if target is None:
            continue
        shape, dtype = _array_shape(module, target)
        if shape is not None:
            y_true = (-1, *shape[1:])
            break
    return Shapes(y_true, y_pred, dtype, "context" if (y_true or y_pred) else "")


def resolve(module: ModuleInfo, compile_line: int | None, hint_lines: list[str],
            defaults: dict[str, tuple[int, ...]], direct_call: ast.Call | None = None) -> Shapes:
    """The best shapes for one loss: hint, then context, then settings."""
    hint: dict[str, tuple[int, ...]] = {}
    dtype: str | None = None
    for line in hint_lines:
        hint.update(parse_hint(line))
        dtype = hint_dtype(line) or dtype
    context = from_context(module, compile_line) if compile_line is not None else Shapes()
    if direct_call is not None and direct_call.args:
        shape, direct_dtype = _direct_target(module, direct_call)
        if shape is not None:
            context = Shapes((-1, *shape[1:]), context.y_pred, direct_dtype, "context")
    if dtype is not None:
        context = Shapes(context.y_true, context.y_pred, dtype, context.source)
    y_true = hint.get("y_true") or context.y_true or defaults.get("y_true")
    y_pred = hint.get("y_pred") or context.y_pred or defaults.get("y_pred")
    source = "hint" if hint else context.source or ("setting" if defaults else "")
    return Shapes(y_true, y_pred, context.y_true_dtype, source)
