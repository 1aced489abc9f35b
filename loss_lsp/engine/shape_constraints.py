"""What a loss's own body says about the shapes of y_true and y_pred (pure AST, no TensorFlow).

When the program does not say which shapes reach a loss, the gradient check runs it at the
smallest shapes the body is consistent with, never at shapes the body rules out:

    y_pred[:, 1:]                 y_pred has at least 2 columns (else the slice is empty)
    y_pred[..., 2] / y_pred[:, -3] at least 3 columns
    y_true[:, 0]                  y_true has a column axis (rank >= 2)
    tf.one_hot(y_true, 5)         y_true holds integer class ids (5 classes)
    sparse_categorical_crossentropy(y_true, ...), tf.gather(..., y_true)   integer class ids
    tf.split(y_pred, 2, axis=-1)  a multiple of 2 columns
    mu, s = tf.unstack(y_pred, axis=-1)   exactly 2 columns
    softmax / categorical / argmax on the class axis   several classes (2 or more)

Names are followed through shape-preserving reassignments (`y_pred = tf.clip_by_value(y_pred, ...)`,
`yt = tf.cast(y_true, tf.float32)`) and into module-level helpers the loss calls with y_true/y_pred.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

# Calls whose result has the shape of their first argument.
_SHAPE_KEEPING = {
    "cast", "convert_to_tensor", "identity", "clip_by_value", "clip", "sigmoid", "softmax", "log_softmax",
    "exp", "log", "abs", "square", "sqrt", "stop_gradient", "maximum", "minimum", "tanh", "relu", "float32",
    "constant", "ensure_shape", "nan_to_num", "round", "floor",
}
_MULTICLASS = {"softmax", "log_softmax", "argmax", "argmin", "categorical_crossentropy", "top_k",
               "softmax_cross_entropy_with_logits", "categorical_focal_crossentropy", "in_top_k"}
_SPARSE = {"sparse_categorical_crossentropy", "sparse_softmax_cross_entropy_with_logits",
           "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy"}
_REDUCTIONS = {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_std",
               "reduce_variance", "reduce_logsumexp", "sum", "mean", "max", "min", "prod", "std", "var", "logsumexp"}
_INDEXING = {"gather", "gather_nd", "one_hot", "take_along_axis", "take"}
_MAX_HELPER_DEPTH = 2


@dataclass(frozen=True)
class Note:
    """One constraint and where the body states it (0-based line in the file)."""

    text: str
    line: int


@dataclass(frozen=True)
class BodyConstraints:
    y_pred_min_columns: int = 1
    y_pred_exact_columns: int | None = None
    y_pred_columns_multiple: int = 1
    y_true_min_columns: int = 1
    y_true_needs_columns: bool = False  # y_true[:, k]: rank >= 2
    integer_labels: bool = False
    classes: int | None = None  # from tf.one_hot(y_true, k)
    multiclass: bool = False  # softmax / categorical / argmax over y_pred's class axis
    y_pred_split: bool = False  # y_pred's columns are separate outputs (mean and variance, quantiles)
    min_rank: int = 2  # reductions over axis=[1, 2, 3] of the inputs: rank 4 at least
    notes: tuple[Note, ...] = field(default_factory=tuple)

    def merged(self, other: BodyConstraints) -> BodyConstraints:
        exact = self.y_pred_exact_columns or other.y_pred_exact_columns
        return BodyConstraints(
            max(self.y_pred_min_columns, other.y_pred_min_columns), exact,
            max(self.y_pred_columns_multiple, other.y_pred_columns_multiple),
            max(self.y_true_min_columns, other.y_true_min_columns),
            self.y_true_needs_columns or other.y_true_needs_columns,
            self.integer_labels or other.integer_labels,
            self.classes or other.classes,
            self.multiclass or other.multiclass,
            self.y_pred_split or other.y_pred_split,
            max(self.min_rank, other.min_rank),
            self.notes + tuple(n for n in other.notes if n not in self.notes))

    def y_pred_columns(self) -> list[int]:
        """Column counts to try, smallest first: the fewest the body allows, and several."""
        if self.y_pred_exact_columns:
            return [self.y_pred_exact_columns]
        smallest = max(self.y_pred_min_columns, self.classes or 1)
        step = self.y_pred_columns_multiple
        smallest = -(-smallest // step) * step
        several = max(smallest + 1, 3)
        several = -(-several // step) * step
        if self.classes:  # one_hot(y_true, k) against y_pred: k columns
            return [self.classes]
        return [smallest, several]

    def describe(self) -> str:
        return "; ".join(f"{note.text} (line {note.line + 1})" for note in self.notes)


def loss_parameters(node: ast.AST) -> tuple[ast.AST | None, str, str]:
    """The function whose body is the loss, and its (y_true, y_pred) parameter names."""
    if isinstance(node, ast.ClassDef):
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in ("call", "__call__"):
                return loss_parameters(item)
        return None, "", ""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        names = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
        if names and names[0] in ("self", "cls"):
            names = names[1:]
        if len(names) >= 2:
            return node, names[0], names[1]
    return None, "", ""


def constraints_of(node: ast.AST, helpers: dict[str, tuple[ast.FunctionDef, int]] | None = None,
                   line_offset: int = 0) -> BodyConstraints:
    """The constraints the loss defined by ``node`` (a def, lambda or Loss subclass) places on its inputs.

    ``helpers``: module-level functions by name (with their block's first line), followed when the loss
    passes y_true/y_pred on.
    ``line_offset``: added to the node's line numbers (the block's first line in the file).
    """
    function, y_true, y_pred = loss_parameters(node)
    if function is None:
        return BodyConstraints()
    return _Reader(helpers or {}, line_offset).read(function, y_true, y_pred, 0)


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _int(node: ast.AST | None) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _int(node.operand)
        return -inner if inner is not None else None
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _columns_needed(index: ast.AST) -> int | None:
    """Columns an index on the class axis needs to select something: [:, 2] -> 3, [:, 1:] -> 2."""
    if isinstance(index, ast.Slice):
        lower, upper = _int(index.lower), _int(index.upper)
        if index.lower is not None and lower is None or index.upper is not None and upper is None:
            return None
        needed = 1
        if lower is not None:
            needed = max(needed, lower + 1 if lower >= 0 else -lower)
        if upper is not None:
            needed = max(needed, upper if upper > 0 else -upper + 1)
        return needed
    value = _int(index)
    if value is None:
        return None
    return value + 1 if value >= 0 else -value


class _Reader:
    def __init__(self, helpers: dict[str, tuple[ast.FunctionDef, int]], line_offset: int) -> None:
        self.helpers = helpers
        self.offset = line_offset

    def read(self, function: ast.AST, y_true: str, y_pred: str, depth: int) -> BodyConstraints:
        found = BodyConstraints()
        aliases = {y_true: "y_true", y_pred: "y_pred"}
        body = function.body if isinstance(function.body, list) else [function.body]  # type: ignore[attr-defined]
        for statement in body:
            for node in _in_order(statement):
                found = found.merged(self._node(node, aliases, depth))
        return found

    def _note(self, text: str, node: ast.AST) -> tuple[Note, ...]:
        return (Note(text, getattr(node, "lineno", 1) - 1 + self.offset),)

    def _tensor(self, node: ast.AST | None, aliases: dict[str, str]) -> str | None:
        """Which input an expression is (through shape-keeping calls), if any."""
        while isinstance(node, ast.Call) and _name(node.func) in _SHAPE_KEEPING and node.args:
            node = node.args[0]
        if isinstance(node, ast.Name):
            return aliases.get(node.id)
        return None

    @staticmethod
    def _mentions(node: ast.AST, aliases: dict[str, str]) -> bool:
        return any(isinstance(n, ast.Name) and n.id in aliases for n in ast.walk(node))

    def _node(self, node: ast.AST, aliases: dict[str, str], depth: int) -> BodyConstraints:
        if isinstance(node, ast.Assign):
            return self._assign(node, aliases)
        if isinstance(node, ast.Subscript):
            return self._subscript(node, aliases)
        if isinstance(node, ast.Call):
            return self._call(node, aliases, depth)
        return BodyConstraints()

    def _assign(self, node: ast.Assign, aliases: dict[str, str]) -> BodyConstraints:
        source = self._tensor(node.value, aliases)
        found = BodyConstraints()
        for target in node.targets:
            if isinstance(target, ast.Name):
                if source is not None:
                    aliases[target.id] = source
                else:
                    aliases.pop(target.id, None)  # reassigned to something else: no longer the input
            elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(node.value, ast.Call) \
                    and _name(node.value.func) == "unstack" and node.value.args \
                    and self._tensor(node.value.args[0], aliases) == "y_pred" and _last_axis(node.value):
                count = len(target.elts)
                found = found.merged(BodyConstraints(y_pred_min_columns=count, y_pred_exact_columns=count,
                                                     y_pred_split=True,
                                                     notes=self._note(f"unstacking y_pred into {count} needs "
                                                                      f"exactly {count} columns", node)))
        return found

    def _subscript(self, node: ast.Subscript, aliases: dict[str, str]) -> BodyConstraints:
        tensor = self._tensor(node.value, aliases)
        if tensor is None or not isinstance(node.slice, ast.Tuple) or len(node.slice.elts) < 2:
            return BodyConstraints()
        elts = node.slice.elts
        if isinstance(elts[0], ast.Constant) and elts[0].value is Ellipsis:
            index = elts[-1]
        elif len(elts) == 2:
            index = elts[1]
        else:
            return BodyConstraints()
        needed = _columns_needed(index)
        if needed is None:
            return BodyConstraints()
        text = f"{tensor}[{', '.join(ast.unparse(e) for e in elts)}]"
        if tensor == "y_pred":
            if needed <= 1:
                return BodyConstraints()
            return BodyConstraints(y_pred_min_columns=needed, y_pred_split=True,
                                   notes=self._note(f"{text} needs at least {needed} columns", node))
        return BodyConstraints(y_true_min_columns=needed, y_true_needs_columns=True,
                               notes=self._note(f"{text} needs a column axis" +
                                                (f" of at least {needed}" if needed > 1 else ""), node))

    def _call(self, node: ast.Call, aliases: dict[str, str], depth: int) -> BodyConstraints:
        name = _name(node.func)
        args = [*node.args, *(k.value for k in node.keywords)]
        inputs = [self._tensor(a, aliases) for a in args]
        if name == "one_hot" and node.args and self._tensor(node.args[0], aliases) == "y_true":
            depth_arg = node.args[1] if len(node.args) > 1 else _keyword(node, "depth")
            classes = _int(depth_arg)
            text = f"tf.one_hot(y_true, {ast.unparse(depth_arg) if depth_arg is not None else '?'})"
            return BodyConstraints(integer_labels=True, classes=classes if classes and classes > 1 else None,
                                   notes=self._note(f"{text} means integer class labels", node))
        if (name in _SPARSE or name in _INDEXING) and "y_true" in inputs:
            return BodyConstraints(integer_labels=True,
                                   notes=self._note(f"{name}(..., y_true, ...) means integer class labels", node))
        if name in _MULTICLASS and "y_pred" in inputs:
            return BodyConstraints(y_pred_min_columns=2, multiclass=True,
                                   notes=self._note(f"{name} over y_pred's class axis means several classes", node))
        if name in _REDUCTIONS and node.args and self._mentions(node.args[0], aliases):
            axis = _keyword(node, "axis") or (node.args[1] if len(node.args) > 1 else None)
            rank = _rank_for_axis(axis)
            if rank > 2:
                return BodyConstraints(min_rank=rank, notes=self._note(f"{name}(..., axis={ast.unparse(axis)}) "
                                                                       f"needs inputs of rank {rank}", node))
        if name == "split" and node.args and self._tensor(node.args[0], aliases) == "y_pred" and _last_axis(node):
            parts = _int(node.args[1]) if len(node.args) > 1 else _int(_keyword(node, "num_or_size_splits"))
            if parts and parts > 1:
                return BodyConstraints(y_pred_min_columns=parts, y_pred_columns_multiple=parts, y_pred_split=True,
                                       notes=self._note(f"splitting y_pred in {parts} needs a multiple of {parts} "
                                                        "columns", node))
        helper, helper_offset = self.helpers.get(name, (None, 0)) if isinstance(node.func, ast.Name) else (None, 0)
        if helper is not None and depth < _MAX_HELPER_DEPTH and "y_pred" in inputs:
            params = [a.arg for a in (*helper.args.posonlyargs, *helper.args.args)]
            mapped = {params[i]: tensor for i, tensor in enumerate(inputs[:len(node.args)])
                      if tensor and i < len(params)}
            for keyword in node.keywords:
                tensor = self._tensor(keyword.value, aliases)
                if tensor and keyword.arg:
                    mapped[keyword.arg] = tensor
            found = BodyConstraints()
            inner_aliases = dict(mapped)
            outer_offset, self.offset = self.offset, helper_offset
            try:
                for statement in helper.body:
                    for inner in _in_order(statement):
                        found = found.merged(self._node(inner, inner_aliases, depth + 1))
            finally:
                self.offset = outer_offset
            return found
        return BodyConstraints()


def _rank_for_axis(axis: ast.AST | None) -> int:
    """The smallest rank an `axis=` argument (an int or a list of ints) is valid for."""
    values = [_int(e) for e in axis.elts] if isinstance(axis, (ast.Tuple, ast.List)) else [_int(axis)]
    rank = 0
    for value in values:
        if value is None:
            return 0
        rank = max(rank, value + 1 if value >= 0 else -value)
    return rank


def _last_axis(call: ast.Call) -> bool:
    axis = _int(_keyword(call, "axis"))
    if axis is None and len(call.args) > 2:
        axis = _int(call.args[2])
    return axis in (-1, 1)


def _in_order(node: ast.AST) -> list[ast.AST]:
    """Every node below ``node`` in source order, assignments after their right-hand side."""
    out: list[ast.AST] = []

    def visit(current: ast.AST) -> None:
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)) \
                and current is not node:
            return  # nested definitions run later, if ever
        if isinstance(current, ast.Assign):
            visit(current.value)
            out.append(current)
            return
        out.append(current)
        for child in ast.iter_child_nodes(current):
            visit(child)

    visit(node)
    return out


def module_helpers(tree: ast.Module, line_offset: int = 0) -> dict[str, tuple[ast.FunctionDef, int]]:
    """Module-level functions by name, with the line offset of the block they were parsed from."""
    return {node.name: (node, line_offset) for node in tree.body if isinstance(node, ast.FunctionDef)}


__all__ = ["BodyConstraints", "Note", "constraints_of", "loss_parameters", "module_helpers"]
