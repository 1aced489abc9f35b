"""The op catalogue: what each TensorFlow / Keras / NumPy op does to the values flowing through it.

One entry per op name (``CATALOGUE``), read by the dataflow evaluator:

- ``transfer`` computes the output's abstract value from the arguments' values: whether the
  gradient flows, is cut or is absent, the sign/range facts that are proven, the rank;
- ``hard`` names ops with no gradient ("compare", "round", "argmax"...) or a zero one ("sign"): the
  evaluator records where such an op is applied to a gradient-carrying value (LL103);
- ``pairwise`` marks elementwise ops of two tensors, whose y_true and y_pred sides must agree
  in rank and dtype (LL301, LL303);
- ``arithmetic`` maps ``tf.add``/``tf.divide``/... to the Python operator they compute, so
  ``tf.divide(a, b)`` and ``a / b`` get the same facts;
- ``hazard`` says which operand value makes the op non-finite ("log", "sqrt", "divide" at 0).

Entries are looked up by the op's last name component for the tensor namespaces (tf, keras.ops,
keras.backend); NumPy, built-in Keras losses and the rest of the Keras API are handled per namespace.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass

from loss_lsp.engine import namespaces as ns
from loss_lsp.engine.namespaces import Op
from loss_lsp.engine.values import CLEAN, Val, combine


@dataclass(frozen=True)
class OpCall:
    """One call of a library op as the evaluator saw it."""

    node: ast.Call
    args: list[Val]
    kwargs: dict[str, Val]

    @property
    def first(self) -> Val:
        if self.args:
            return self.args[0]
        return next(iter(self.kwargs.values())) if self.kwargs else CLEAN

    @property
    def joined(self) -> Val:
        return combine(*self.args, *self.kwargs.values())


Transfer = Callable[[OpCall], Val]


@dataclass(frozen=True)
class OpEntry:
    transfer: Transfer
    hard: str = ""  # no gradient / zero gradient: the kind reported by LL103
    hard_when: Callable[[OpCall], bool] | None = None  # the op is hard only for some arguments (int casts)
    pairwise: bool = False
    arithmetic: type[ast.operator] | None = None  # computed like this Python operator (2+ arguments)
    hazard: str = ""  # "log" / "sqrt" / "divide": not finite where the operand is 0
    elements: Callable[[OpCall], list[Val]] | None = None  # a tuple result, element by element (top_k)


# --- small facts about argument nodes ------------------------------------------------------------
def const_number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        try:
            return float(node.value)
        except OverflowError:  # a 400-digit integer literal: no usable number
            return None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = const_number(node.operand)
        return -inner if inner is not None else None
    return None


def _keyword(node: ast.Call, *names: str) -> ast.expr | None:
    return next((kw.value for kw in node.keywords if kw.arg in names), None)


def _below_one(node: ast.AST) -> bool:
    """``1 - eps`` / ``1.0 - K.epsilon()`` / a constant below 1."""
    number = const_number(node)
    if number is not None:
        return number < 1
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)
            and const_number(node.left) is not None and const_number(node.left) <= 1)  # type: ignore[operator]


def _guards_positive(cond: ast.AST, branch: ast.AST, negated: bool = False) -> bool:
    """``tf.where(x > 0, x, ...)``: the branch is positive wherever it is selected."""
    if not isinstance(cond, ast.Compare) or len(cond.ops) != 1:
        return False
    op, left, right = cond.ops[0], cond.left, cond.comparators[0]
    positive_ops = (ast.LtE, ast.Lt) if negated else (ast.Gt,)
    number = const_number(right)
    if isinstance(op, positive_ops) and number is not None and number >= 0:
        return ast.dump(left) == ast.dump(branch)
    return False


def _reduced_rank(node: ast.Call, rank: int | None) -> int | None:
    axis = node.args[1] if len(node.args) > 1 else _keyword(node, "axis")
    keep = _keyword(node, "keepdims", "keep_dims")
    if isinstance(keep, ast.Constant) and keep.value is True:
        return rank
    if axis is None or (isinstance(axis, ast.Constant) and axis.value is None):
        return 0
    if rank is None:
        return None
    if isinstance(axis, (ast.List, ast.Tuple)):
        return max(rank - len(axis.elts), 0)
    return max(rank - 1, 0)


def _casts_to_int(call: OpCall) -> bool:
    node = call.node
    dtype = node.args[1] if len(node.args) > 1 else _keyword(node, "dtype")
    name = dtype.attr if isinstance(dtype, ast.Attribute) else dtype.value if isinstance(dtype, ast.Constant) else ""
    return name in ns.INT_DTYPES


# --- transfer functions ---------------------------------------------------------------------------
CONSTANT_POSITIVE = Val(positive=True, nonneg=True, bounded=True)


def _unknown(c: OpCall) -> Val:
    return c.joined.taint_only().but(integer=False)  # an unknown op: claim nothing about its dtype


def _detached(c: OpCall) -> Val:
    joined = c.joined
    return joined.but(pred=False, cut=joined.pred or joined.cut, thresholds=frozenset())


def _cast(c: OpCall) -> Val:
    return c.first.but(integer=True) if _casts_to_int(c) else c.first.but(integer=False)


def _no_gradient(name: str) -> Transfer:
    integer = name not in ("round", "floor", "ceil", "rint")
    return lambda c: c.joined.but(integer=integer)


def _where(c: OpCall) -> Val:
    if len(c.args) < 3:
        return c.joined.but(pred=False, integer=True)
    node, (cond, a, b) = c.node, c.args[:3]
    if _guards_positive(node.args[0], node.args[1]):
        a = a.but(positive=True, nonneg=True)
    if _guards_positive(node.args[0], node.args[2], negated=True):
        b = b.but(positive=True, nonneg=True)
    out = a.join(b)
    # A condition only selects; it matters for the gradient when neither branch carries one.
    selected = a.thresholds | b.thresholds if (a.pred or b.pred) else out.thresholds | cond.thresholds
    return out.but(pred=a.pred or b.pred, data=a.data or b.data or cond.data,
                   true=a.true or b.true or cond.true, tensor=True, thresholds=selected)


def _gather(c: OpCall) -> Val:
    """``gather(params, indices)`` / ``boolean_mask(x, mask)``: the values and the gradient are the params';
    the indices or mask only choose (their thresholds say nothing about the gradient)."""
    return c.first.taint_only().but(rank=None)


def _cond(c: OpCall) -> Val:
    """``tf.cond(pred, true_fn, false_fn)``: one branch's value; the predicate only selects."""
    branches = c.args[1:] + [v for k, v in c.kwargs.items() if k in ("true_fn", "false_fn")]
    if not branches:
        return _unknown(c)
    out = branches[0]
    for branch in branches[1:]:
        out = out.join(branch)
    predicate = c.args[0] if c.args else c.kwargs.get("pred", CLEAN)
    # as for where: the predicate matters for the gradient only when no branch carries one
    thresholds = out.thresholds if out.pred else out.thresholds | predicate.thresholds
    return out.taint_only().but(tensor=True, thresholds=thresholds, data=out.data or predicate.data)


def _exp(c: OpCall) -> Val:
    first = c.first
    high = 1.0 if first.nonpos else math.exp(first.high) if first.high is not None and first.high < 88.0 else None
    return first.taint_only().but(positive=True, nonneg=True, bounded=first.nonpos or first.bounded, high=high)


def _facts(**facts: object) -> Transfer:
    """The first argument's taint, with facts that hold for every input."""
    return lambda c: c.first.taint_only().but(**facts)


def _log(name: str) -> Transfer:
    return lambda c: c.first.taint_only().but(source_op="" if c.first.positive or name == "log1p" else "log")


def _sqrt(name: str) -> Transfer:
    return lambda c: c.joined.taint_only().but(nonneg=True, source_op="" if c.first.positive else "sqrt",
                                               rank=None if name != "sqrt" else c.first.rank)


def _nonneg(name: str) -> Transfer:
    return lambda c: c.first.taint_only().but(nonneg=True, positive=c.first.positive and name != "relu",
                                              bounded=c.first.bounded, below_one=c.first.unit)


def _clip(c: OpCall) -> Val:
    node, args = c.node, c.args
    low = args[1] if len(args) > 1 else c.kwargs.get("clip_value_min", c.kwargs.get("x_min", CLEAN))
    high = node.args[2] if len(node.args) > 2 else _keyword(node, "clip_value_max", "x_max", "max_value")
    below_one = high is not None and _below_one(high)
    top = const_number(high) if high is not None else None
    low_node = node.args[1] if len(node.args) > 1 else _keyword(node, "clip_value_min", "x_min", "min_value")
    unit = below_one and (low.nonneg or (low_node is not None and _above_minus_one(low_node)))
    return c.first.taint_only().but(positive=low.positive, nonneg=low.nonneg, bounded=True, below_one=below_one,
                                    high=top, unit=unit)


def _above_minus_one(node: ast.AST) -> bool:
    """``-1 + eps`` / ``eps - 1`` / ``-(1 - eps)`` / a constant above -1 (ArcFace clips cos to these)."""
    number = const_number(node)
    if number is not None:
        return number > -1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return isinstance(node.operand, ast.BinOp) and _below_one(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        sides = [(node.left, node.right), (node.right, node.left)]
        return any(const_number(a) == -1.0 and _small_positive(b) for a, b in sides)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        return const_number(node.right) == 1.0 and _small_positive(node.left)
    return False


def _small_positive(node: ast.AST) -> bool:
    number = const_number(node)
    return number > 0 if number is not None else "eps" in ast.unparse(node).lower()


def _maximum(c: OpCall) -> Val:
    if len(c.args) < 2:
        return _unknown(c)
    a, b = c.args[:2]
    high = max(a.high, b.high) if a.high is not None and b.high is not None else None
    return c.joined.taint_only().but(positive=a.positive or b.positive, nonneg=a.nonneg or b.nonneg, high=high)


def _minimum(c: OpCall) -> Val:
    if len(c.args) < 2:
        return _unknown(c)
    a, b = c.args[:2]
    highs = [v.high for v in (a, b) if v.high is not None]
    return c.joined.taint_only().but(positive=a.positive and b.positive, nonneg=a.nonneg and b.nonneg,
                                     bounded=a.bounded or b.bounded, high=min(highs) if highs else None)


def _reduction(c: OpCall) -> Val:
    first = c.first
    keeps_range = short_call(c) in ("reduce_mean", "mean", "reduce_max", "max", "reduce_min", "min", "amax", "amin")
    return first.taint_only().but(positive=first.positive, nonneg=first.nonneg, bounded=first.bounded,
                                  rank=_reduced_rank(c.node, first.rank), high=first.high if keeps_range else None)


def short_call(c: OpCall) -> str:
    func = c.node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _divide(c: OpCall) -> Val:
    return c.joined.taint_only().but(source_op="divide")  # one argument (reciprocal): 1 / x


def _reshape(c: OpCall) -> Val:
    shape = c.node.args[1] if len(c.node.args) > 1 else None
    return c.first.but(rank=len(shape.elts) if isinstance(shape, (ast.List, ast.Tuple)) else None)


def _squeeze(c: OpCall) -> Val:
    return c.first.but(rank=c.first.rank - 1 if c.first.rank else None)


def _expand_dims(c: OpCall) -> Val:
    return c.first.but(rank=c.first.rank + 1 if c.first.rank is not None else None)


def _top_k_elements(c: OpCall) -> list[Val]:
    """``values, indices = top_k(x)``: the values carry x's gradient, the indices none."""
    first = c.first
    return [first.taint_only(), first.taint_only().but(pred=False, integer=True)]


def _one_hot(c: OpCall) -> Val:
    rank = c.first.rank
    return c.first.taint_only().but(integer=False, rank=rank + 1 if rank is not None else None)


def _placeholder(c: OpCall) -> Val:
    """``tf.placeholder(tf.int32, [None])``: data of a declared dtype and rank."""
    node = c.node
    dtype = node.args[0] if node.args else _keyword(node, "dtype")
    shape = node.args[1] if len(node.args) > 1 else _keyword(node, "shape")
    dtype_name = dtype.attr if isinstance(dtype, ast.Attribute) else dtype.value if isinstance(dtype, ast.Constant) else ""
    rank = len(shape.elts) if isinstance(shape, (ast.List, ast.Tuple)) else None
    return Val(data=True, true=True, tensor=True, rank=rank, integer=dtype_name in ns.INT_DTYPES)


def _stated_rank(c: OpCall) -> int | None:
    shape = c.node.args[0] if c.node.args else _keyword(c.node, "shape")
    return len(shape.elts) if isinstance(shape, (ast.List, ast.Tuple)) else None


def _filled(c: OpCall) -> Val:
    """``tf.zeros([4, 1])``: a constant tensor (of the stated rank); no gradient, whatever shaped it."""
    return Val(tensor=True, rank=_stated_rank(c))


def _random(c: OpCall) -> Val:
    """``tf.random_normal([784, 10])``: a fresh tensor of the stated rank."""
    rank = _stated_rank(c)
    return Val(tensor=True, rank=rank) if rank is not None else _unknown(c)


def _matmul(c: OpCall) -> Val:
    """Two matrices give a matrix; other ranks (batched, vectors) are not claimed."""
    ranks = [a.rank for a in c.args[:2]]
    out = _unknown(c)
    return out.but(rank=2 if ranks == [2, 2] else None)


# --- the table ------------------------------------------------------------------------------------
_PAIRWISE = {"add", "subtract", "multiply", "squared_difference", "maximum", "minimum", "divide", "truediv",
             "binary_crossentropy", "categorical_crossentropy", "pow", "power"}
_ARITHMETIC: dict[str, type[ast.operator]] = {
    "add": ast.Add, "subtract": ast.Sub, "multiply": ast.Mult, "pow": ast.Pow, "power": ast.Pow,
    **{name: ast.Div for name in ns.DIVIDE},
}


def _build() -> dict[str, OpEntry]:
    table: dict[str, OpEntry] = {}

    def add(names: set[str] | tuple[str, ...], transfer: Transfer, **meta: object) -> None:
        for name in names:  # the first entry for a name wins (an op in two sets keeps the earlier one)
            table.setdefault(name, OpEntry(transfer, **meta))  # type: ignore[arg-type]

    add(("epsilon",), lambda c: CONSTANT_POSITIVE)
    add(ns.NON_VALUE, lambda c: Val(tensor=True, rank=c.first.rank))
    add(("constant", "convert_to_tensor", "identity"), lambda c: c.first.but(tensor=True))
    add(ns.DETACHING, _detached)
    add(("top_k",), lambda c: c.first.taint_only(), elements=_top_k_elements)  # before NO_GRADIENT: values flow
    add(("cast",), _cast, hard="cast", hard_when=_casts_to_int)
    for name in ns.NO_GRADIENT:
        add((name,), _no_gradient(name), hard="compare" if name in ns.COMPARISONS else name)
    add(ns.ZERO_GRADIENT, lambda c: c.joined, hard="sign")
    add(("where", "where_v2", "switch", "select", "select_v2"), _where)
    add(("cond",), _cond)
    add(("gather", "gather_nd", "boolean_mask", "take", "take_along_axis", "batch_gather"), _gather)
    add(("exp",), _exp)
    add(("softplus",), _facts(positive=True, nonneg=True))
    for name in ("sigmoid", "softmax"):
        add((name,), _facts(nonneg=True, bounded=True, prob=name, high=1.0))
    add(("tanh", "softsign", "hard_sigmoid", "cos", "sin", "erf"), _facts(bounded=True, high=1.0))
    for name in (*ns.LOG, "log1p"):
        add((name,), _log(name), hazard="log" if name != "log1p" else "")
    for name in ns.SQRT:
        add((name,), _sqrt(name), hazard="sqrt")
    for name in ("square", "abs", "relu"):
        add((name,), _nonneg(name))
    add(ns.CLIP, _clip)
    add(("maximum",), _maximum)
    add(("minimum",), _minimum)
    add(ns.REDUCTIONS, _reduction)
    add(ns.SAFE_DIVIDE, lambda c: c.joined.taint_only())
    add(ns.DIVIDE, _divide, hazard="divide")
    add(("squeeze",), _squeeze)
    add(("expand_dims",), _expand_dims)
    add(("reshape",), _reshape)
    add(("one_hot",), _one_hot)
    add(("zeros", "ones"), _filled)
    add(("random_normal", "truncated_normal", "random_uniform", "normal", "uniform"), _random)
    add(("Variable", "fill", "range", "eye"), lambda c: Val(tensor=True))
    add(("matmul",), _matmul)
    # TF1 names that TF2 dropped: the same facts as their TF2 spelling.
    add(("to_float", "to_double", "to_bfloat16"), lambda c: c.first.but(integer=False))
    add(("to_int32", "to_int64"), lambda c: c.first.but(integer=True), hard="cast")
    add(("is_tensor", "is_symbolic_tensor", "executing_eagerly", "is_keras_tensor"), lambda c: CLEAN)  # Python bools
    add(("placeholder",), _placeholder)  # fed with data: no gradient; its dtype and rank as declared
    add(("placeholder_with_default",), lambda c: Val(data=True, true=True, tensor=True))
    for name, entry in list(table.items()):
        table[name] = OpEntry(entry.transfer, entry.hard, entry.hard_when, name in _PAIRWISE,
                              _ARITHMETIC.get(name), entry.hazard, entry.elements)
    for name in _PAIRWISE | set(_ARITHMETIC):
        table.setdefault(name, OpEntry(_unknown, pairwise=name in _PAIRWISE, arithmetic=_ARITHMETIC.get(name)))
    return table


CATALOGUE: dict[str, OpEntry] = _build()
UNKNOWN = OpEntry(_unknown)


def _numpy(c: OpCall, name: str) -> Val:
    joined = c.joined
    if name in ("float32", "float64", "float16", "int32", "int64") and not joined.data:
        return c.first.but(tensor=False)
    return joined.but(pred=False, cut=joined.pred or joined.cut, tensor=False)  # NumPy cuts the gradient


_NAMESPACES: dict[str, Callable[[OpCall, str], Val]] = {
    "np": _numpy,
    "keras": lambda c, name: c.joined,
    "layers": lambda c, name: c.joined,
    "functools": lambda c, name: c.joined,
    "losses": lambda c, name: c.joined.taint_only().but(nonneg=True),
}


def short_name(op: Op) -> str:
    return op.name.rsplit(".", 1)[-1]


def entry_for(op: Op) -> OpEntry | None:
    """The catalogue entry of a tensor op (tf, keras.ops, keras.backend), or None for other namespaces."""
    if op.namespace in _NAMESPACES:
        return None
    return CATALOGUE.get(short_name(op), UNKNOWN)


def namespace_transfer(op: Op, call: OpCall) -> Val:
    """The value of a call into NumPy, built-in Keras losses or the rest of the Keras API."""
    name = short_name(op)
    if name == "epsilon":  # K.epsilon(), keras.config.epsilon(), keras.backend.epsilon()
        return CONSTANT_POSITIVE
    return _NAMESPACES[op.namespace](call, name)
