"""LL410: a tf.* op in a loss of a project that otherwise writes backend-neutral keras.ops code."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import ModuleContext
from loss_lsp.engine.findings import Edit, Finding, Fix
from loss_lsp.engine.namespaces import TF_TO_OPS, Op
from loss_lsp.engine.memo import on_node
from loss_lsp.rules.rule import Rule

# Keyword arguments spelled the same way by the tf op and its keras.ops equivalent.
_SAME_KEYWORDS = {"axis", "keepdims", "dtype"}
_DTYPES = {"float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool"}




def check_module(ctx: ModuleContext) -> Iterator[Finding]:
    # A module rule rather than a per-loss one: whether the module uses keras.ops depends on code
    # outside the loss, which the per-loss result cache does not see.
    uses_ops = ctx.module.uses_keras_ops  # ``keras.ops.x`` spelled out somewhere in the module
    prefix = _ops_prefix(ctx)
    imports: frozenset[tuple[str, str]] | None = None
    for loss in ctx.losses:
        if not uses_ops and "ops" not in loss.block.text:
            continue  # cannot mix keras.ops and tf.* without naming ops: skip the walk
        imports = frozenset(ctx.module.imports.items()) if imports is None else imports
        calls = _library_calls(ctx, loss.fn, imports)
        if not uses_ops and not any(op.namespace == "ops" for _, op in calls):
            continue  # a loss that itself mixes keras.ops and tf.* counts whatever the import style
        tied = sorted(((node, op) for node, op in calls if op.namespace == "tf" and op.name in TF_TO_OPS),
                      key=lambda pair: (pair[0].lineno, pair[0].col_offset))
        if not tied:
            continue
        # One finding per loss (at its first tf.* op): the portability question is the loss's, and one
        # line per op buried real findings under dozens of these.
        first, first_op = tied[0]
        span = ctx.span(first.func, loss.block.start)
        target = TF_TO_OPS[first_op.name]
        portable = f"{prefix}.{target}" if prefix else f"keras.ops.{target}"
        more = f" and {len(tied) - 1} more `tf.*` op{'s' if len(tied) > 2 else ''}" if len(tied) > 1 else ""
        fixes = [_fix(ctx, loss.block.start, node, op.name, f"{prefix}.{TF_TO_OPS[op.name]}") if prefix else None
                 for node, op in tied]
        fix = None
        if fixes and all(f is not None for f in fixes):
            edits = tuple(edit for f in fixes for edit in f.edits)  # type: ignore[union-attr]
            fix = Fix(f"Use `{prefix}` for every `tf.*` op of this loss", "unsafe", edits)
        yield ctx.finding(
            RULE, span,
            f"`{ctx.file.text(span)}`{more} tie this loss to the TensorFlow backend, while the module otherwise "
            f"uses `keras.ops`: under JAX or PyTorch it fails; `{portable}` is the backend-neutral equivalent",
            fix, loss.name)


def _library_calls(ctx: ModuleContext, fn: ast.AST, imports: frozenset[tuple[str, str]]
                   ) -> tuple[tuple[ast.Call, Op], ...]:
    """The tf.* / keras.ops calls written in the loss (kept with the function node, per set of imports)."""
    return on_node(fn, ("LL410", imports), lambda: _find_library_calls(ctx, fn))


def _find_library_calls(ctx: ModuleContext, fn: ast.AST) -> tuple[tuple[ast.Call, Op], ...]:
    local_imports: dict[str, str] = {}
    local_names: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                local_imports[alias.asname or root] = alias.name if alias.asname else root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                local_imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local_names.add(node.id)
        elif isinstance(node, ast.arg):
            local_names.add(node.arg)
    found: list[tuple[ast.Call, Op]] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in local_names):
            op = ctx.module.op(node.func, local_imports)
            if op is not None and op.namespace in ("tf", "ops"):
                found.append((node, op))
    return tuple(found)


def _ops_prefix(ctx: ModuleContext) -> str | None:
    """How the file spells keras.ops: ``ops`` (from keras import ops), ``keras.ops``, ... or None."""
    alias = ctx.file.ops()
    if alias:
        return alias
    keras = ctx.module.alias_for("keras")
    return f"{keras}.ops" if keras else None


def _fix(ctx: ModuleContext, block_start: int, node: ast.Call, name: str, replacement: str) -> Fix | None:
    if any(kw.arg not in _SAME_KEYWORDS for kw in node.keywords):
        return None  # argument names differ (input_tensor=, clip_value_min=, ...): rewrite by hand
    if name == "argmax" and len(node.args) < 2 and not node.keywords:
        return None  # tf.argmax defaults to axis 0, keras.ops.argmax to the flattened tensor
    edits = [Edit(ctx.span(node.func, block_start), replacement)]
    dtype = node.args[1] if name == "cast" and len(node.args) > 1 else next(
        (kw.value for kw in node.keywords if kw.arg == "dtype"), None)
    if dtype is not None:
        dtype_op = ctx.module.op(dtype)
        if dtype_op is not None and dtype_op.namespace == "tf" and dtype_op.name in _DTYPES:
            edits.append(Edit(ctx.span(dtype, block_start), f'"{dtype_op.name}"'))  # tf.float32 is TF-only too
    return Fix(f"Use `{replacement}`", "unsafe", tuple(edits))


RULE = Rule(
    code="LL410",
    name="backend-specific-op",
    severity="info",
    summary="A `tf.*` op in a loss of a module that otherwise uses Keras 3's backend-neutral `keras.ops`",
    why=(
        "Keras 3 runs the same model on TensorFlow, JAX or PyTorch, as long as its code goes through "
        "`keras.ops`. A loss written with `tf.*` ops only runs on the TensorFlow backend: switching "
        "`KERAS_BACKEND` makes it fail on the first batch. When the rest of the module already uses "
        "`keras.ops`, the `tf.*` ops in a loss are usually an oversight. This is information, not an error: "
        "on the TensorFlow backend the loss trains correctly."
    ),
    example=(
        "import keras\n"
        "import tensorflow as tf\n\n"
        "def mae(y_true, y_pred):\n"
        "    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)\n\n"
        "def mse(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)\n"
    ),
    fixed=(
        "import keras\n"
        "import tensorflow as tf\n\n"
        "def mae(y_true, y_pred):\n"
        "    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)\n\n"
        "def mse(y_true, y_pred):\n"
        "    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)\n"
    ),
    fix_title="Replace the `tf.*` op with its `keras.ops` equivalent",
    check_module=check_module,
    scope="module",
)
