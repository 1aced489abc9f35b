"""LL404: a loss needing more than (y_true, y_pred) handed straight to compile."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import replace

from loss_lsp.engine.context import ModuleContext, char_col
from loss_lsp.engine.findings import Edit, Finding, Fix, Related, Span
from loss_lsp.engine.module import ModuleInfo
from loss_lsp.rules.rule import Rule


def check_module(ctx: ModuleContext) -> Iterator[Finding]:
    # A module rule, not a per-loss one: the finding sits on the compile call, in another block than the
    # loss, and per-loss results are cached by the loss's own block.
    for loss in ctx.losses:
        fn = loss.fn
        if isinstance(fn, ast.Lambda) or not loss.bare_compile_exprs:
            continue
        required, positional_only = _extra_required(fn)
        positional = len(fn.args.posonlyargs + fn.args.args)
        too_few = positional < 2 and fn.args.vararg is None
        if not required and not too_few:
            continue
        names = ", ".join(f"`{name}`" for name in required)
        definition = Related(ctx.file.path, _header(ctx, fn, loss.block.start), f"`{fn.name}` is defined here")
        for expr in loss.bare_compile_exprs:
            block_start = _block_start_of(ctx.module, expr)
            if block_start is None:
                continue
            span = ctx.span(expr, block_start)
            fix = None if positional_only or too_few else _partial_fix(ctx, span, required)
            if too_few:  # measured on Keras 3.15 and tf_keras 2.21: TypeError at the first batch
                message = (f"`{ctx.file.text(span)}` takes {positional} positional argument"
                           f"{'' if positional == 1 else 's'} but `compile` calls it with (y_true, y_pred): fit fails "
                           f"with TypeError; if it is a factory that returns the loss, pass "
                           f"`{ctx.file.text(span)}(...)`")
            else:
                message = (f"`{ctx.file.text(span)}` is passed to `compile`, which calls it with (y_true, y_pred) "
                           f"only, but it also requires {names}: fit fails with TypeError (missing required "
                           "argument); bind the values with `functools.partial` or a factory")
            finding = ctx.finding(RULE, span, message, fix, loss.name)
            yield replace(finding, related=(definition,))


def _extra_required(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[list[str], bool]:
    """Parameters beyond the first two that have no default, and whether any is positional-only."""
    args = fn.args
    positional = args.posonlyargs + args.args
    first_default = len(positional) - len(args.defaults)
    extra = [p for index, p in enumerate(positional) if 2 <= index < first_default]
    keyword_only = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    positional_only = any(p in args.posonlyargs for p in extra)
    return [p.arg for p in extra] + keyword_only, positional_only


def _partial_fix(ctx: ModuleContext, span: Span, required: list[str]) -> Fix:
    imports = ctx.module.imports
    extra: tuple[Edit, ...] = ()
    local = next((name for name, target in imports.items() if target == "functools.partial"), None)
    if local is None:
        module = ctx.module.alias_for("functools")
        if module is None:
            module = "functools"
            edit = ctx.file.import_edit("import functools")
            extra = (edit,) if edit else ()
        local = f"{module}.partial"
    bound = ", ".join(f"{name}=..." for name in required)
    content = f"{local}({ctx.file.text(span)}, {bound})"
    return Fix(f"Wrap with `{local}` (fill in the `...` values)", "unsafe", (Edit(span, content), *extra))


def _block_start_of(module: ModuleInfo, node: ast.AST) -> int | None:
    """The first line of the block whose tree holds ``node`` (compile sites can be in any block)."""
    for block in module.blocks:
        if block.tree is not None and any(n is node for n in ast.walk(block.tree)):
            return block.start
    return None


def _header(ctx: ModuleContext, fn: ast.FunctionDef | ast.AsyncFunctionDef, block_start: int) -> Span:
    line = block_start + fn.lineno - 1
    text = ctx.module.lines[line] if line < len(ctx.module.lines) else ""
    start = char_col(text, fn.col_offset)
    at = text.find(fn.name, start)
    return Span(line, start, line, at + len(fn.name) if at >= 0 else len(text))


RULE = Rule(
    code="LL404",
    name="extra-required-args",
    severity="error",
    summary="A loss with required parameters beyond (y_true, y_pred) passed straight to `compile`",
    why=(
        "Keras calls a loss function with exactly two arguments, `(y_true, y_pred)`. A function that also "
        "requires, say, `gamma` compiles without complaint and then fails on the first batch of `fit` with "
        "`TypeError: ... missing 1 required positional argument: 'gamma'`. The extra values have to be bound "
        "before the function reaches `compile`."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def focal(y_true, y_pred, gamma):\n"
        "    p = tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7)\n"
        "    return -tf.reduce_mean(y_true * (1.0 - p) ** gamma * tf.math.log(p))\n\n"
        "model.compile(optimizer=\"adam\", loss=focal)\n"
    ),
    fixed=(
        "import functools\n\n"
        "import tensorflow as tf\n\n"
        "def focal(y_true, y_pred, gamma):\n"
        "    p = tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7)\n"
        "    return -tf.reduce_mean(y_true * (1.0 - p) ** gamma * tf.math.log(p))\n\n"
        "model.compile(optimizer=\"adam\", loss=functools.partial(focal, gamma=2.0))\n"
    ),
    fix_title="Wrap the loss with `functools.partial`, binding the extra parameters (fill in their values)",
    check_module=check_module,
    scope="module",
)
