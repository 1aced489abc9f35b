"""LL304: the model's output activation does not match the built-in loss it is compiled with."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import replace

from loss_lsp.engine.context import ModuleContext
from loss_lsp.engine.findings import Edit, Finding, Fix
from loss_lsp.engine.module import CompileSite, LayerCall
from loss_lsp.engine.sources import layer_activation
from loss_lsp.rules.rule import Rule

_CROSSENTROPY = {
    "binary_crossentropy": "BinaryCrossentropy", "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy", "binary_focal_crossentropy":
    "BinaryFocalCrossentropy", "categorical_focal_crossentropy": "CategoricalFocalCrossentropy",
}
_CLASSES = {v: k for k, v in _CROSSENTROPY.items()}


def _keyword(call: ast.Call, name: str) -> ast.keyword | None:
    return next((kw for kw in call.keywords if kw.arg == name), None)


def _units(layer: LayerCall) -> int | None:
    node = layer.call.args[0] if layer.call.args else (_keyword(layer.call, "units").value  # type: ignore[union-attr]
                                                        if _keyword(layer.call, "units") else None)
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, int) else None


def _loss_kind(ctx: ModuleContext, expr: ast.expr) -> tuple[str, bool | None] | None:
    """(built-in crossentropy name, from_logits or None when unspecified)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str) and expr.value in _CROSSENTROPY:
        return expr.value, None
    if isinstance(expr, ast.Call):
        op = ctx.module.op(expr.func)
        if op is not None and op.namespace == "losses" and op.name in _CLASSES:
            kw = _keyword(expr, "from_logits")
            value = kw.value.value if kw and isinstance(kw.value, ast.Constant) else None
            return _CLASSES[op.name], bool(value) if value is not None else None
    if isinstance(expr, (ast.Name, ast.Attribute)):  # the function itself: loss=keras.losses.categorical_crossentropy
        op = ctx.module.op(expr)
        if op is not None and op.namespace == "losses" and op.name in _CROSSENTROPY:
            return op.name, None
    return None


def _bound_loss(ctx: ModuleContext, site: CompileSite) -> CompileSite:
    """``loss_fn = SparseCategoricalCrossentropy(from_logits=True)`` then ``compile(loss=loss_fn)``: the call the
    name was bound to (once in the compiling function, or at module level), so the loss is read and fixed there."""
    expr = site.expr
    if not isinstance(expr, ast.Name) or ctx.module.op(expr) is not None:
        return site
    if site.enclosing in ctx.module.functions:
        fn, block = ctx.module.functions[site.enclosing]
        values = [node.value for node in ast.walk(fn) if isinstance(node, ast.Assign)
                  and any(isinstance(target, ast.Name) and target.id == expr.id for target in node.targets)]
        if values:  # a local: only a single binding says for sure which loss it is
            return CompileSite(values[0], site.call, block.start, site.enclosing) if len(values) == 1 else site
    if expr.id in ctx.module.assignments:
        value, block = ctx.module.assignments[expr.id]
        return CompileSite(value, site.call, block.start, site.enclosing)
    return site


def check_module(ctx: ModuleContext) -> Iterator[Finding]:
    for site in ctx.module.compile_sites:
        compile_line = site.block_start + site.call.lineno - 1
        last = ctx.module.last_layer_before(compile_line, ("Dense", "Activation", "Softmax"))
        if last is None:
            continue
        dense = last if last.kind == "Dense" else ctx.module.last_layer_before(compile_line, ("Dense",))
        activation = layer_activation(last.kind, last.call)
        span = ctx.span(site.expr, site.block_start)
        if activation == "softmax" and dense is not None and _units(dense) == 1:
            finding = ctx.finding(RULE, span, "softmax over a single unit always outputs 1.0: the loss is constant "
                                  "and nothing trains; use activation=\"sigmoid\" for one output", None)
            # Nothing trains at all (the other cases train, badly): an error, unless the user set the rule's severity.
            yield replace(finding, severity=ctx.file.settings.severity_for(RULE.code, "error"))
            continue
        loss = _bound_loss(ctx, site)
        kind = _loss_kind(ctx, loss.expr)
        if kind is None:
            continue
        name, from_logits = kind
        if activation in ("linear", "relu") and not from_logits:
            yield ctx.finding(RULE, span, f"{name} on a {activation} output without from_logits=True treats raw "
                              "scores as probabilities (Keras clips them to [eps, 1 - eps]): the gradient vanishes "
                              "outside that range", _from_logits_fix(ctx, loss, name, True))
        # from_logits=True on a sigmoid/softmax layer is not reported: Keras's cross-entropies take the logits
        # back from a Keras activation's output and only warn (measured: fit trains identically in Keras 3.15).
        elif activation == "sigmoid" and name.startswith("categorical"):
            yield ctx.finding(RULE, span, f"{name} expects one softmax distribution per sample, but the model "
                              "ends in sigmoid: the outputs do not sum to 1", None)


def _from_logits_fix(ctx: ModuleContext, site: CompileSite, name: str, value: bool) -> Fix | None:
    expr = site.expr
    span = ctx.span(expr, site.block_start)
    if isinstance(expr, ast.Call):
        kw = _keyword(expr, "from_logits")
        if kw is not None:
            edit = Edit(ctx.span(kw.value, site.block_start), str(value))
        else:
            text = ctx.file.text(span)
            inner = text[text.index("(") + 1:-1].strip()
            head = text[:text.index("(")]
            edit = Edit(span, f"{head}({inner + ', ' if inner else ''}from_logits={value})")
        return Fix(f"Set from_logits={value}", "unsafe", (edit,))
    losses = ctx.module.alias_for("keras.losses", "tensorflow.keras.losses")
    keras = ctx.module.alias_for("keras", "tensorflow.keras")
    tf = ctx.module.alias_for("tensorflow")
    prefix = losses or (f"{keras}.losses" if keras else f"{tf}.keras.losses" if tf else None)
    if prefix is None:
        return None
    return Fix(f"Use {_CROSSENTROPY[name]}(from_logits={value})", "unsafe",
               (Edit(span, f"{prefix}.{_CROSSENTROPY[name]}(from_logits={value})"),))


RULE = Rule(
    code="LL304",
    name="activation-loss-mismatch",
    severity="warning",
    summary="Output activation and loss disagree: logits without from_logits=True, softmax on one unit",
    why=(
        "Keras's crossentropy losses assume probabilities unless told `from_logits=True`. On a linear "
        "output they clip the raw scores to [eps, 1 - eps], where the gradient is zero for every score "
        "outside that range. (`from_logits=True` on a sigmoid/softmax layer is not reported: Keras's "
        "cross-entropies take the logits back from a Keras activation's output and only warn; `fit` trains the "
        "same either way.) A softmax over a single unit is always 1.0, so the loss never changes. "
        "The mismatches train badly without raising and are warnings (like LL308's softmax applied twice); the "
        "single-unit softmax trains nothing at all and is an error."
    ),
    example=(
        "import keras\n\n"
        "model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3)])\n"
        "model.compile(optimizer=\"adam\", loss=\"categorical_crossentropy\")\n"
    ),
    fixed=(
        "import keras\n\n"
        "model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3)])\n"
        "model.compile(optimizer=\"adam\", loss=keras.losses.CategoricalCrossentropy(from_logits=True))\n"
    ),
    fix_title="Set `from_logits=True` (or False), or use the right activation",
    check_module=check_module,
    scope="module",
)
