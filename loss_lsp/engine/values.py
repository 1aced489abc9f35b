"""The abstract value the dataflow computes for every expression inside a loss."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Val:
    """What is known about one value.

    ``pred``  carries a gradient back to y_pred;
    ``data``  depends on the *values* of y_true or y_pred (not only their shapes);
    ``true``  depends on y_true;
    ``cut``   was derived from y_pred but its gradient was cut (NumPy, .numpy(), ...).
    The numeric facts (``positive`` etc.) are guarantees: True only when proven.
    """

    pred: bool = False
    data: bool = False
    true: bool = False
    cut: bool = False
    tensor: bool = False
    positive: bool = False  # strictly > 0 for every element (exp, + eps, clip(lo > 0))
    nonneg: bool = False
    nonpos: bool = False  # <= 0 everywhere (-abs(x), log_sigmoid): exp() of it cannot overflow
    bounded: bool = False  # magnitude cannot blow up (sigmoid, tanh, clip)
    below_one: bool = False  # every element < 1 (clip(x, eps, 1 - eps)): 1 - x stays positive
    unit: bool = False  # -1 < x < 1 everywhere (clip(x, -1 + eps, 1 - eps)): x**2 < 1, so 1 - x**2 stays positive
    prob: str = ""  # "sigmoid" / "softmax" when this is such an output, unclipped
    integer: bool = False  # an integer/bool tensor
    rank: int | None = None
    zero: bool = False  # the constant 0 (or 0 * x)
    # Nodes (ids) of non-differentiable ops on y_pred whose output this value carries.
    thresholds: frozenset[int] = frozenset()
    source_op: str = ""  # "log"/"sqrt"/"divide" when produced by one whose operand may be 0 (LL206)
    high: float | None = None  # every element <= high (sigmoid: 1, 64 * sigmoid: 64): exp overflows past ~88.7
    # "softmax"/"sigmoid": the output of a model whose last layer applies it (LL308's wiring reads it; for the
    # numeric rules it is any model output, so a log of it stays LL201 with its epsilon fix).
    ends_in: str = ""
    # Computed by a function the engine cannot see (a callable parameter such as `distance(a, b)`): its range
    # is unknown, not unbounded, so rules that need "unbounded" say nothing about it.
    opaque: bool = False

    def join(self, other: Val) -> Val:
        """Either of two values (branches, loop iterations): taints add up, guarantees must hold for both."""
        return Val(
            pred=self.pred or other.pred,
            data=self.data or other.data,
            true=self.true or other.true,
            cut=self.cut or other.cut,
            tensor=self.tensor or other.tensor,
            positive=self.positive and other.positive,
            nonneg=self.nonneg and other.nonneg,
            nonpos=self.nonpos and other.nonpos,
            bounded=self.bounded and other.bounded,
            below_one=self.below_one and other.below_one,
            unit=self.unit and other.unit,
            prob=self.prob if self.prob == other.prob else "",
            integer=self.integer and other.integer,
            rank=self.rank if self.rank == other.rank else None,
            zero=self.zero and other.zero,
            thresholds=self.thresholds | other.thresholds,
            source_op=self.source_op if self.source_op == other.source_op else "",
            high=max(self.high, other.high) if self.high is not None and other.high is not None else None,
            ends_in=self.ends_in if self.ends_in == other.ends_in else "",
            opaque=self.opaque or other.opaque,
        )

    def taint_only(self) -> Val:
        """Keep where it came from, forget what it is."""
        return Val(pred=self.pred, data=self.data, true=self.true, cut=self.cut, tensor=self.tensor,
                   rank=self.rank, integer=self.integer, thresholds=self.thresholds, opaque=self.opaque)

    def but(self, **changes: object) -> Val:
        return replace(self, **changes)


CLEAN = Val()


def combine(*vals: Val) -> Val:
    """The taint of a value computed from several others (no numeric guarantees)."""
    out = CLEAN
    ranks = [v.rank for v in vals if v.tensor]
    for v in vals:
        out = Val(
            pred=out.pred or v.pred,
            data=out.data or v.data,
            true=out.true or v.true,
            cut=out.cut or v.cut,
            tensor=out.tensor or v.tensor,
            thresholds=out.thresholds | v.thresholds,
            opaque=out.opaque or v.opaque,
        )
    rank = max(ranks) if ranks and all(r is not None for r in ranks) else None
    return out.but(rank=rank, integer=bool(vals) and all(v.integer for v in vals if v.tensor) and out.tensor)
