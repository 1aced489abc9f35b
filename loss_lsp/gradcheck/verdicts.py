"""Turn what the probes saw into a verdict for every static finding, and into LL901-LL905
findings for what the run found that no static rule flagged.

Pure Python (no TensorFlow): the worker's reply is plain JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from loss_lsp.engine.findings import Finding, LossInfo, Related, Span
from loss_lsp.gradcheck.registry import ERROR_RULES, GRADIENT_CODES, NUMERIC_RULES, RULES



@dataclass(frozen=True)
class Verdict:
    verdict: str  # confirmed | not_reproduced | not_run
    evidence: str
    probe: str


@dataclass
class LossRun:
    """Everything the verdicts need about one loss's run."""

    loss: LossInfo
    path: str
    shapes: dict[str, Any]  # y_true, y_pred (concrete), y_true_dtype
    stated: bool  # the shapes come from the program (inference, a hint, the settings), not derived ones
    reply: dict[str, Any] | None = None
    failure: str = ""  # why nothing ran (timeout, crash, slice error, ...)
    omitted: dict[str, str] | None = None  # slice omissions: name -> why
    syntax_note: str = ""  # "the file has a syntax error at line 12 (not in the slice)"
    origin: str = ""  # where the shapes come from ("the program's y_true (256,), ...", "derived from ...")

    def why_missing(self, name: str | None) -> str:
        if name and self.omitted and name in self.omitted:
            return self.omitted[name]
        return self.syntax_note


def _line(number: int | None) -> str:
    return f"line {number + 1}" if number is not None else ""


def _shape(shape: Iterable[int] | None) -> str:
    if shape is None:
        return "?"
    dims = tuple(shape)
    return str(dims) if len(dims) != 1 else f"({dims[0]},)"


def _error_text(error: dict[str, Any]) -> str:
    where = f" ({_line(error.get('line'))})" if error.get("line") is not None else ""
    kind = error.get("type", "Error")
    message = error.get("message") or ""
    if not message or message.startswith(kind):
        return f"{message or kind}{where}"
    return f"{kind}: {message}{where}"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the reasons nothing ran ------------------------------------------------------------------------------
def not_run_reason(run: LossRun) -> str:
    """Why the probes could not run on this loss ("" when they did)."""
    if run.failure:
        return run.failure
    reply = run.reply or {}
    for key, label in (("load_error", "import error"), ("construct_error", "cannot build the loss")):
        error = reply.get(key)
        if error:
            text = f"{label}: {_error_text(error)}"
            name = error.get("name") or _missing_name(error.get("message", ""))
            if error.get("type") in ("NameError", "ImportError") and run.why_missing(name):
                text += f"; {run.why_missing(name)}"
            return text
    if reply.get("internal_error"):
        return "internal error in the gradient check: " + reply["internal_error"].strip().splitlines()[-1]
    if "probes" not in reply:
        return "the worker gave no result"
    return ""


_NAME = re.compile(r"name '([^']+)' is not defined")


def _missing_name(message: str) -> str | None:
    match = _NAME.search(message or "")
    return match.group(1) if match else None


def _call_error(run: LossRun) -> dict[str, Any] | None:
    call = (run.reply or {}).get("probes", {}).get("call", {})
    return call.get("error") if call and not call.get("ok") else None


def _case_text(run: LossRun) -> str:
    dtype = run.shapes.get("y_true_dtype") or "float32"
    return f"y_true {_shape(run.shapes['y_true'])} {dtype}, y_pred {_shape(run.shapes['y_pred'])} float32"


def _origin_text(run: LossRun) -> str:
    if run.stated:
        return f" (a batch of {run.origin})" if run.origin else ""
    return f" ({run.origin})" if run.origin else " (shapes not known)"


def _inputs_text(run: LossRun) -> str:
    return _case_text(run) + _origin_text(run)


def _call_error_reason(run: LossRun, error: dict[str, Any]) -> str:
    name = _missing_name(error.get("message", ""))
    if error.get("type") == "NameError" and name and run.why_missing(name):
        return f"the slice lacks `{name}`: {run.why_missing(name)}"
    text = f"the loss raised {_error_text(error)} with {_inputs_text(run)}"
    if not run.stated and error.get("type") not in ("SystemExit", "KeyboardInterrupt", "NameError"):
        text += "; state the shapes with `# loss-lsp: shapes y_true=(8,) y_pred=(8, 1)` or the default_shapes setting"
    return text


# --- per-rule decisions ----------------------------------------------------------------------------------
def _probes(run: LossRun) -> dict[str, Any]:
    return (run.reply or {}).get("probes", {})


def _gradient_none(probes: dict[str, Any]) -> bool:
    gradient = probes.get("gradient", {})
    return bool(gradient.get("ok") and gradient.get("none"))


def _graph_error(probes: dict[str, Any]) -> dict[str, Any] | None:
    graph = probes.get("graph", {})
    return graph.get("error") if graph and not graph.get("ok") else None


def _path_text(probes: dict[str, Any]) -> str:
    return (probes.get("call") or {}).get("path", "")


def _through_fit(run: LossRun) -> bool:
    """Keras's fit runs the loss in a tf.function with autograph off; a custom loop runs it eagerly or
    under autograph (where a Python `if` on a tensor works), so a graph-only failure is only fit's."""
    return run.loss.call_path in ("compile", "loss_class")


def _decide_gradient_flow(finding: Finding, run: LossRun, numeric: set[str]) -> Verdict:
    code = finding.code
    probes = _probes(run)
    graph_error = _graph_error(probes) if _through_fit(run) else None
    if code in ("LL101", "LL102", "LL103") and _gradient_none(probes):
        extra = f"; inside tf.function: {_error_text(graph_error)}" if graph_error and code != "LL103" else ""
        return Verdict("confirmed", f"gradient is None (GradientTape, called {_path_text(probes)}){extra}",
                       "gradient")
    if code in ("LL101", "LL102", "LL105") and graph_error:
        return Verdict("confirmed", f"fails inside tf.function (as fit runs it): {_error_text(graph_error)}",
                       "graph")
    zeros = probes.get("zero-gradient", {})
    fraction = zeros.get("fraction") if zeros.get("ok") and not zeros.get("none") else None
    if code in ("LL103", "LL104") and fraction:
        return Verdict("confirmed", f"gradient exactly zero on {fraction:.0%} of y_pred entries whatever the targets "
                                    f"({zeros.get('points')} random points)", "zero-gradient")
    gradient = probes.get("gradient", {})
    if not gradient.get("ok"):
        return Verdict("not_run", "the gradient could not be computed", "gradient")
    flow = f"mean |dL/dy_pred| = {gradient['mean_abs']:.3g}" if gradient.get("mean_abs") is not None else "finite"
    if code == "LL105":
        if _graph_error(probes):
            return Verdict("not_reproduced", "fails only inside tf.function with autograph off, as fit runs it, and "
                                             "no compile() uses this loss; eagerly or under autograph (a custom "
                                             "loop) it runs", "graph")
        return Verdict("not_reproduced", "runs inside tf.function (autograph off, as in fit) without error", "graph")
    if code == "LL104" or (code == "LL103" and fraction == 0):
        return Verdict("not_reproduced", f"gradient flows ({flow}); no entry is zero for every target",
                       "zero-gradient")
    return Verdict("not_reproduced", f"gradient flows ({flow}) and the tf.function run works", "gradient")


def _failing_edges(run: LossRun, logits: bool) -> list[dict[str, Any]]:
    edges = _probes(run).get("edge-inputs", {}).get("edges", [])
    families = ("probability", "logit") if logits else ("probability",)
    return [e for e in edges if e.get("family") in families
            and (e.get("value_finite") is False or e.get("grad_finite") is False)]


def _edge_evidence(edge: dict[str, Any]) -> str:
    text = f"{edge.get('kind', 'NaN/Inf')} at {edge['edge']}"
    origin = edge.get("origin") or {}
    if origin.get("op"):
        values = f"{origin['values']} " if origin.get("values") else ""
        if origin.get("gradient") and origin.get("gradient_of"):
            text += f"; {values}first from the gradient of {origin['gradient_of']} ({_line(origin.get('line'))})"
        elif origin.get("line") is not None:
            text += f"; {values}first from {origin['op']} ({_line(origin['line'])})"
        else:
            text += f"; {values}first from {origin['op']}"
    return text


def _decide_numeric(finding: Finding, run: LossRun, others: set[str]) -> Verdict:
    code = finding.code
    edges = _failing_edges(run, logits=RULES[code].logits)
    if not _probes(run).get("edge-inputs", {}).get("ok"):
        return Verdict("not_run", "the edge-input probe did not run", "edge-inputs")
    line = finding.span.start_line
    ops = RULES[code].ops
    for edge in edges:
        origin = edge.get("origin") or {}
        if origin.get("line") == line:
            return Verdict("confirmed", _edge_evidence(edge), "edge-inputs")
    if code == "LL206":
        for edge in edges:
            if edge.get("value_finite") and edge.get("grad_finite") is False:
                return Verdict("confirmed", _edge_evidence(edge), "edge-inputs")
    for edge in edges:
        origin = edge.get("origin") or {}
        if origin.get("op") in ops or origin.get("gradient_of") in ops:
            return Verdict("confirmed", _edge_evidence(edge), "edge-inputs")
    if edges and len(others) <= 1:  # the only numerical finding of this loss: the NaN is its
        return Verdict("confirmed", _edge_evidence(edges[0]), "edge-inputs")
    tried = "y_pred 0 and 1, all-zero y_true, y_pred == y_true" + (", logits ±100" if RULES[code].logits else "")
    return Verdict("not_reproduced", f"loss and gradient finite at the edge inputs ({tried})", "edge-inputs")


def _target_prediction_broadcasts(run: LossRun) -> list[dict[str, Any]]:
    """(B, B) tensors built from the targets on one side and the predictions on the other: pairwise
    losses (RankNet's y_pred - transpose(y_pred), same-label masks) pair on purpose and are not listed."""
    graph = _probes(run).get("graph", {})
    return [b for b in graph.get("broadcasts") or [] if b.get("pairing") == "target-prediction"]


def _broadcast_text(first: dict[str, Any]) -> str:
    inputs = " with ".join(_shape(s) for s in first["inputs"])
    where = f" ({_line(first.get('line'))})" if first.get("line") is not None else ""
    return f"{first['op']} broadcasts {inputs} to {_shape(first['output'])}{where}"


def _decide_broadcast(finding: Finding, run: LossRun, numeric: set[str]) -> Verdict:
    batch = run.shapes["y_pred"][0] if run.shapes.get("y_pred") else 0
    if batch <= 1:
        return Verdict("not_run", "a batch of 1 cannot show a (B, B) broadcast", "graph")
    graph = _probes(run).get("graph", {})
    if not graph.get("ok"):
        return Verdict("not_run", f"the tf.function run failed: {_error_text(graph.get('error') or {})}", "graph")
    raw = (_probes(run).get("call") or {}).get("raw_shape")
    mixed = _target_prediction_broadcasts(run)
    origin = _origin_text(run)
    if mixed:
        return Verdict("confirmed", f"{_broadcast_text(mixed[0])}, targets against predictions, with "
                                    f"{_case_text(run)}; loss shape {_shape(raw)}{origin}", "graph")
    return Verdict("not_reproduced", f"no (B, B) tensor pairs targets with predictions with {_case_text(run)}; "
                                     f"loss shape {_shape(raw)}{origin}", "graph")


def _decide_error_rule(finding: Finding, run: LossRun, numeric: set[str]) -> Verdict:
    code = finding.code
    error = _call_error(run)
    if error is None:
        return Verdict("not_reproduced", f"runs with {_inputs_text(run)}", "call")
    if _error_matches(code, finding, error):
        return Verdict("confirmed", f"raises {_error_text(error)} with {_inputs_text(run)}", "call")
    return Verdict("not_run", _call_error_reason(run, error), "call")


def _error_matches(code: str, finding: Finding, error: dict[str, Any]) -> bool:
    message = (error.get("message") or "").lower()
    if code == "LL308":  # only one-hot labels to the sparse loss raise; the other forms run and are measured
        return _logits_form(finding) == "sparse" and "rank" in message  # TF's and Keras's label-rank checks
    if code in ERROR_RULES and error.get("line") is not None and error["line"] == finding.span.start_line:
        return True
    if code == "LL404":
        return bool(error.get("signature"))
    if code == "LL302":
        return any(w in message for w in ("reduction dimension", "axis", "out of range", "out of bounds", "dimension"))
    if code == "LL303":
        return any(w in message for w in ("dtype", "int32", "int64", "expected to be a", "type "))
    if code == "LL405":
        return "kerastensor" in message or "symbolic" in message
    if code == "LL406":
        return "reduction" in message
    return False


def _decide_signature(finding: Finding, run: LossRun, numeric: set[str]) -> Verdict:
    probe = _probes(run).get("signature") or {}
    if not probe.get("ok"):
        return Verdict("not_run", probe.get("skipped") or "the signature probe did not run", "signature")
    raised = probe.get("raised")
    callee = probe.get("callee", "the loss")
    if raised and raised.get("signature"):
        return Verdict("confirmed", f"`{callee}` called with (y_true, y_pred) as compile() does raises "
                                    f"{_error_text(raised)}", "signature")
    if raised:
        return Verdict("not_run", f"`{callee}` raised {_error_text(raised)}", "signature")
    return Verdict("not_reproduced", f"`{callee}` runs with only (y_true, y_pred)", "signature")


def _decide_config(finding: Finding, run: LossRun, numeric: set[str]) -> Verdict:
    probe = _probes(run).get("config") or {}
    if not probe.get("ok"):
        return Verdict("not_run", probe.get("skipped") or "the config probe did not run", "config")
    changed = probe.get("changed") or {}
    args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
    if probe.get("from_config_error"):
        return Verdict("confirmed", f"{probe.get('cls', 'the loss')}.from_config(get_config()) raises "
                                    f"{probe['from_config_error']}", "config")
    lost = probe.get("lost") or []
    if lost:
        first = lost[0]
        return Verdict("confirmed", f"{probe.get('cls')}({args}) rebuilt from get_config() has {first['attribute']}="
                                    f"{first['restored']!r} instead of {first['given']!r}", "config")
    if not changed:
        return Verdict("not_run", "no numeric hyper-parameter with a default to change", "config")
    return Verdict("not_reproduced", f"{probe.get('cls')}({args}) survives get_config()/from_config()", "config")


def _decide_batch(finding: Finding, run: LossRun, numeric: set[str]) -> Verdict:
    probe = _probes(run).get("batch-scaling")
    if run.shapes.get("y_pred") and run.shapes["y_pred"][0] <= 1:
        return Verdict("not_run", "a batch of 1 cannot tell a per-sample loss from a batch reduction", "batch-scaling")
    if not probe:
        return Verdict("not_run", "only checked for keras.losses.Loss subclasses", "batch-scaling")
    if _target_prediction_broadcasts(run):
        return Verdict("not_run", f"a (B, B) broadcast hides the batch axis with {_case_text(run)}", "batch-scaling")
    if not probe.get("ok"):
        return Verdict("not_run", _error_text(probe.get("error") or {}), "batch-scaling")
    ratio = probe.get("ratio")
    raw = probe.get("raw_shape")
    batch = probe.get("batch")
    if ratio is not None and abs(ratio - 2.0) < 0.05:
        return Verdict("confirmed", f"loss {probe['single']:.4g} at batch {batch} and {probe['double']:.4g} for the "
                                    f"same samples twice (batch {2 * batch}): it scales with the batch size",
                       "batch-scaling")
    if raw is not None and (len(raw) == 0 or raw[0] != batch):
        return Verdict("confirmed", f"call returns shape {_shape(raw)}: no per-sample values, so sample_weight "
                                    "cannot apply", "batch-scaling")
    return Verdict("not_reproduced", f"per-sample losses of shape {_shape(raw)}; the same samples at batch "
                                     f"{batch} and {2 * (batch or 0)} give the same loss", "batch-scaling")


def _decide_variables(finding: Finding, run: LossRun, numeric: set[str]) -> Verdict:
    probe = _probes(run).get("variables")
    if not probe:
        return Verdict("not_reproduced", "the loss created no variable when built and called", "variables")
    if not probe.get("trainable"):
        return Verdict("not_reproduced", "the loss created no trainable variable when built and called", "variables")
    names = ", ".join(f"`{n}`" for n in probe.get("names", [])[:3])
    if probe.get("fit_error"):
        return Verdict("confirmed", f"the loss creates trainable variable(s) {names}; a model compiled with it fails: "
                                    f"{_error_text(probe['fit_error'])}", "variables")
    stuck = [i for i, moved in enumerate(probe.get("moved", [])) if not moved]
    untracked = [i for i, tracked in enumerate(probe.get("tracked", [])) if not tracked]
    if stuck or untracked:
        i = (stuck or untracked)[0]
        before, after = probe.get("before", [None])[i], probe.get("after", [None])[i]
        values = f" ({before:g} before and {after:g} after a training step)" if before is not None and \
            after is not None else ""
        return Verdict("confirmed", f"variable {probe['names'][i]}{values} is not among the "
                                    f"{probe.get('model_variables')} trainable variables of a model compiled with "
                                    "the loss", "variables")
    return Verdict("not_reproduced", f"the loss's variables {names} are trained with the model", "variables")


# A live cross-entropy on logits grows linearly along its gradient (growth ~1 over equal halves of the walk);
# behind a saturated softmax/sigmoid it stops within e^-10 (growth ~0). 0.05 leaves a wide margin both ways.
SATURATED = 0.05
CONSTANT = 1e-4  # relative change of dL/dy_pred across the walk: a cross-entropy's changes by order one


def _logits_form(finding: Finding) -> str:
    if "swapped" in finding.message:
        return "swapped"
    return "sparse" if "one-hot" in finding.message else "activation"


def _walk_text(walk: dict[str, Any], activation: str = "") -> str:
    losses = " -> ".join("?" if v is None else f"{v:.4g}" for v in walk["losses"])
    grads = " -> ".join(f"{g:.3g}" for g in walk["max_grad"])
    far = walk["distances"][-1]
    moved = f"the scores before the model's {activation} move" if activation else "y_pred moves"
    name = "dL/dz" if activation else "dL/dy_pred"
    return f"loss {losses}, max |{name}| {grads} as {moved} 0/{far / 2:g}/{far:g} units along the gradient"


def _logits_outcome(form: str, walk: dict[str, Any]) -> str:
    """confirmed / healthy / unknown for one walk (eager or traced)."""
    if not walk.get("ok"):
        return "unknown"
    if walk.get("none"):
        return "confirmed" if form == "swapped" else "unknown"
    if form == "swapped":
        return "confirmed" if walk["max_grad"][0] > 0 and walk["grad_change"] < CONSTANT else "healthy"
    growth = walk.get("growth")
    if growth is None or walk["losses"][1] <= walk["losses"][0]:
        return "unknown"  # the loss does not grow along its own gradient: nothing to compare
    return "confirmed" if abs(growth) < SATURATED else "healthy"


def _decide_logits(finding: Finding, run: LossRun, numeric: set[str]) -> Verdict:
    form = _logits_form(finding)
    if form == "sparse":
        return Verdict("not_reproduced", f"the sparse loss runs with {_inputs_text(run)}", "call")
    probe = _probes(run).get("logits-wiring") or {}
    activation = probe.get("activation") or ""
    # fit runs the loss in a tf.function only; a custom loop may run eagerly or traced: both must agree
    modes = ("graph",) if _through_fit(run) else ("eager", "graph")
    walks = {mode: probe.get(mode) or {} for mode in modes}
    outcomes = {mode: _logits_outcome(form, walk) for mode, walk in walks.items()}
    walk = walks[modes[0]]
    if "unknown" in outcomes.values():
        bad = next(walks[m] for m in modes if outcomes[m] == "unknown")
        if bad.get("error"):
            return Verdict("not_run", _error_text(bad["error"]), "logits-wiring")
        if bad.get("none"):
            return Verdict("not_run", "the gradient w.r.t. y_pred is None", "logits-wiring")
        return Verdict("not_run", "the loss does not grow along its own gradient", "logits-wiring")
    inputs = f"with {_inputs_text(run)}"
    if len(set(outcomes.values())) > 1:
        return Verdict("not_run", f"{'saturates' if form == 'activation' else 'is linear in y_pred'} when run "
                                  f"eagerly ({_walk_text(walks['eager'], activation)}) but not inside tf.function "
                                  f"({_walk_text(walks['graph'], activation)}), where Keras takes the logits back from the "
                                  "activation: it depends on how the training step runs", "logits-wiring")
    if form == "swapped":
        if walk.get("none"):
            return Verdict("confirmed", f"dL/dy_pred is None {inputs}: y_pred reaches the loss only as labels, "
                                        "which TensorFlow does not differentiate", "logits-wiring")
        if outcomes[modes[0]] == "confirmed":
            return Verdict("confirmed", f"dL/dy_pred does not depend on y_pred (relative change "
                                        f"{walk['grad_change']:.2g}; {_walk_text(walk, activation)}) {inputs}: the loss is "
                                        "linear in the predictions, not a cross-entropy on them", "logits-wiring")
        return Verdict("not_reproduced", f"dL/dy_pred changes with y_pred (relative change "
                                         f"{walk['grad_change']:.2g}; {_walk_text(walk, activation)}) {inputs}", "logits-wiring")
    if outcomes[modes[0]] == "confirmed":
        return Verdict("confirmed", f"the loss stops growing as the scores get confidently wrong (second-half "
                                    f"growth {walk['growth']:.2g} of the first; {_walk_text(walk, activation)}) {inputs}: the "
                                    "extra activation saturates, mistakes stop teaching", "logits-wiring")
    return Verdict("not_reproduced", f"the loss keeps growing as the scores get confidently wrong (second-half "
                                     f"growth {walk['growth']:.2g} of the first; {_walk_text(walk, activation)}) {inputs}",
                   "logits-wiring")


def _decide_return(finding: Finding, run: LossRun, numeric: set[str]) -> Verdict:
    call = _probes(run).get("call", {})
    returned = call.get("returned") or {}
    if returned.get("kind") in ("tuple", "list", "none", "number", "ndarray"):
        return Verdict("confirmed", f"returns {returned['text']}", "call")
    return Verdict("not_reproduced", f"returns {returned.get('text', 'a tensor')}", "call")


def _decide_none(finding: Finding, run: LossRun, numeric: set[str]) -> Verdict:
    return Verdict("not_run", RULES[finding.code].reason or "no runtime probe for this rule", "")


def _decide_found(finding: Finding, run: LossRun, numeric: set[str]) -> Verdict:
    # LL901-LL905 are published by the check itself; one arriving here (a re-check) keeps its evidence.
    return Verdict(finding.verdict or "confirmed", finding.evidence, finding.probe)


Decider = Callable[[Finding, LossRun, set[str]], Verdict]
# How a probe result becomes a verdict, by the name ``registry.RuleCheck.decide`` gives.
DECIDERS: dict[str, Decider] = {
    "flow": _decide_gradient_flow,
    "numeric": _decide_numeric,
    "broadcast": _decide_broadcast,
    "error": _decide_error_rule,
    "signature": _decide_signature,
    "config": _decide_config,
    "batch": _decide_batch,
    "logits": _decide_logits,
    "variables": _decide_variables,
    "return": _decide_return,
    "none": _decide_none,
    "found": _decide_found,
}


def decide(finding: Finding, run: LossRun, numeric_codes: set[str]) -> Verdict:
    """The verdict for one static finding of a loss, by its rule's entry in ``registry.RULES``."""
    code = finding.code
    rule = RULES.get(code)
    if rule is None:
        return Verdict("not_run", "no runtime probe for this rule", "")
    construct_error = (run.reply or {}).get("construct_error") if not run.failure else None
    if construct_error and rule.error_rule and _error_matches(code, finding, construct_error):
        return Verdict("confirmed", f"building the loss raises {_error_text(construct_error)}", "call")
    reason = not_run_reason(run)
    if reason:
        return Verdict("not_run", reason, "")
    if not rule.independent and _call_error(run) is not None:
        if rule.error_rule:
            return _decide_error_rule(finding, run, numeric_codes)
        return Verdict("not_run", _call_error_reason(run, _call_error(run) or {}), "call")
    return DECIDERS[rule.decide](finding, run, numeric_codes)


# --- what no static rule flagged ------------------------------------------------------------------------
def new_findings(run: LossRun, confirmed: set[str], make: Any) -> list[Finding]:
    """LL901-LL905 at the loss definition; ``make(code, message, evidence, probe, related)`` builds one."""
    if not_run_reason(run):
        return []
    probes = _probes(run)
    out: list[Finding] = []
    error = _call_error(run)
    if error is not None:
        if confirmed & ERROR_RULES or not run.stated:
            return out
        if error.get("type") in ("SystemExit", "KeyboardInterrupt") or _missing_name(error.get("message", "")):
            return out
        if error.get("signature") and run.loss.call_path not in ("compile", "loss_class"):
            return out  # called directly with more arguments somewhere: nothing to say
        evidence = f"raises {_error_text(error)} with {_inputs_text(run)}, called {probes['call'].get('path', '')}"
        out.append(make("LL905", evidence, "call", error.get("line")))
        return out
    graph_error = _graph_error(probes) if _through_fit(run) else None
    if _gradient_none(probes) or (probes.get("graph", {}).get("ok") and probes["graph"].get("grad_none")):
        if not confirmed & {"LL101", "LL102", "LL103", "LL402"}:
            extra = f"; inside tf.function: {_error_text(graph_error)}" if graph_error else ""
            out.append(make("LL901", f"gradient of the loss with respect to y_pred is None (GradientTape, called "
                                     f"{_path_text(probes)}){extra}", "gradient", None))
    elif graph_error and not confirmed & {"LL101", "LL102", "LL105", "LL401"}:
        out.append(make("LL905", f"raises inside tf.function (autograph off, as fit runs the loss): "
                                 f"{_error_text(graph_error)}", "graph", graph_error.get("line")))
    zeros = probes.get("zero-gradient", {})
    fraction = zeros.get("fraction") if zeros.get("ok") and not zeros.get("none") else None
    if fraction is not None and fraction >= 0.2 and not confirmed & {"LL103", "LL104"}:
        out.append(make("LL902", f"gradient exactly zero on {fraction:.0%} of y_pred entries whatever the targets "
                                 f"({zeros.get('points')} random points)", "zero-gradient", None))
    edges = _failing_edges(run, logits=False)
    if edges and not confirmed & NUMERIC_RULES:
        origin = edges[0].get("origin") or {}
        out.append(make("LL903", _edge_evidence(edges[0]), "edge-inputs", origin.get("line")))
    graph = probes.get("graph", {})
    # Equal default shapes broadcast only through the loss's own reshaping: wrong whatever the real shapes are.
    trusted_shapes = run.stated or run.shapes["y_true"] == run.shapes["y_pred"]
    mixed = _target_prediction_broadcasts(run) if graph.get("ok") else []
    if trusted_shapes and mixed and "LL301" not in confirmed:
        first = mixed[0]
        out.append(make("LL904", f"{_broadcast_text(first)}, targets against predictions, with {_inputs_text(run)}",
                        "graph", first.get("line")))
    return out


def related_line(path: str, lines: list[str], line: int | None, message: str) -> tuple[Related, ...]:
    if line is None or line >= len(lines):
        return ()
    text = lines[line]
    start = len(text) - len(text.lstrip())
    return (Related(path, Span(line, start, line, len(text)), message),)


def apply(finding: Finding, verdict: Verdict) -> Finding:
    return replace(finding, verdict=verdict.verdict, evidence=_one_line(verdict.evidence), probe=verdict.probe)  # type: ignore[arg-type]


# --- several shape cases ----------------------------------------------------------------------------------
def _ran(run: LossRun) -> bool:
    """The loss ran at these shapes (a shape it raises at, when the program did not state it, is one the
    program cannot use)."""
    return not not_run_reason(run) and _call_error(run) is None


def _at(runs: list[LossRun]) -> str:
    """y_true/y_pred pairs, compactly: "(8, 1)/(8, 1), (1, 1)/(1, 1)" (int labels marked)."""
    def one(run: LossRun) -> str:
        dtype = run.shapes.get("y_true_dtype") or "float32"
        marker = f" {dtype}" if dtype != "float32" else ""
        return f"{_shape(run.shapes['y_true'])}{marker}/{_shape(run.shapes['y_pred'])}"
    return "y_true/y_pred " + ", ".join(one(run) for run in runs)


def decide_all(finding: Finding, runs: list[LossRun], numeric_codes: set[str]) -> Verdict:
    """One verdict from the runs at every shape case: confirmed only if every case that can show the
    problem shows it, and the evidence says at which shapes."""
    results = [(run, decide(finding, run, numeric_codes)) for run in runs]
    if len(results) == 1:
        return results[0][1]
    shown = [(run, v) for run, v in results if v.verdict != "not_run"]
    if not shown:
        return results[0][1]
    confirmed = [(run, v) for run, v in shown if v.verdict == "confirmed"]
    refuted = [(run, v) for run, v in shown if v.verdict != "confirmed"]
    origin = f" ({runs[0].origin})" if runs[0].origin else ""
    if not refuted:
        first = confirmed[0][1]
        return Verdict("confirmed", f"{first.evidence}; at every shape tried, {_at([r for r, _ in confirmed])}"
                                    f"{origin}", first.probe)
    if confirmed:
        return Verdict("not_reproduced", f"only at {_at([r for r, _ in confirmed])}, not at "
                                         f"{_at([r for r, _ in refuted])}{origin}: {refuted[0][1].evidence}",
                       refuted[0][1].probe)
    first = refuted[0][1]
    return Verdict(first.verdict, f"{first.evidence}; at {_at([r for r, _ in refuted])}", first.probe)


def new_findings_all(runs: list[LossRun], confirmed: set[str], make: Any) -> list[Finding]:
    """LL901-LL905 found at every shape case that can show them (a broadcast needs a batch above 1)."""
    if len(runs) == 1:
        return new_findings(runs[0], confirmed, make)
    ran = [run for run in runs if _ran(run)]
    if not ran:
        return []
    found = [(run, {f.code: f for f in new_findings(run, confirmed, make)}) for run in ran]
    out = []
    for code, finding in found[0][1].items():
        relevant = [(run, by_code) for run, by_code in found if code != "LL904" or run.shapes["y_pred"][0] > 1]
        if all(code in by_code for _, by_code in relevant):
            evidence = f"{finding.evidence}; at every shape tried, {_at([r for r, _ in relevant])}"
            out.append(replace(finding, evidence=_one_line(evidence),
                               message=finding.message.replace(finding.evidence, _one_line(evidence))))
    return out


def call_error_reason(runs: list[LossRun]) -> str:
    """Why the loss did not run, when it raised at every shape case ("" when it ran at one)."""
    if any(_ran(run) for run in runs):
        return ""
    for run in runs:
        error = _call_error(run)
        if error is not None:
            return _call_error_reason(run, error)
    return ""
