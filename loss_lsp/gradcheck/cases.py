"""The shapes, label values and prediction ranges the gradient check runs a loss at.

Known shapes (the program's own, inferred or stated by a hint or the settings) give one case:
the program's shapes with the batch dimension set to ``BATCH``. Unknown shapes give a few cases,
the smallest the loss body allows (``engine.shape_constraints``): batch 1 and ``BATCH``, one and
several columns where the body allows both, and both label ranks for a Loss subclass or a direct
call (they differ there). A verdict is confirmed only if it holds in every case that can show it.

Pure Python: no TensorFlow here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from loss_lsp.engine.chunks import split_blocks, split_lines
from loss_lsp.engine.findings import LossInfo
from loss_lsp.engine.shape_constraints import BodyConstraints, constraints_of, module_helpers
from loss_lsp.settings import Settings

BATCH = 8
INT_DTYPES = ("int", "int8", "int16", "int32", "int64", "uint8", "bool")
MAX_CASES = 4


@dataclass(frozen=True)
class ShapeCase:
    shapes: dict[str, Any]  # y_true, y_pred (concrete lists), y_true_dtype, y_true_domain, y_pred_range
    stated: bool  # the program says these shapes (inference, hint or setting)
    origin: str  # where they come from, for the evidence

    @property
    def batch(self) -> int:
        return int(self.shapes["y_pred"][0]) if self.shapes["y_pred"] else 0


def show(shape: Any) -> str:
    """A program shape, its unknown dimensions (the batch) as N: "(N, 1)", "(256,)"."""
    dims = ["N" if d in (-1, None) else str(d) for d in shape]
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


@lru_cache(maxsize=4)
def _parsed(source: str) -> tuple[list[Any], dict[str, tuple[ast.FunctionDef, int]]]:
    """The file's parsed blocks and its module-level functions (one parse for all its losses)."""
    blocks = [block for block in split_blocks(split_lines(source)) if block.tree is not None]
    helpers = {name: found for block in blocks for name, found in module_helpers(block.tree, block.start).items()}
    return blocks, helpers


def loss_constraints(source: str, loss: LossInfo) -> BodyConstraints:
    """What the loss's body says about its inputs (empty when the definition is not in this file)."""
    try:
        blocks, helpers = _parsed(source)
        for block in blocks:
            for node in ast.walk(block.tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)) \
                        and block.start + node.lineno - 1 == loss.span.start_line:
                    return constraints_of(node, helpers, block.start)
    except RecursionError:  # a pathologically deep expression: no constraints, the default shapes
        pass
    return BodyConstraints()


def _domain(loss: LossInfo, constraints: BodyConstraints, dtype: str, columns: int) -> str | None:
    stated = getattr(loss, "y_true_domain", None)
    if stated:
        return str(stated)
    if constraints.integer_labels or dtype in INT_DTYPES:
        return f"integer:{constraints.classes or max(columns, 2)}"
    if constraints.multiclass and columns > 1:
        return f"one_hot:{columns}"
    return None


def _fill(shape: tuple[int | None, ...], batch: int) -> list[int]:
    return [batch if i == 0 else (5 if d in (-1, None) else int(d)) for i, d in enumerate(shape)]


def _source_text(loss: LossInfo) -> str:
    for name in ("shape_source", "shapes_source", "source"):
        value = getattr(loss, name, None)
        if isinstance(value, str) and value:
            return value
    return ""


def shape_cases(loss: LossInfo, settings: Settings, constraints: BodyConstraints) -> list[ShapeCase]:
    y_true = loss.y_true_shape if loss.y_true_shape is not None else settings.default_shapes.get("y_true")
    y_pred = loss.y_pred_shape if loss.y_pred_shape is not None else settings.default_shapes.get("y_pred")
    dtype = loss.y_true_dtype or "float32"
    pred_range = getattr(loss, "y_pred_range", None)
    if y_true and y_pred:
        others = [d for shape in (y_true, y_pred) for d in shape[1:]]
        batch = BATCH if BATCH not in others else BATCH - 1  # keep (B, B) recognisable
        columns = int(y_pred[-1]) if len(y_pred) > 1 and y_pred[-1] not in (-1, None) else 1
        source = _source_text(loss)
        origin = f"the program's y_true {show(y_true)}, y_pred {show(y_pred)}" + (f": {source}" if source else "")
        return [ShapeCase({"y_true": _fill(tuple(y_true), batch), "y_pred": _fill(tuple(y_pred), batch),
                           "y_true_dtype": dtype, "y_true_domain": _domain(loss, constraints, dtype, columns),
                           "y_pred_range": pred_range}, True, origin)]
    derived = constraints.describe()
    origin = "shapes not known: " + (f"derived from the loss body ({derived})" if derived else
                                     "the smallest the loss body allows")
    cases: list[ShapeCase] = []
    for batch, columns, rank_one in _grid(loss, constraints, y_true, y_pred):
        middle = [4] * (constraints.min_rank - 2)  # spatial axes the body reduces over
        pred = list(_fill(tuple(y_pred), batch)) if y_pred else [batch, *middle, columns]
        columns = pred[-1] if len(pred) > 1 else 1
        domain = _domain(loss, constraints, dtype, columns)
        if y_true:
            true = _fill(tuple(y_true), batch)
        elif domain and domain.startswith("integer") and not constraints.y_true_needs_columns:
            true = [batch]
        elif rank_one:
            true = [batch]
        elif constraints.y_pred_split and not constraints.y_true_needs_columns and not constraints.multiclass:
            true = [batch, 1]  # y_pred's columns are parts of one prediction (mean, variance): one target column
        else:
            true = [batch, max(columns, constraints.y_true_min_columns)] if constraints.y_true_needs_columns \
                and len(pred) < 2 else list(pred)
        run_dtype = "int32" if domain and domain.startswith("integer") and not loss.y_true_dtype else dtype
        case = ShapeCase({"y_true": true, "y_pred": pred, "y_true_dtype": run_dtype, "y_true_domain": domain,
                          "y_pred_range": pred_range}, False, origin)
        if case.shapes not in [c.shapes for c in cases]:
            cases.append(case)
    if pred_range == "softmax":  # a softmax over one unit is always 1: such a case shows nothing about the loss
        cases = [c for c in cases if len(c.shapes["y_pred"]) < 2 or c.shapes["y_pred"][-1] > 1] or cases
    return cases[:MAX_CASES]


def _grid(loss: LossInfo, constraints: BodyConstraints, y_true: Any, y_pred: Any) -> list[tuple[int, int, bool]]:
    """(batch, columns, y_true of rank 1) for the unknown shapes."""
    columns = [int(y_pred[-1])] if y_pred and len(y_pred) > 1 and y_pred[-1] not in (-1, None) \
        else constraints.y_pred_columns()
    grid = [(BATCH, c, False) for c in columns] + [(1, columns[0], False)]
    # A Loss subclass or a direct call gets the labels as the program has them, (B,) or (B, 1): both are tried.
    if loss.call_path != "compile" and not y_true and columns[0] == 1 and not constraints.y_true_needs_columns \
            and not constraints.integer_labels and constraints.min_rank <= 2:
        grid.insert(1, (BATCH, 1, True))
    return grid
