"""The probes the worker runs on one loss. Each is a small named function; its name is what a
verdict cites as the probe that decided it.

    call            one eager call on the stated inputs: return value or exception
    gradient        d loss / d y_pred under tf.GradientTape: None or not
    graph           the same inside tf.function (autograph off, as fit runs it); (B, B) broadcasts and
                    whether they pair targets with predictions (LL301, LL904)
    zero-gradient   fraction of y_pred entries with an exactly-zero gradient whatever the targets
    edge-inputs     NaN/Inf at y_pred 0 and 1, empty masks, a perfect fit, large logits
    batch-scaling   loss for the same samples at batch B and 2B (Loss subclasses)
    variables       variables created by the loss vs. a model compiled with it
    signature       the bare function called with only (y_true, y_pred), as compile calls it
    config          Loss subclass rebuilt from get_config() with changed hyper-parameters
    logits-wiring   loss and gradient as y_pred moves along the gradient: saturated or constant (LL308)

This package imports TensorFlow: only the worker imports it (``run_check``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from loss_lsp.gradcheck.probes.batch import probe_batch_scaling
from loss_lsp.gradcheck.probes.call import probe_call, probe_gradient
from loss_lsp.gradcheck.probes.config import probe_config
from loss_lsp.gradcheck.probes.edges import probe_edges
from loss_lsp.gradcheck.probes.graph import probe_graph
from loss_lsp.gradcheck.probes.logits import probe_logits_wiring
from loss_lsp.gradcheck.probes.signature import probe_signature
from loss_lsp.gradcheck.probes.subject import Context, Inputs, Subject
from loss_lsp.gradcheck.probes.variables import VariableRecorder, probe_variables
from loss_lsp.gradcheck.probes.zeros import probe_zero_gradient
from loss_lsp.gradcheck.registry import RULES, on_demand_probes

Probe = Callable[[Context], dict[str, Any]]

# Always run: together they find what no static rule flagged (LL901-LL905).
CORE: dict[str, Probe] = {
    "call": probe_call,
    "gradient": probe_gradient,
    "graph": probe_graph,
    "zero-gradient": probe_zero_gradient,
    "edge-inputs": probe_edges,
}
# Run when a static finding asks for them (registry.RULES says which rule asks for which).
ON_DEMAND: dict[str, Probe] = {
    "batch-scaling": probe_batch_scaling,
    "signature": probe_signature,
    "config": probe_config,
    "logits-wiring": probe_logits_wiring,
}
# `variables` (LL401) runs on demand and also whenever the loss created a variable; it needs the recorder.
PROBE_NAMES = frozenset(CORE) | frozenset(ON_DEMAND) | {"variables"}
LOSS_OBJECT_ONLY = {"batch-scaling", "config"}  # about keras.losses.Loss subclasses


def run_probes(evaluate: Callable[[str], Any], construct: str, call_path: str, user_files: set[str],
               shapes: dict[str, Any], codes: frozenset[str], stated: bool, bare: str = "",
               seed: int = 0) -> dict[str, Any]:
    """Build the loss (inside the variable recorder) and run every relevant probe on it.

    ``evaluate(expression)`` evaluates in the loss's module; ``construct`` builds the loss.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    recorder = VariableRecorder()
    with recorder.watching():
        obj = evaluate(construct)
        subject = Subject(obj, call_path, user_files)
        inputs = Inputs(tuple(shapes["y_true"]), tuple(shapes["y_pred"]), shapes.get("y_true_dtype") or "float32",
                        seed, shapes.get("y_true_domain"), shapes.get("y_pred_range"))
        ctx = Context(subject, inputs, codes, stated, bare, evaluate)
        _ = ctx.first  # the first call may create variables too
    timings["build+first call"] = time.perf_counter() - started
    results: dict[str, Any] = {"path": subject.path}
    wanted = on_demand_probes(codes)
    if ctx.first.error is not None:
        # Nothing else can run: the call probe reports the exception; independent probes still can.
        for name in ("call", "gradient"):
            results[name] = CORE[name](ctx)
        for name in sorted(wanted):
            if name in ON_DEMAND and any(RULES[c].independent and RULES[c].probe == name for c in codes if c in RULES):
                results[name] = ON_DEMAND[name](ctx)
        results["timings"] = timings
        return results
    for name, probe in CORE.items():
        begin = time.perf_counter()
        results[name] = probe(ctx)
        timings[name] = time.perf_counter() - begin
    for name, probe in ON_DEMAND.items():
        if name in wanted and (name not in LOSS_OBJECT_ONLY or subject.loss_object):
            begin = time.perf_counter()
            results[name] = probe(ctx)
            timings[name] = time.perf_counter() - begin
    if recorder.created or "variables" in wanted:
        begin = time.perf_counter()
        results["variables"] = probe_variables(ctx, recorder)
        timings["variables"] = time.perf_counter() - begin
    results["timings"] = timings
    return results
