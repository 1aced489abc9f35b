"""LL409: a Loss subclass whose __init__ takes hyper-parameters but that has no get_config."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.chunks import Block
from loss_lsp.engine.context import ModuleContext, char_col
from loss_lsp.engine.discovery import loss_base_classes
from loss_lsp.engine.findings import Edit, Finding, Fix, Span
from loss_lsp.engine.module import dotted
from loss_lsp.engine.memo import on_node
from loss_lsp.rules.rule import Rule

# Arguments Keras's own Loss.get_config already covers, or that carry no hyper-parameter.
_BASE_ARGS = {"self", "name", "reduction", "dtype"}


def check_module(ctx: ModuleContext) -> Iterator[Finding]:
    local_losses = loss_base_classes(ctx.module)
    compiled = {loss.cls.name for loss in ctx.losses if loss.cls is not None and loss.compile_sites}
    for class_name in sorted(local_losses):
        if class_name.startswith("_") and class_name not in compiled:
            continue  # private and never compiled here: only the module's own code builds and calls it
        cls, block = ctx.module.classes[class_name]
        init = _method(cls, "__init__")
        if init is None:
            continue
        args = init.args
        hyper = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg not in _BASE_ARGS]
        if not hyper or _has_get_config(ctx, cls, set()) or _wrapper_keeps(ctx, cls, init, hyper, set()):
            continue
        names = ", ".join(f"`{h}`" for h in hyper)
        fix = _get_config_fix(ctx, block, init, hyper)
        yield ctx.finding(
            RULE, _class_header(ctx, cls, block),
            f"`{class_name}.__init__` takes {names} but the class has no `get_config`: {_consequence(init, hyper)}",
            fix, class_name)


def _defaults(init: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, ast.expr | None]:
    """Each parameter's default expression (None: the parameter is required)."""
    args = init.args
    positional = args.posonlyargs + args.args
    padded: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    out = {a.arg: d for a, d in zip(positional, padded)}
    out.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults)})
    return out


def _consequence(init: ast.FunctionDef | ast.AsyncFunctionDef, hyper: list[str]) -> str:
    """What a save / load round trip does to this class (measured on Keras 3.15 with ``load_model``)."""
    defaults = _defaults(init)
    rejected = [] if init.args.kwarg is not None else [b for b in ("name", "reduction") if b not in defaults]
    if rejected:  # the base get_config saves name and reduction; from_config passes them back (Keras 3.15)
        return (f"`load_model` (or any config round trip) fails with a TypeError, since the saved config "
                f"passes `{rejected[0]}`, which `__init__` does not take")
    required = [h for h in hyper if defaults.get(h) is None]
    if required:
        return (f"`load_model` (or any config round trip) fails with a TypeError, since `{required[0]}` is "
                "required and was not saved")
    literal = next(((h, d) for h in hyper if isinstance(d := defaults[h], ast.Constant)
                    and isinstance(d.value, (int, float, str, bool))), None)
    if literal is None:
        return "a saved model or a config round trip rebuilds the loss with its defaults, silently"
    name, value = literal
    shown = ast.unparse(value)
    shown = shown if len(shown) <= 20 else shown[:19] + "…"
    return (f"a saved model or a config round trip rebuilds the loss with its defaults, silently (`{name}` "
            f"comes back as {shown}, whatever it was built with)")


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    return next((n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name),
                None)


def _local_bases(ctx: ModuleContext, cls: ast.ClassDef) -> list[ast.ClassDef]:
    out = []
    for base in cls.bases:
        name = dotted(base)
        if name in ctx.module.classes and ctx.module.classes[name][0] is not cls:
            out.append(ctx.module.classes[name][0])
    return out


def _has_get_config(ctx: ModuleContext, cls: ast.ClassDef, seen: set[int]) -> bool:
    """The class or one of its ancestors in this module defines ``get_config``."""
    if id(cls) in seen:
        return False
    seen.add(id(cls))
    if _method(cls, "get_config") is not None:
        return True
    return any(_has_get_config(ctx, base, seen) for base in _local_bases(ctx, cls))


def _wrapper_keeps(ctx: ModuleContext, cls: ast.ClassDef, init: ast.FunctionDef | ast.AsyncFunctionDef,
                   hyper: list[str], seen: set[int]) -> bool:
    """A Keras ``LossFunctionWrapper`` subclass that forwards every hyper-parameter to ``super().__init__``:
    the wrapper's own ``get_config`` serialises the forwarded keyword arguments."""
    if not _derives_from_wrapper(ctx, cls, seen):
        return False
    forwarded: set[str] = set()
    for node in ast.walk(init):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__"):
            forwarded |= {kw.arg for kw in node.keywords if kw.arg}
            forwarded |= {a.id for a in node.args if isinstance(a, ast.Name)}
    return all(h in forwarded for h in hyper if h not in ("fn",))


def _derives_from_wrapper(ctx: ModuleContext, cls: ast.ClassDef, seen: set[int]) -> bool:
    if id(cls) in seen:
        return False
    seen.add(id(cls))
    for base in cls.bases:
        path = ctx.module.resolve(base) or dotted(base) or ""
        if path.endswith("LossFunctionWrapper") and ("keras" in path or "losses" in path):
            return True
    return any(_derives_from_wrapper(ctx, base, seen) for base in _local_bases(ctx, cls))


def _class_header(ctx: ModuleContext, cls: ast.ClassDef, block: Block) -> Span:
    line = block.start + cls.lineno - 1
    text = ctx.module.lines[line] if line < len(ctx.module.lines) else ""
    start = char_col(text, cls.col_offset)
    at = text.find(cls.name, start)
    return Span(line, start, line, at + len(cls.name) if at >= 0 else len(text))


def _stored_as(init: ast.FunctionDef | ast.AsyncFunctionDef, param: str) -> str | None:
    """``self.<attr> = param`` in ``__init__``: where the value can be read back."""
    return on_node(init, "ll409_stored_as", lambda: _self_assignments(init)).get(param)


def _self_assignments(init: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, str]:
    """Parameter name -> the first ``self.<attr>`` it is assigned to (kept with the tree: one walk per edit of it)."""
    out: dict[str, str] = {}
    for node in ast.walk(init):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id not in out:
            for target in node.targets:
                if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                        and target.value.id == "self"):
                    out[node.value.id] = target.attr
                    break
    return out


def _get_config_fix(ctx: ModuleContext, block: Block, init: ast.FunctionDef | ast.AsyncFunctionDef,
                    hyper: list[str]) -> Fix | None:
    attrs = {h: _stored_as(init, h) for h in hyper}
    if any(a is None for a in attrs.values()):
        return None  # a value that is transformed before it is stored: the author must choose what to save
    lines = ctx.module.lines
    def_line = block.start + init.lineno - 1
    indent = lines[def_line][:char_col(lines[def_line], init.col_offset)]
    body_line = block.start + init.body[0].lineno - 1
    step = lines[body_line][:char_col(lines[body_line], init.body[0].col_offset)][len(indent):] or "    "
    quote = _quote(ctx, block)
    items = ", ".join(f"{quote}{h}{quote}: self.{a}" for h, a in attrs.items())
    method = [
        "",
        f"{indent}def get_config(self):",
        f"{indent}{step}config = super().get_config()",
        f"{indent}{step}config.update({{{items}}})",
        f"{indent}{step}return config",
    ]
    end = block.start + (init.end_lineno or init.lineno) - 1
    return Fix("Add a get_config that returns the hyper-parameters", "safe",
               (Edit(Span(end, len(lines[end]), end, len(lines[end])), "\n" + "\n".join(method)),))


def _quote(ctx: ModuleContext, block: Block) -> str:
    """The quote character the block mostly uses for string literals (kept with the block's tree)."""
    if block.tree is None:
        return '"'
    return on_node(block.tree, "LL409-quote", lambda: _count_quotes(ctx, block))


def _count_quotes(ctx: ModuleContext, block: Block) -> str:
    counts = {"'": 0, '"': 0}
    for node in ast.walk(block.tree) if block.tree is not None else ():
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            line = ctx.module.lines[block.start + node.lineno - 1]
            char = line[char_col(line, node.col_offset):][:3]
            if char[:1] in counts and char != char[:1] * 3:
                counts[char[:1]] += 1
    return "'" if counts["'"] > counts['"'] else '"'


RULE = Rule(
    code="LL409",
    name="missing-get-config",
    severity="warning",
    summary="A `Loss` subclass whose `__init__` takes hyper-parameters but that has no `get_config`",
    why=(
        "Keras saves a loss by its config and rebuilds it with `from_config(config)`, which calls "
        "`__init__(**config)`. The base `Loss.get_config` only knows `name`, `reduction` and `dtype`, so "
        "hyper-parameters such as `gamma` or `alpha` are not saved: after `keras.models.load_model` (or "
        "`clone_model`, or a tuner rebuilding the model) the loss silently comes back with its default "
        "values (measured on Keras 3.15: built with `gamma=5.0`, restored with `gamma=2.0`), and training "
        "resumes on a different objective. A hyper-parameter without a default makes `load_model` fail with "
        "a TypeError instead."
    ),
    example=(
        "import keras\n"
        "from keras import ops\n\n"
        "class FocalLoss(keras.losses.Loss):\n"
        "    def __init__(self, gamma=2.0, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.gamma = gamma\n\n"
        "    def call(self, y_true, y_pred):\n"
        "        p = ops.clip(y_pred, 1e-7, 1.0 - 1e-7)\n"
        "        return -ops.mean(y_true * (1.0 - p) ** self.gamma * ops.log(p))\n"
    ),
    fixed=(
        "import keras\n"
        "from keras import ops\n\n"
        "class FocalLoss(keras.losses.Loss):\n"
        "    def __init__(self, gamma=2.0, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.gamma = gamma\n\n"
        "    def get_config(self):\n"
        "        config = super().get_config()\n"
        "        config.update({\"gamma\": self.gamma})\n"
        "        return config\n\n"
        "    def call(self, y_true, y_pred):\n"
        "        p = ops.clip(y_pred, 1e-7, 1.0 - 1e-7)\n"
        "        return -ops.mean(y_true * (1.0 - p) ** self.gamma * ops.log(p))\n"
    ),
    fix_title="Add a `get_config` that returns the hyper-parameters (merged into `super().get_config()`)",
    check_module=check_module,
    scope="module",
)
