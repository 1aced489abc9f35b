"""Turn what the probes saw into a verdict for every static finding, and into LL901-LL905
findings for what the run found that no static rule flagged.

Pure Python (no TensorFlow): the worker's reply is plain JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from loss_lsp.engine.findings import Finding, LossInfo, Related, Span

# Ops whose NaN/Inf a numerical rule is about (TensorFlow op types).
_NUMERIC_OPS: dict[str, set[str]] = {
    "LL201": {"Log", "Log1p", "Xlogy", "Xlog1py", "Reciprocal"},
    "LL202": {"RealDiv", "Div", "DivNoNan", "Reciprocal", "Inv", "FloorDiv", "Xdivy"},
    "LL203": {"Sqrt", "SqrtGrad", "Rsqrt", "Pow", "EuclideanNorm"},
    "LL204": {"Exp", "Expm1", "Pow"},
    "LL207": {"Acos", "Asin"},
    "LL205": {"Log", "Sigmoid", "Softmax", "LogSoftmax"},
    "LL206": set(),
}
_LOGIT_RULES = {"LL204", "LL205"}
# Rules that say "this line fails at run time": an exception raised by that very line confirms them.
ERROR_RULES = {"LL105", "LL302", "LL303", "LL404", "LL405", "LL406"}
_NO_PROBE = {
    "LL304": "no runtime probe: it is about the model's output layer, not the loss's arithmetic",
    "LL403": "no runtime probe: a tape inside the loss works on the TensorFlow backend (a portability issue)",
    "LL406": "",  # decided by the call probe when the removed API raises
    "LL407": "no runtime probe: it is about where the loss object is built in the training loop",
    "LL408": "no runtime probe: it is about the model's layers",
    "LL410": "no runtime probe: it is about portability to other Keras backends",
}
GRADIENT_CODES = ("LL901", "LL902", "LL903", "LL904", "LL905")


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
    stated: bool  # the shapes come from the code / settings, not the default
    reply: dict[str, Any] | None = None
    failure: str = ""  # why nothing ran (timeout, crash, slice error, ...)
    omitted: dict[str, str] | None = None  # slice omissions: name -> why
    syntax_note: str = ""  # "the file has a syntax error at line 12 (not in the slice)"

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


def _inputs_text(run: LossRun) -> str:
    dtype = run.shapes.get("y_true_dtype") or "float32"
    origin = "" if run.stated else " (default shapes)"
    return f"y_true {_shape(run.shapes['y_true'])} {dtype}, y_pred {_shape(run.shapes['y_pred'])} float32{origin}"


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


def _decide_gradient_flow(code: str, finding: Finding, run: LossRun) -> Verdict:
    probes = _probes(run)
    graph_error = _graph_error(probes)
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


def _decide_numeric(code: str, finding: Finding, run: LossRun, others: set[str]) -> Verdict:
    edges = _failing_edges(run, logits=code in _LOGIT_RULES)
    if not _probes(run).get("edge-inputs", {}).get("ok"):
        return Verdict("not_run", "the edge-input probe did not run", "edge-inputs")
    line = finding.span.start_line
    ops = _NUMERIC_OPS.get(code, set())
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
    tried = "y_pred 0 and 1, all-zero y_true, y_pred == y_true" + (", logits ±100" if code in _LOGIT_RULES else "")
    return Verdict("not_reproduced", f"loss and gradient finite at the edge inputs ({tried})", "edge-inputs")


def _decide_broadcast(finding: Finding, run: LossRun) -> Verdict:
    probe = _probes(run).get("broadcast")
    if not probe:
        return Verdict("not_run", "the broadcast probe did not run", "broadcast")
    if not probe.get("ok"):
        error = probe.get("error") or {}
        return Verdict("not_run", f"the loss raised with {probe.get('case')}: {_error_text(error)}", "broadcast")
    broadcasts = probe.get("broadcasts") or []
    batch = probe.get("batch", 8)
    raw = probe.get("raw_shape")
    if broadcasts:
        first = broadcasts[0]
        inputs = " with ".join(_shape(s) for s in first["inputs"])
        where = f" ({_line(first.get('line'))})" if first.get("line") is not None else ""
        return Verdict("confirmed", f"{first['op']} broadcasts {inputs} to {_shape(first['output'])}{where} for "
                                    f"{probe['case']}; loss shape {_shape(raw)}", "broadcast")
    if raw and raw.count(batch) >= 2:
        return Verdict("confirmed", f"loss shape {_shape(raw)} for {probe['case']}", "broadcast")
    return Verdict("not_reproduced", f"loss shape {_shape(raw)} for {probe['case']}; no (B, B) intermediate",
                   "broadcast")


def _decide_error_rule(code: str, finding: Finding, run: LossRun) -> Verdict:
    error = _call_error(run)
    if error is None:
        return Verdict("not_reproduced", f"runs with {_inputs_text(run)}", "call")
    if _error_matches(code, finding, error):
        return Verdict("confirmed", f"raises {_error_text(error)} with {_inputs_text(run)}", "call")
    return Verdict("not_run", _call_error_reason(run, error), "call")


def _error_matches(code: str, finding: Finding, error: dict[str, Any]) -> bool:
    message = (error.get("message") or "").lower()
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


def _decide_signature(finding: Finding, run: LossRun) -> Verdict:
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


def _decide_config(run: LossRun) -> Verdict:
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


def _decide_batch(run: LossRun) -> Verdict:
    probe = _probes(run).get("batch-scaling")
    if not probe:
        return Verdict("not_run", "only checked for keras.losses.Loss subclasses", "batch-scaling")
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


def _decide_variables(run: LossRun) -> Verdict:
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


def _decide_return(run: LossRun) -> Verdict:
    call = _probes(run).get("call", {})
    returned = call.get("returned") or {}
    if returned.get("kind") in ("tuple", "list", "none", "number", "ndarray"):
        return Verdict("confirmed", f"returns {returned['text']}", "call")
    return Verdict("not_reproduced", f"returns {returned.get('text', 'a tensor')}", "call")


def decide(finding: Finding, run: LossRun, numeric_codes: set[str]) -> Verdict:
    """The verdict for one static finding of a loss."""
    code = finding.code
    construct_error = (run.reply or {}).get("construct_error") if not run.failure else None
    if construct_error and code in ERROR_RULES and _error_matches(code, finding, construct_error):
        return Verdict("confirmed", f"building the loss raises {_error_text(construct_error)}", "call")
    reason = not_run_reason(run)
    if reason:
        return Verdict("not_run", reason, "")
    if code == "LL404":
        return _decide_signature(finding, run)
    error = _call_error(run)
    if error is not None:
        if code in ERROR_RULES:
            return _decide_error_rule(code, finding, run)
        return Verdict("not_run", _call_error_reason(run, error), "call")
    if code in ("LL101", "LL102", "LL103", "LL104", "LL105"):
        return _decide_gradient_flow(code, finding, run)
    if code in _NUMERIC_OPS:
        return _decide_numeric(code, finding, run, numeric_codes)
    if code == "LL301":
        return _decide_broadcast(finding, run)
    if code in ERROR_RULES - {"LL105"}:
        return _decide_error_rule(code, finding, run)
    if code == "LL409":
        return _decide_config(run)
    if code == "LL305":
        return _decide_batch(run)
    if code == "LL401":
        return _decide_variables(run)
    if code == "LL402":
        return _decide_return(run)
    return Verdict("not_run", _NO_PROBE.get(code) or "no runtime probe for this rule", "")


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
    graph_error = _graph_error(probes)
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
    if edges and not confirmed & set(_NUMERIC_OPS):
        origin = edges[0].get("origin") or {}
        out.append(make("LL903", _edge_evidence(edges[0]), "edge-inputs", origin.get("line")))
    graph = probes.get("graph", {})
    # Equal default shapes broadcast only through the loss's own reshaping: wrong whatever the real shapes are.
    trusted_shapes = run.stated or run.shapes["y_true"] == run.shapes["y_pred"]
    if trusted_shapes and graph.get("ok") and graph.get("broadcasts") and "LL301" not in confirmed:
        first = graph["broadcasts"][0]
        inputs = " with ".join(_shape(s) for s in first["inputs"])
        where = f" ({_line(first.get('line'))})" if first.get("line") is not None else ""
        out.append(make("LL904", f"{first['op']} broadcasts {inputs} to {_shape(first['output'])}{where} with "
                                 f"{_inputs_text(run)}", "broadcast", first.get("line")))
    return out


def related_line(path: str, lines: list[str], line: int | None, message: str) -> tuple[Related, ...]:
    if line is None or line >= len(lines):
        return ()
    text = lines[line]
    start = len(text) - len(text.lstrip())
    return (Related(path, Span(line, start, line, len(text)), message),)


def apply(finding: Finding, verdict: Verdict) -> Finding:
    return replace(finding, verdict=verdict.verdict, evidence=_one_line(verdict.evidence), probe=verdict.probe)  # type: ignore[arg-type]
