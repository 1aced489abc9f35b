"""The shapes one loss gets: hint, then the program's own data and model, then the settings."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loss_lsp.engine.module import LayerCall, ModuleInfo
from loss_lsp.engine.shapes.hints import hint_dtype, parse_hint
from loss_lsp.engine.shapes.models import RANGES
from loss_lsp.engine.shapes.values import KT, Arr, INT_DTYPES, join, shape_text
from loss_lsp.engine.shapes.wiring import Binding, program_facts

if TYPE_CHECKING:
    from loss_lsp.engine.discovery import LossDef

Dims = tuple  # a shape: ints, -1 for the batch, None for an unknown dimension


@dataclass(frozen=True)
class Shapes:
    """What the loss receives. The leading dimension is the batch (-1); None inside a shape is unknown."""

    y_true: Dims | None = None
    y_pred: Dims | None = None
    y_true_dtype: str | None = None
    # Human text: where the shapes come from ("y_true (batch,) from `y = x.sum(axis=1)`, line 12").
    # Not part of equality: the per-loss cache must not miss because lines moved.
    source: str = field(default="", compare=False)
    y_true_domain: str | None = None  # "binary", "integer:K", "one_hot:K", "continuous"; None unknown
    y_pred_range: str | None = None  # the last activation: "sigmoid", "softmax", "relu", "tanh", "linear"

    @property
    def known(self) -> bool:
        return self.y_true is not None and self.y_pred is not None


def as_received(y_true: Dims | None, y_pred: Dims | None, call_path: str) -> tuple[Dims | None, Dims | None]:
    """The shapes the loss function itself sees: Keras's wrapper for a function given to ``compile``
    aligns a rank difference of one when the longer shape ends in 1 (keras ``squeeze_or_expand_to_same_rank``):
    (B,) labels become (B, 1); otherwise the trailing 1 is squeezed. Loss subclasses and direct calls
    get the arrays unchanged."""
    if call_path != "compile" or y_true is None or y_pred is None:
        return y_true, y_pred
    t, p = tuple(y_true), tuple(y_pred)
    if len(t) == len(p) + 1 and t[-1] == 1:
        return (t, (*p, 1)) if len(p) == 1 else (t[:-1], p)
    if len(p) == len(t) + 1 and p[-1] == 1:
        return ((*t, 1), p) if len(t) == 1 else (t, p[:-1])
    return t, p


def is_int_dtype(name: str | None) -> bool:
    return bool(name) and name in INT_DTYPES  # type: ignore[operator]


# --- from the program ------------------------------------------------------------------------------
def _batch(shape: tuple | None) -> Dims | None:
    if shape is None or not shape:
        return None
    return (-1, *shape[1:])


def _joined(values: list[object]) -> object:
    values = [v for v in values if v is not None]
    if not values:
        return None
    out = values[0]
    for other in values[1:]:
        out = join(out, other)
    return out


def _from_bindings(bindings: list[Binding]) -> Shapes:
    y_true = _joined([b.y_true for b in bindings])
    # What the model outputs for the data it is trained on is better informed than what compile saw
    # (a Sequential without an Input learns its input shape from fit).
    trained = [b.y_pred for b in bindings if b.where != "compile" and b.y_pred is not None]
    y_pred = _joined(trained or [b.y_pred for b in bindings])
    true_arr = y_true if isinstance(y_true, Arr) else None
    pred_shape = y_pred.shape if isinstance(y_pred, (KT, Arr)) else None
    true_shape = _batch(true_arr.shape) if true_arr is not None else None
    pred_dims = _batch(pred_shape)
    activation = y_pred.activation if isinstance(y_pred, KT) else None
    parts = []
    if true_shape is not None:
        origin = f" from {true_arr.origin}" if true_arr.origin else ""  # type: ignore[union-attr]
        parts.append(f"y_true {shape_text(true_shape)}{origin}")
    if pred_dims is not None:
        output = f" ({activation} output)" if activation else ""
        parts.append(f"y_pred {shape_text(pred_dims)} from the model{output}")
    domain = true_arr.domain if true_arr is not None else None
    return Shapes(true_shape, pred_dims, true_arr.dtype if true_arr is not None else None, "; ".join(parts),
                  domain, activation if activation in RANGES else None)


_UNKNOWN = Shapes()


def _program(module: ModuleInfo, loss: LossDef) -> tuple[Shapes, bool]:
    """Shapes from the interpreted script, and whether the script reached this loss's uses at all."""
    if not loss.compile_sites and not loss.direct_calls and loss.call_path == "compile":
        return _UNKNOWN, False
    facts = program_facts(module)
    if not loss.compile_sites and id(loss.fn) not in facts.by_fn:
        return _UNKNOWN, False  # most losses of a module: nothing calls them where the script runs
    used: list[list[Binding]] = []
    reached = False
    for site in loss.compile_sites:
        if id(site.call) in facts.seen_compiles:
            reached = True
        if id(site.expr) in facts.by_expr:
            used.append(facts.by_expr[id(site.expr)])
    direct = facts.by_fn.get(id(loss.fn), [])
    if direct:
        reached = True
        if loss.call_path != "compile":
            used.append(direct)
    if not any(used) or (loss.call_path == "compile" and not loss.compile_sites):
        return _UNKNOWN, reached
    key = tuple(id(bindings) for bindings in used)
    if key not in facts.derived:
        facts.derived[key] = _from_bindings([binding for bindings in used for binding in bindings])
    return facts.derived[key], reached  # type: ignore[return-value]


def from_context(module: ModuleInfo, compile_line: int) -> Shapes:
    """Shapes around one compile call (0-based absolute line): the program's, else the nearby layers/fit."""
    facts = program_facts(module)
    sites = [s for s in module.compile_sites if s.block_start + s.call.lineno - 1 == compile_line]
    if sites and all(id(s.call) in facts.seen_compiles for s in sites):
        return _from_bindings([b for s in sites for b in facts.by_expr.get(id(s.expr), [])])
    return _nearby(module, compile_line)


def for_loss(module: ModuleInfo, loss: LossDef, hint_lines: list[str],
             defaults: Mapping[str, tuple[int, ...]]) -> Shapes:
    """The best shapes for one loss: hint, then the program, then settings."""
    if not hint_lines and not defaults and not loss.compile_sites and not loss.direct_calls:
        program, _ = _program(module, loss)
        return program  # nothing to look up nearby, nothing to override: the program's answer as it is
    hint: dict[str, tuple[int, ...]] = {}
    dtype: str | None = None
    for line in hint_lines:
        hint.update(parse_hint(line))
        dtype = hint_dtype(line) or dtype
    program, reached = _program(module, loss)
    if not reached:  # a compile or call the interpreter never got to: the legacy reading of nearby code
        line = _first_use_line(loss)
        if line is not None:
            program = _nearby(module, line, loss.direct_calls[0][0] if loss.direct_calls and not
                              loss.compile_sites else None)
    y_true = hint.get("y_true") or program.y_true
    y_pred = hint.get("y_pred") or program.y_pred
    source = program.source
    if hint:
        source = "the `# loss-lsp: shapes` hint"
    if y_true is None and defaults.get("y_true"):
        y_true = defaults["y_true"]
        source = source or "the default_shapes setting"
    if y_pred is None and defaults.get("y_pred"):
        y_pred = defaults["y_pred"]
        source = source or "the default_shapes setting"
    return Shapes(y_true, y_pred, dtype or program.y_true_dtype, source,
                  program.y_true_domain if "y_true" not in hint else None, program.y_pred_range)


def _first_use_line(loss: LossDef) -> int | None:
    if loss.compile_sites:
        site = loss.compile_sites[0]
        return site.block_start + site.call.lineno - 1
    if loss.direct_calls:
        call, block_start = loss.direct_calls[0]
        return block_start + call.lineno - 1
    return None


# --- the legacy reading, for code the interpreter does not reach ----------------------------------
def _int_tuple(node: ast.AST | None) -> tuple[int, ...] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return (node.value,)
    if isinstance(node, (ast.Tuple, ast.List)):
        out = []
        for elt in node.elts:
            if isinstance(elt, ast.Constant) and isinstance(elt.value, int) and not isinstance(elt.value, bool):
                out.append(elt.value)
            else:
                return None
        return tuple(out)
    return None


def _output_units(layer: LayerCall) -> int | None:
    call = layer.call
    if layer.kind == "Dense":
        node = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "units"), None)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
    return None


def _literal_labels(module: ModuleInfo, node: ast.expr) -> tuple[tuple[int, ...] | None, str | None]:
    """Labels written as an np.random/np.zeros call with a literal size, or a name bound to one."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        node = node.value
    if isinstance(node, ast.Name) and node.id in module.assignments:
        node = module.assignments[node.id][0]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "astype":
        node = node.func.value
    if not isinstance(node, ast.Call):
        return None, None
    op = module.op(node.func)
    if op is None or op.namespace != "np":
        return None, None
    if op.name in ("random.rand", "random.randn"):
        dims = _int_tuple(ast.Tuple(elts=list(node.args)))
        return dims, "float32"
    size = next((k.value for k in node.keywords if k.arg in ("size", "shape")), None)
    if size is None and op.name in ("zeros", "ones") and node.args:
        size = node.args[0]
    if size is None and op.name == "random.randint" and len(node.args) >= 3:
        size = node.args[2]
    return _int_tuple(size), "int32" if op.name == "random.randint" else "float32"


def _nearby(module: ModuleInfo, line: int, direct_call: ast.Call | None = None) -> Shapes:
    """The last Dense before the line and the labels of the fit right after (or of a direct call)."""
    y_pred = None
    dense = module.last_layer_before(line, ("Dense",), lambda layer: _output_units(layer) is not None)
    if dense is not None:
        y_pred = (-1, _output_units(dense))
    y_true, dtype = None, None
    if direct_call is not None and direct_call.args:
        shape, dtype = _literal_labels(module, direct_call.args[0])
        y_true = _batch(shape)
    for _, fit in zip(range(3), module.fits_after(line)):
        if y_true is not None:
            break
        target = fit.call.args[1] if len(fit.call.args) >= 2 else next(
            (k.value for k in fit.call.keywords if k.arg == "y"), None)
        if target is not None:
            shape, dtype = _literal_labels(module, target)
            y_true = _batch(shape)
    return Shapes(y_true, y_pred, dtype if y_true is not None else None,
                  "the layers and fit call near the compile" if (y_true or y_pred) else "")
