"""One table for the gradient check's rules: per rule, which probe confirms it and how that
probe's result becomes a verdict.

Everything else is derived from ``RULES``: which probes the worker runs on demand
(``on_demand_probes``), which codes are part of the server's cache key (``ON_DEMAND_CODES``),
which rules an exception confirms (``ERROR_RULES``), the ops a NaN must come from for a numerical
rule, and the decision function ``verdicts.decide`` dispatches to (``RuleCheck.decide`` names an
entry of ``verdicts.DECIDERS``).

Standard library only: the worker imports it under the user's interpreter.
See "Adding a probe" in docs/gradcheck-protocol.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleCheck:
    # The probe whose result decides the verdict ("" = no runtime probe can decide it).
    probe: str
    # How the result becomes a verdict: a key of ``verdicts.DECIDERS``.
    decide: str
    # The probe runs only when this rule flagged the loss (else it is one of the always-run probes).
    on_demand: bool = False
    # An exception raised by the flagged line confirms the rule ("this line fails at run time").
    error_rule: bool = False
    # Numerical rules: TensorFlow op types whose NaN/Inf the rule is about.
    ops: frozenset[str] = frozenset()
    # Numerical rules about logits: the +-100 edge counts (only where predictions can be logits).
    logits: bool = False
    # The probe runs even when the one call at the program's shapes raised (it calls something else).
    independent: bool = False
    # Why no probe can decide it (shown as the not_run reason).
    reason: str = ""


def _numeric(*ops: str, logits: bool = False) -> RuleCheck:
    return RuleCheck("edge-inputs", "numeric", ops=frozenset(ops), logits=logits)


def _none(reason: str) -> RuleCheck:
    return RuleCheck("", "none", reason=reason)


RULES: dict[str, RuleCheck] = {
    # gradient flow: gradient None (tape), a failing tf.function run, all-zero gradients
    "LL101": RuleCheck("gradient", "flow"),
    "LL102": RuleCheck("gradient", "flow"),
    "LL103": RuleCheck("gradient", "flow"),
    "LL104": RuleCheck("zero-gradient", "flow"),
    "LL105": RuleCheck("graph", "flow", error_rule=True),
    # numerical risk: NaN/Inf at the edge inputs, traced to the op that produced it
    "LL201": _numeric("Log", "Log1p", "Xlogy", "Xlog1py", "Reciprocal"),
    "LL202": _numeric("RealDiv", "Div", "DivNoNan", "Reciprocal", "Inv", "FloorDiv", "Xdivy"),
    "LL203": _numeric("Sqrt", "SqrtGrad", "Rsqrt", "Pow", "EuclideanNorm"),
    "LL204": _numeric("Exp", "Expm1", "Pow", logits=True),
    "LL205": _numeric("Log", "Sigmoid", "Softmax", "LogSoftmax", logits=True),
    "LL206": _numeric(),
    "LL207": _numeric("Acos", "Asin"),
    # shapes and wiring
    "LL301": RuleCheck("graph", "broadcast"),  # at the program's shapes, never at assumed ones
    "LL302": RuleCheck("call", "error", error_rule=True),
    "LL303": RuleCheck("call", "error", error_rule=True),
    "LL304": _none("no runtime probe: it is about the model's output layer, not the loss's arithmetic"),
    "LL305": RuleCheck("batch-scaling", "batch", on_demand=True),
    "LL306": RuleCheck("call", "error", error_rule=True),  # shapes that cannot broadcast: the first batch raises
    "LL307": _none("no runtime probe yet: class ids against (B, K) probabilities run without error, the loss is "
                   "just wrong"),
    # the sparse loss given one-hot labels raises at the flagged line; the other forms run and are measured
    "LL308": RuleCheck("logits-wiring", "logits", on_demand=True, error_rule=True),
    # Keras API
    "LL401": RuleCheck("variables", "variables", on_demand=True),
    "LL402": RuleCheck("call", "return"),
    "LL403": _none("no runtime probe: a tape inside the loss works on the TensorFlow backend (a portability issue)"),
    "LL404": RuleCheck("signature", "signature", on_demand=True, error_rule=True, independent=True),
    "LL405": RuleCheck("call", "error", error_rule=True),
    "LL406": RuleCheck("call", "error", error_rule=True),  # the removed API raises when the loss is built or run
    "LL407": _none("no runtime probe: it is about where the loss object is built in the training loop"),
    "LL408": _none("no runtime probe: it is about the model's layers"),
    "LL409": RuleCheck("config", "config", on_demand=True),
    "LL410": _none("no runtime probe: it is about portability to other Keras backends"),
    # found by the gradient check itself (published at the loss by ``verdicts.new_findings``)
    "LL901": RuleCheck("gradient", "found"),
    "LL902": RuleCheck("zero-gradient", "found"),
    "LL903": RuleCheck("edge-inputs", "found"),
    "LL904": RuleCheck("graph", "found"),
    "LL905": RuleCheck("call", "found"),
}

GRADIENT_CODES = tuple(code for code, rule in RULES.items() if rule.decide == "found")
ERROR_RULES = frozenset(code for code, rule in RULES.items() if rule.error_rule)
NUMERIC_RULES = frozenset(code for code, rule in RULES.items() if rule.decide == "numeric")
# Static codes that switch on a probe of their own: part of a check's cache key.
ON_DEMAND_CODES = tuple(code for code, rule in RULES.items() if rule.on_demand)


def on_demand_probes(codes: frozenset[str] | set[str]) -> set[str]:
    """The on-demand probes the flagged codes ask for."""
    return {RULES[code].probe for code in codes if code in RULES and RULES[code].on_demand}
