"""LL406: Keras 2 loss API that Keras 3 removed (Reduction enums, ``reduction="auto"``, short loss
aliases, ``keras.backend`` arithmetic), reported only for projects that target Keras 3 (engine.project)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, replace

from loss_lsp.engine.chunks import Block
from loss_lsp.engine.context import ModuleContext, char_col
from loss_lsp.engine.discovery import loss_base_classes
from loss_lsp.engine.findings import Edit, Finding, Fix, Related, Span
from loss_lsp.engine.memo import on_node
from loss_lsp.engine.project import installed_keras, keras_target
from loss_lsp.rules.rule import Rule

# Keras 2 reduction members -> the Keras 3 string with the same meaning ("auto" meant
# sum-over-batch-size everywhere except under distribution strategies, where it raised).
_KERAS3_STRING = {"AUTO": "sum_over_batch_size", "SUM_OVER_BATCH_SIZE": "sum_over_batch_size",
                  "SUM": "sum", "NONE": "none"}
_ENUMS = {"Reduction", "ReductionV2"}
_LIBRARIES = ("tensorflow", "keras", "tf_keras")
_WORDS = ("Reduction", "reduction", "import")
_REMOVED_MODULES = {"keras.losses", "keras.utils", "keras.utils.losses_utils"}
# Measured on Keras 3.15.1 / TensorFlow 2.21 (getattr on each namespace; tf_keras 2.21 has them all):
# `keras.losses` / `keras.metrics` lost the short aliases, ...
_KERAS3_LONG = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
                "msle": "mean_squared_logarithmic_error", "kld": "kl_divergence",
                "kullback_leibler_divergence": "kl_divergence", "logcosh": "log_cosh"}
# ... while `tf.keras.losses` / `tf.keras.metrics` (Keras 3's tf.keras) kept the short ones and lack the long ones
# since Keras 3.3 (the wheels' API files: 3.0.2 still has them; 3.3.3, 3.8.0 and 3.15.1 do not).
_TF_KERAS_LONG_GONE = (3, 3)
_TF_KERAS_SHORT = {"mean_squared_error": "mse", "mean_absolute_error": "mae", "mean_absolute_percentage_error": "mape",
                   "mean_squared_logarithmic_error": "msle", "kl_divergence": "kld", "log_cosh": "logcosh"}
_ALIAS_MODULES = ("keras.losses", "keras.metrics")
_TF_ALIAS_MODULES = ("tensorflow.keras.losses", "tensorflow.keras.metrics")
# Everything Keras 3's `keras.backend` still has; `K.sum`, `K.flatten`, `K.binary_crossentropy`, ... are gone.
_KERAS3_BACKEND = frozenset({"backend", "clear_session", "epsilon", "floatx", "get_uid", "image_data_format",
                             "is_float_dtype", "is_int_dtype", "is_keras_tensor", "result_type", "set_epsilon",
                             "set_floatx", "set_image_data_format", "standardize_dtype"})
# Keras 2 backend functions whose keras.ops namesake has the same parameters and defaults (compared with
# inspect.signature: tf_keras 2.21 backend against keras 3.15 ops); the fix renames the call. Not argmax,
# cumsum, expand_dims (other defaults), clip, maximum, reshape, tile, ... (other keyword names).
_SAME_IN_OPS = frozenset({"abs", "all", "any", "cast", "cos", "exp", "log", "max", "mean", "min", "ones_like",
                          "prod", "sigmoid", "sign", "sin", "softmax", "softplus", "sqrt", "square", "squeeze",
                          "stack", "std", "sum", "tanh", "transpose", "var", "zeros_like"})
# ... and those whose keras.ops namesake differs in a default or a keyword name (same comparison).
_OTHER_ARGS_IN_OPS = frozenset({"argmax", "argmin", "clip", "cumprod", "cumsum", "equal", "expand_dims", "greater",
                                "greater_equal", "less", "less_equal", "maximum", "minimum", "not_equal", "one_hot",
                                "relu", "reshape", "stop_gradient", "tile"})
# ... and backend functions with no keras.ops namesake: what Keras 3 has instead (the K.x calls of the corpus
# that keras.ops lacks, checked with hasattr on Keras 3.15).
_REPLACED = {"pow": "`keras.ops.power`", "cast_to_floatx": "`keras.ops.cast(x, keras.config.floatx())`",
             "constant": "`keras.ops.convert_to_tensor`", "int_shape": "`x.shape`", "variable": "`keras.Variable`",
             "set_value": "`variable.assign(value)`", "batch_set_value": "`variable.assign(value)` for each pair",
             "update_add": "`variable.assign_add(increment)`", "get_value": "`keras.ops.convert_to_numpy`",
             "batch_get_value": "`keras.ops.convert_to_numpy` for each", "eval": "`keras.ops.convert_to_numpy`"}
_GRAPH_ONLY = frozenset({"function", "get_graph", "get_session", "set_session", "placeholder", "learning_phase",
                         "set_learning_phase", "gradients"})
_IMPORT_MODULES = {*_REMOVED_MODULES, *_ALIAS_MODULES, *_TF_ALIAS_MODULES, "keras.backend"}


@dataclass(frozen=True)
class _Scan:
    """What one block holds that this rule may report: found syntactically, cached with the block's tree."""

    imports: tuple[ast.ImportFrom, ...]
    enums: tuple[tuple[ast.expr, ast.expr, str | None], ...]  # (reported node, enum node, member)
    auto_calls: tuple[tuple[ast.Call, ast.expr, str | None], ...]  # (call, "auto" literal, enclosing class)
    auto_defaults: tuple[tuple[ast.expr, str | None], ...]  # ("auto" default, enclosing class)
    attributes: tuple[ast.Attribute, ...]  # `a.losses.mse`-like aliases and `a.backend.x`
    on_names: dict[str, tuple[ast.Attribute, ...]]  # `K.x` by the name `K` (a backend if it is imported so)


def check_module(ctx: ModuleContext) -> Iterator[Finding]:
    found = list(_removed_uses(ctx))
    if not found:
        return
    # Only now (rarely) look at the project: Keras 2 targets (declared, or installed here) still have all of this.
    target = keras_target(ctx.file.path)
    if target.major != 3:
        return
    for finding in found:
        yield replace(finding, message=f"{finding.message} (this project targets Keras 3: {target.reason})")


def _removed_uses(ctx: ModuleContext) -> Iterator[Finding]:
    roots = {target.split(".", 1)[0] for target in ctx.module.imports.values()}
    if not roots & set(_LIBRARIES) or "tf_keras" in roots:
        return  # not Keras code, or Keras 2 on purpose (tf_keras / TF_USE_LEGACY_KERAS): the enum is valid
    backends = [local for local, target in ctx.module.imports.items() if target == "keras.backend"]
    words = _WORDS + ("losses.", "metrics.", "backend.") + tuple(f"{local}." for local in backends)
    local_losses: set[str] | None = None
    backend_calls: list[tuple[Span, str, str]] = []
    for block in ctx.module.blocks:
        if block.tree is None or not any(word in block.text for word in words):
            continue  # a substring test is far cheaper than walking the block
        scan = _scan(block.tree)
        for node in scan.imports:
            yield from _removed_import(ctx, block, node)
        for attribute in scan.attributes + tuple(n for local in backends for n in scan.on_names.get(local, ())):
            removed = _removed_backend_call(ctx, block, attribute)
            if removed is not None:
                backend_calls.append(removed)
            else:
                yield from _removed_attribute(ctx, block, attribute)
        for target, enum, member in scan.enums:
            yield from _enum_use(ctx, block, target, enum, member)
        if scan.auto_calls or scan.auto_defaults:
            local_losses = loss_base_classes(ctx.module) if local_losses is None else local_losses
        for call, literal, cls in scan.auto_calls:
            if _builds_loss(ctx, call, local_losses or set(), cls in (local_losses or set())):
                yield from _auto_string(ctx, block, literal)
        for literal, cls in scan.auto_defaults:
            if cls in (local_losses or set()):
                yield from _auto_string(ctx, block, literal)
    if backend_calls:
        yield _backend_finding(ctx, backend_calls)


def _is_auto(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() == "auto"


def _defaults(args: ast.arguments) -> list[tuple[str, ast.expr]]:
    """(parameter name, default value) pairs of a signature."""
    positional = args.posonlyargs + args.args
    pairs = [(a.arg, d) for a, d in zip(positional[len(positional) - len(args.defaults):], args.defaults)]
    return pairs + [(a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]


def _scan(tree: ast.Module) -> _Scan:
    return on_node(tree, "LL406", lambda: _compute_scan(tree))


def _compute_scan(tree: ast.Module) -> _Scan:
    imports: list[ast.ImportFrom] = []
    enums: list[tuple[ast.expr, ast.expr, str | None]] = []
    members: set[int] = set()
    bare: list[ast.expr] = []
    auto_calls: list[tuple[ast.Call, ast.expr, str | None]] = []
    auto_defaults: list[tuple[ast.expr, str | None]] = []
    attributes: list[ast.Attribute] = []
    on_names: dict[str, list[ast.Attribute]] = {}
    for top in tree.body:
        cls = top.name if isinstance(top, ast.ClassDef) else None
        for node in ast.walk(top):
            if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
                continue  # `keras.backend.name_scope = keras.name_scope` adds the name: nothing is read
            if isinstance(node, ast.Attribute):
                inner = node.value
                inner_name = (inner.attr if isinstance(inner, ast.Attribute)
                              else inner.id if isinstance(inner, ast.Name) else "")
                if inner_name in _ENUMS:
                    enums.append((node, inner, node.attr))
                    members.add(id(inner))
                elif node.attr in _ENUMS and isinstance(node.ctx, ast.Load):
                    bare.append(node)
                elif node.attr in _KERAS3_LONG or node.attr in _TF_KERAS_SHORT or (
                        inner_name == "backend" and node.attr not in _KERAS3_BACKEND):
                    attributes.append(node)
                elif isinstance(inner, ast.Name) and node.attr not in _KERAS3_BACKEND:
                    on_names.setdefault(inner.id, []).append(node)
            elif isinstance(node, ast.Name):
                if node.id in _ENUMS and isinstance(node.ctx, ast.Load):
                    bare.append(node)
            elif isinstance(node, ast.Call):
                auto_calls += [(node, kw.value, cls) for kw in node.keywords
                               if kw.arg == "reduction" and _is_auto(kw.value)]
            elif isinstance(node, ast.arguments):
                auto_defaults += [(d, cls) for name, d in _defaults(node) if name == "reduction" and _is_auto(d)]
            elif isinstance(node, ast.ImportFrom) and node.module in _IMPORT_MODULES and not node.level:
                imports.append(node)
    enums += [(node, node, None) for node in bare if id(node) not in members]
    return _Scan(tuple(imports), tuple(enums), tuple(auto_calls), tuple(auto_defaults), tuple(attributes),
                 {name: tuple(nodes) for name, nodes in on_names.items()})


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


def _enum_use(ctx: ModuleContext, block: Block, target: ast.expr, enum: ast.expr,
              member: str | None) -> Iterator[Finding]:
    path = ctx.module.resolve(enum) or ""
    if path.rsplit(".", 1)[-1] not in _ENUMS:
        return
    span = ctx.span(target, block.start)
    spelled = ctx.file.text(span)
    fix = None
    if member in _KERAS3_STRING:
        string = _KERAS3_STRING[member]
        quote = _quote_style(ctx, block)
        fix = Fix(f"Use the Keras 3 string {quote}{string}{quote}", "safe", (Edit(span, f"{quote}{string}{quote}"),))
    if path.startswith(("keras.losses.", "keras.utils.losses_utils.", "keras.src.utils.losses_utils.")):
        yield ctx.finding(RULE, span, f"`{spelled}`: Keras 3 removed the reduction enum (AttributeError: module "
                          "'keras.losses' has no attribute 'Reduction'); losses take the reduction as a string "
                          "(\"sum_over_batch_size\", \"sum\", \"none\")", fix)
    elif member == "AUTO" and path.startswith(("tensorflow.keras.", "tensorflow.losses.", "tensorflow.python.keras.")):
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
    for alias in node.names:
        if node.module in _REMOVED_MODULES and (alias.name in _ENUMS or alias.name == "losses_utils"):
            advice = "pass the reduction as a string instead"
        elif node.module in _ALIAS_MODULES and alias.name in _KERAS3_LONG:
            advice = f"import `{_KERAS3_LONG[alias.name]}`"
        elif (node.module in _TF_ALIAS_MODULES and alias.name in _TF_KERAS_SHORT
              and installed_keras() >= _TF_KERAS_LONG_GONE):
            advice = f"import `{_TF_KERAS_SHORT[alias.name]}`, which `tf.keras` still has"
        elif node.module == "keras.backend" and alias.name not in _KERAS3_BACKEND and alias.name != "*":
            advice = _ops_advice(alias.name)
        else:
            continue
        yield ctx.finding(RULE, ctx.span(node, block.start),
                          f"`{alias.name}` no longer exists in `{node.module}` (Keras 3): this import fails "
                          f"with ImportError; {advice}")
        return


def _removed_attribute(ctx: ModuleContext, block: Block, node: ast.Attribute) -> Iterator[Finding]:
    """``keras.losses.mse``, ``tf.keras.losses.mean_squared_error``, ``K.sum`` with ``K`` Keras 3's backend."""
    path = ctx.module.resolve(node) or ""
    module, _, name = path.rpartition(".")
    span = ctx.span(node, block.start)
    spelled = ctx.file.text(span)
    if module in _ALIAS_MODULES and name in _KERAS3_LONG:
        new = f"{spelled.rsplit('.', 1)[0]}.{_KERAS3_LONG[name]}"
        yield ctx.finding(RULE, span, f"`{spelled}`: Keras 3 removed the short alias (AttributeError: module "
                          f"'{module}' has no attribute '{name}'); the function is `{new}`",
                          Fix(f"Use `{new}`", "safe", (Edit(span, new),)))
    elif module in _TF_ALIAS_MODULES and name in _TF_KERAS_SHORT and installed_keras() >= _TF_KERAS_LONG_GONE:
        new = f"{spelled.rsplit('.', 1)[0]}.{_TF_KERAS_SHORT[name]}"
        version = ".".join(map(str, installed_keras()))
        yield ctx.finding(RULE, span, f"`{spelled}` does not exist in the `tf.keras` of Keras {version}, installed "
                          f"here (gone since Keras 3.3: AttributeError), which kept only the short alias `{new}`",
                          Fix(f"Use `{new}`", "safe", (Edit(span, new),)))


def _removed_backend_call(ctx: ModuleContext, block: Block, node: ast.Attribute) -> tuple[Span, str, str] | None:
    """(span, spelling, name) of ``K.sum``-like uses of a function Keras 3's ``keras.backend`` lacks."""
    path = ctx.module.resolve(node) or ""
    module, _, name = path.rpartition(".")
    if module != "keras.backend" or name in _KERAS3_BACKEND:
        return None
    span = ctx.span(node, block.start)
    return span, ctx.file.text(span), name


def _backend_finding(ctx: ModuleContext, calls: list[tuple[Span, str, str]]) -> Finding:
    """One finding per module for all its removed backend calls: they have one cause (the module is written
    against Keras 2's backend) and the first to run stops the module, so a finding per call repeats it.
    It sits on the first call; the others are related locations, and the fix ports every call it can."""
    calls = sorted(calls)
    span, spelled, name = calls[0]
    message = (f"`{spelled}`: Keras 3's `keras.backend` has no `{name}` (AttributeError: module 'keras.backend' "
               f"has no attribute '{name}'); {_ops_advice(name)}")
    others = sorted({n for _, _, n in calls[1:]} - {name})
    if len(calls) > 1:
        listed = ", ".join(f"`{n}`" for n in others[:8]) + (", ..." if len(others) > 8 else "")
        message += (f"; {len(calls) - 1} more call(s) in this module fail the same way"
                    + (f" ({listed})" if others else "") + ": see the related locations")
    related = tuple(Related(ctx.file.path, s, f"`{text}`: {_ops_advice(n)}") for s, text, n in calls[1:])
    portable = [(s, n) for s, _, n in calls if n in _SAME_IN_OPS]
    finding = ctx.finding(RULE, span, message, _ops_fix(ctx, portable) if portable else None)
    return replace(finding, related=related)


def _ops_advice(name: str) -> str:
    if name in _SAME_IN_OPS:
        return f"`keras.ops.{name}` takes the same arguments"
    if name in _OTHER_ARGS_IN_OPS:
        return f"`keras.ops.{name}` exists, but a default or a keyword name differs: check the call"
    if name in _REPLACED:
        return f"Keras 3 has {_REPLACED[name]} instead"
    if name in _GRAPH_ONLY:
        return "it is Keras 2 graph-mode API with no Keras 3 equivalent (run the code eagerly or in `tf.function`)"
    return "port it to `keras.ops`"


def _ops_fix(ctx: ModuleContext, calls: list[tuple[Span, str]]) -> Fix | None:
    """``K.sum`` -> ``ops.sum`` for each (span, name), importing ``from keras import ops`` when the file has no
    keras.ops yet."""
    module = ctx.module
    ops = module.alias_for("keras.ops")
    extra: tuple[Edit, ...] = ()
    if ops is None:
        if any("ops" in names for names in (module.imports, module.assignments, module.functions, module.classes)):
            return None  # the name is taken: the author chooses how to import keras.ops
        ops = "ops"
        edit = ctx.file.import_edit("from keras import ops")
        extra = (edit,) if edit else ()
    edits = tuple(Edit(span, f"{ops}.{name}") for span, name in calls)
    title = f"Use `{ops}.{calls[0][1]}`" if len(calls) == 1 else f"Use `{ops}` for the {len(calls)} calls it has"
    return Fix(title, "safe", (*edits, *extra))


def _quote_style(ctx: ModuleContext, block: Block) -> str:
    """The quote the block mostly uses for its string literals, for inserted strings."""
    counts = {"'": 0, '"': 0}
    lines = ctx.module.lines
    for node in ast.walk(block.tree) if block.tree is not None else ():
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
    summary=("Keras 2 loss API removed in Keras 3: `keras.losses.Reduction`, `Reduction.AUTO`, "
             "`reduction=\"auto\"`, `keras.losses.mse`, `K.sum`"),
    why=(
        "Since TensorFlow 2.16, `tf.keras` is Keras 3, and Keras 3 takes a loss's reduction as a string. "
        "`keras.losses.Reduction` no longer exists (AttributeError), and the value \"auto\" is rejected when "
        "the loss is built (`ValueError: Invalid value for argument reduction`), whether it is written as "
        "`reduction=\"auto\"` or through the `tf.keras.losses.Reduction.AUTO` compatibility alias. Code "
        "written for Keras 2 stops at the first line that builds the loss. Keras 3 also dropped the short "
        "aliases of `keras.losses` / `keras.metrics` (`mse`, `mae`, `kld`, `logcosh`, ...; `tf.keras` kept "
        "those and lacks the long names instead) and the arithmetic of `keras.backend` (`K.sum`, `K.mean`, "
        "`K.flatten`, ...: use `keras.ops`); a module written against Keras 2's backend gets one finding, on its first "
        "such call, with the other calls as related locations and one fix that ports every call `keras.ops` takes "
        "unchanged. All of this is valid Keras 2, so the rule reports it only for "
        "projects that target Keras 3: the requirements declared nearest to the file (`pyproject.toml`, "
        "`setup.cfg`, `setup.py`, `requirements*.txt`, an installed wheel's `METADATA`) decide, e.g. "
        "`tensorflow<2.16` or `tf_keras` means Keras 2; when they allow both, the Keras installed with "
        "loss-lsp decides. Files that import `tf_keras` (Keras 2 kept on purpose) are left alone."
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
