"""LL406: Keras 2 loss API that Keras 3 removed (Reduction enums, ``reduction="auto"``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.chunks import Block
from loss_lsp.engine.context import ModuleContext, char_col
from loss_lsp.engine.discovery import loss_base_classes
from loss_lsp.engine.findings import Edit, Finding, Fix
from loss_lsp.rules.rule import Rule

# Keras 2 reduction members -> the Keras 3 string with the same meaning ("auto" meant
# sum-over-batch-size everywhere except under distribution strategies, where it raised).
_KERAS3_STRING = {"AUTO": "sum_over_batch_size", "SUM_OVER_BATCH_SIZE": "sum_over_batch_size",
                  "SUM": "sum", "NONE": "none"}
_ENUMS = {"Reduction", "ReductionV2"}
_LIBRARIES = ("tensorflow", "keras", "tf_keras")


def check_module(ctx: ModuleContext) -> Iterator[Finding]:
    roots = {target.split(".", 1)[0] for target in ctx.module.imports.values()}
    if not roots & set(_LIBRARIES) or "tf_keras" in roots:
        return  # not Keras code, or Keras 2 on purpose (tf_keras / TF_USE_LEGACY_KERAS): the enum is valid
    quote = _quote_style(ctx)
    local_losses = loss_base_classes(ctx.module)
    for block in ctx.module.blocks:
        if block.tree is None:
            continue
        parent_of = {id(child): node for node in ast.walk(block.tree) for child in ast.iter_child_nodes(node)}
        inside_loss_class = {id(n) for cls in ast.walk(block.tree) if isinstance(cls, ast.ClassDef)
                             and cls.name in local_losses for n in ast.walk(cls)}
        for node in ast.walk(block.tree):
            if isinstance(node, ast.ImportFrom):
                yield from _removed_import(ctx, block, node)
            elif isinstance(node, (ast.Attribute, ast.Name)) and isinstance(node.ctx, ast.Load):
                yield from _enum_use(ctx, block, node, parent_of.get(id(node)), quote)
            elif isinstance(node, ast.Call) and _builds_loss(ctx, node, local_losses, id(node) in inside_loss_class):
                for kw in node.keywords:
                    if kw.arg == "reduction":
                        yield from _auto_string(ctx, block, kw.value)
            elif isinstance(node, ast.arguments) and id(node) in inside_loss_class:
                positional = node.posonlyargs + node.args
                pairs = list(zip(positional[len(positional) - len(node.defaults):], node.defaults))
                pairs += [(a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults) if d is not None]
                for param, default in pairs:
                    if param.arg == "reduction":
                        yield from _auto_string(ctx, block, default)


def _builds_loss(ctx: ModuleContext, call: ast.Call, local_losses: set[str], in_loss_class: bool) -> bool:
    """A Keras loss constructor: ``keras.losses.X(...)``, a local Loss subclass, or the ``__init__`` chain
    inside one (``super().__init__(reduction=...)``). Other functions may use "auto" for their own ends."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in local_losses:
        return True
    if isinstance(func, ast.Attribute) and func.attr == "__init__":
        return in_loss_class
    op = ctx.module.op(func)
    return op is not None and (op.namespace == "losses" or (op.namespace == "tf" and op.name.startswith("losses.")))


def _enum_use(ctx: ModuleContext, block: Block, node: ast.Attribute | ast.Name, parent: ast.AST | None,
              quote: str) -> Iterator[Finding]:
    path = ctx.module.resolve(node) or ""
    if path.rsplit(".", 1)[-1] not in _ENUMS:
        return
    member = parent.attr if isinstance(parent, ast.Attribute) and parent.value is node else None
    target: ast.AST = parent if member is not None else node  # type: ignore[assignment]
    span = ctx.span(target, block.start)
    spelled = ctx.file.text(span)
    fix = None
    if member in _KERAS3_STRING:
        string = _KERAS3_STRING[member]
        fix = Fix(f"Use the Keras 3 string {quote}{string}{quote}", "safe", (Edit(span, f"{quote}{string}{quote}"),))
    if path.startswith(("keras.losses.", "keras.utils.losses_utils.", "keras.src.utils.losses_utils.")):
        yield ctx.finding(RULE, span, f"`{spelled}`: Keras 3 removed the reduction enum (AttributeError: module "
                          "'keras.losses' has no attribute 'Reduction'); losses take the reduction as a string "
                          "(\"sum_over_batch_size\", \"sum\", \"none\")", fix)
    elif member == "AUTO" and path.startswith(("tensorflow.keras.", "tensorflow.losses.")):
        yield ctx.finding(RULE, span, f"`{spelled}` is the string \"auto\", which Keras 3 (what `tf.keras` is "
                          "since TF 2.16) rejects: ValueError: Invalid value for argument `reduction`; use "
                          "\"sum_over_batch_size\"", fix)


def _auto_string(ctx: ModuleContext, block: Block, value: ast.expr) -> Iterator[Finding]:
    if not (isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.lower() == "auto"):
        return
    span = ctx.span(value, block.start)
    text = ctx.file.text(span)
    quote = text[-1] if text[-1:] in ("'", '"') else '"'
    fix = Fix(f"Use {quote}sum_over_batch_size{quote}", "safe",
              (Edit(span, f"{quote}sum_over_batch_size{quote}"),))
    yield ctx.finding(RULE, span, "reduction \"auto\" was removed in Keras 3: constructing the loss fails with "
                      "ValueError: Invalid value for argument `reduction`; \"sum_over_batch_size\" is what "
                      "\"auto\" meant", fix)


def _removed_import(ctx: ModuleContext, block: Block, node: ast.ImportFrom) -> Iterator[Finding]:
    if node.level or node.module not in ("keras.losses", "keras.utils", "keras.utils.losses_utils"):
        return
    for alias in node.names:
        if alias.name in _ENUMS or alias.name == "losses_utils":
            yield ctx.finding(RULE, ctx.span(node, block.start),
                              f"`{alias.name}` no longer exists in `{node.module}` (Keras 3): this import fails "
                              "with ImportError; pass the reduction as a string instead")
            return


def _quote_style(ctx: ModuleContext) -> str:
    """The quote the file mostly uses for its string literals, for inserted strings."""
    counts = {"'": 0, '"': 0}
    lines = ctx.module.lines
    for block in ctx.module.blocks:
        if block.tree is None:
            continue
        for node in ast.walk(block.tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                line = block.start + node.lineno - 1
                text = lines[line] if line < len(lines) else ""
                col = char_col(text, node.col_offset)
                char = text[col:col + 1]
                if char in counts and text[col:col + 3] != char * 3:
                    counts[char] += 1
    return "'" if counts["'"] > counts['"'] else '"'


RULE = Rule(
    code="LL406",
    name="removed-keras-api",
    severity="error",
    summary="Keras 2 loss API removed in Keras 3: `keras.losses.Reduction`, `Reduction.AUTO`, `reduction=\"auto\"`",
    why=(
        "Since TensorFlow 2.16, `tf.keras` is Keras 3, and Keras 3 takes a loss's reduction as a string. "
        "`keras.losses.Reduction` no longer exists (AttributeError), and the value \"auto\" is rejected when "
        "the loss is built (`ValueError: Invalid value for argument reduction`), whether it is written as "
        "`reduction=\"auto\"` or through the `tf.keras.losses.Reduction.AUTO` compatibility alias. Code "
        "written for Keras 2 stops at the first line that builds the loss. Files that import `tf_keras` "
        "(Keras 2 kept on purpose) are left alone."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "class LogCosh(tf.keras.losses.Loss):\n"
        "    def __init__(self, reduction=tf.keras.losses.Reduction.AUTO, name=\"log_cosh\"):\n"
        "        super().__init__(reduction=reduction, name=name)\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "class LogCosh(tf.keras.losses.Loss):\n"
        "    def __init__(self, reduction=\"sum_over_batch_size\", name=\"log_cosh\"):\n"
        "        super().__init__(reduction=reduction, name=name)\n"
    ),
    fix_title="Use the Keras 3 reduction string (\"sum_over_batch_size\", \"sum\" or \"none\")",
    check_module=check_module,
    scope="module",
)
