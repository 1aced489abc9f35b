"""LL402: a loss that returns a tuple, a list, a dict, None or a Python number instead of one loss tensor."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import replace

from loss_lsp.engine.context import LossContext, char_col, make_finding
from loss_lsp.engine.findings import Finding, Span
from loss_lsp.rules.rule import Rule

_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_FAILS = "fit fails with \"ValueError: None values not supported\""


def check(ctx: LossContext) -> Iterator[Finding]:
    fn = ctx.loss.fn
    if isinstance(fn, ast.Lambda):
        yield from _check_value(ctx, fn.body)
        return
    if ("yield" in ctx.loss.block.text and _is_generator(fn)) or _overrides_dunder_call(ctx):
        return
    for ret in _returns(fn.body):
        if ret.value is None:
            yield ctx.finding(RULE, ret, f"bare `return` in a loss: Keras receives None as the loss value and {_FAILS}")
        else:
            yield from _check_value(ctx, ret.value)
    if _terminates(fn.body) or (_is_stub(fn) and ctx.loss.call_path != "compile"):
        return
    has_value = any(r.value is not None for r in _returns(fn.body))
    message = (f"the loss can reach the end of the function without `return`: on that path it returns None and "
               f"{_FAILS}" if has_value else f"the loss has no `return`: it returns None and {_FAILS}")
    yield make_finding(ctx.file, RULE, _header(ctx, fn), message, None, ctx.loss.name, ())


def _check_value(ctx: LossContext, value: ast.expr) -> Iterator[Finding]:
    if isinstance(value, ast.Constant) and value.value is None:
        yield ctx.finding(RULE, value, f"the loss returns None: {_FAILS}")
    elif isinstance(value, (ast.Tuple, ast.List)) and value.elts:
        if ctx.loss.call_path == "direct":
            return  # a custom training loop unpacks what it asked for
        kind = "tuple" if isinstance(value, ast.Tuple) else "list"
        first = value.elts[0]
        fix = None
        if not isinstance(first, ast.Starred):
            fix = ctx.replace("Return the first element only", value, ctx.text(first), "unsafe")
        yield ctx.finding(
            RULE, value,
            f"the loss returns a {kind} of {len(value.elts)} values: Keras 3 turns it into one tensor and "
            "averages the parts (measured: (2.5, 1.5) is trained and reported as 2.0), or fails when their "
            "shapes differ; return one loss tensor (add weighted terms explicitly, log the rest as metrics)",
            fix)
    elif isinstance(value, ast.Dict) and ctx.loss.call_path == "compile":
        yield ctx.finding(
            RULE, value,
            "the loss returns a dict: the first batch fails with TypeError (measured on Keras 3.15 and tf_keras "
            "2.21, through `compile`); return one loss tensor and log the other values as metrics")
    elif _python_number(value):
        finding = ctx.finding(
            RULE, value,
            f"the loss returns the Python number `{ctx.text(value)}`: a constant carries no gradient, so the "
            "batches that take this path train nothing (and if every path does, fit fails with \"No gradients "
            "provided\"); return a tensor computed from y_pred, e.g. `0.0 * tf.reduce_sum(y_pred)`")
        yield replace(finding, severity=ctx.settings.severity_for(RULE.code, "warning"))


def _overrides_dunder_call(ctx: LossContext) -> bool:
    """A Loss class with its own ``__call__`` decides itself what ``call`` returns (Keras's CompileLoss)."""
    cls = ctx.loss.cls
    return cls is not None and any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "__call__"
                                   for n in cls.body)


def _python_number(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return True  # (no float(): a 400-digit literal would overflow)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _python_number(node.operand)
    return False


def _returns(body: list[ast.stmt]) -> Iterator[ast.Return]:
    """The function's own return statements (not those of nested functions or classes)."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return):
            yield node
        elif isinstance(node, ast.stmt) and not isinstance(node, _NESTED):
            stack.extend(ast.iter_child_nodes(node))
        elif isinstance(node, (ast.excepthandler, ast.match_case)):
            stack.extend(node.body)


def _is_generator(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(node, _NESTED):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _is_stub(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """``pass`` / ``...`` / docstring only: an abstract method, not a loss someone trains with."""
    for stmt in fn.body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue
        return False
    return True


def _terminates(body: list[ast.stmt]) -> bool:
    """Control cannot fall off the end of these statements."""
    return any(_stmt_terminates(stmt) for stmt in body)


def _stmt_terminates(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.Return, ast.Raise)):
        return True
    if isinstance(stmt, ast.If):
        return _terminates(stmt.body) and _terminates(stmt.orelse)
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return _terminates(stmt.body)
    if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
        if _terminates(stmt.finalbody):  # type: ignore[attr-defined]
            return True
        handlers_end = all(_terminates(h.body) for h in stmt.handlers)  # type: ignore[attr-defined]
        return handlers_end and (_terminates(stmt.body) or _terminates(stmt.orelse))  # type: ignore[attr-defined]
    if isinstance(stmt, ast.While):
        infinite = isinstance(stmt.test, ast.Constant) and bool(stmt.test.value)
        return infinite and not any(isinstance(n, ast.Break) for n in ast.walk(stmt))
    if isinstance(stmt, ast.Match):
        last = stmt.cases[-1].pattern if stmt.cases else None
        wildcard = isinstance(last, ast.MatchAs) and last.pattern is None
        return wildcard and all(_terminates(case.body) for case in stmt.cases)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in ("exit", "_exit", "abort")
    return False


def _header(ctx: LossContext, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Span:
    """``def name`` of the loss: where a missing return is reported."""
    line = ctx.loss.block.start + fn.lineno - 1
    text = ctx.module.lines[line] if line < len(ctx.module.lines) else ""
    start = char_col(text, fn.col_offset)
    at = text.find(fn.name, start)
    return Span(line, start, line, at + len(fn.name) if at >= 0 else len(text))


RULE = Rule(
    code="LL402",
    name="bad-return",
    severity="error",
    summary="A loss that returns a tuple, a list, a dict, None or a Python number instead of one loss tensor",
    why=(
        "Keras expects one tensor from a loss. A tuple such as `(mse, mae)` is not rejected: Keras 3 converts "
        "it to a tensor and averages it, so training minimises `(mse + mae) / 2` and the progress bar reports "
        "that mean (measured: a loss returning `(2.5, 1.5)` reports and trains on 2.0). A loss that returns "
        "None (bare `return`, no `return`, or a path that falls off the end) makes fit fail. A Python number "
        "is a constant: it has no gradient, so the batches that take that path teach the model nothing."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def mse_and_mae(y_true, y_pred):\n"
        "    mse = tf.reduce_mean(tf.square(y_true - y_pred))\n"
        "    mae = tf.reduce_mean(tf.abs(y_true - y_pred))\n"
        "    return mse, mae\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def mse_and_mae(y_true, y_pred):\n"
        "    mse = tf.reduce_mean(tf.square(y_true - y_pred))\n"
        "    mae = tf.reduce_mean(tf.abs(y_true - y_pred))\n"
        "    return mse\n"
    ),
    fix_title=("Return the loss tensor only (the quick fix keeps the first element of a tuple; combine terms "
               "explicitly, e.g. `mse + 0.1 * mae`, and track the others as metrics)"),
    check=check,
)
