"""Small queries over a loss's dataflow that several rules share."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.dataflow import Flow
from loss_lsp.engine.namespaces import Op
from loss_lsp.engine.values import Val


def library_calls(ctx: LossContext, namespaces: tuple[str, ...] = ("tf", "ops", "K"),
                  live: bool = True) -> Iterator[tuple[Flow, ast.Call, Op]]:
    """Calls of library functions in the loss and the helpers it calls, in source order."""
    for flow in ctx.flow.all_flows():
        for node in flow.nodes(ast.Call, live=live):
            op = flow.op(node)  # type: ignore[arg-type]
            if op is not None and op.namespace in namespaces:
                yield flow, node, op  # type: ignore[misc]


def short(op: Op) -> str:
    return op.name.rsplit(".", 1)[-1]


def arg(node: ast.Call, index: int, *names: str) -> ast.expr | None:
    if len(node.args) > index and not isinstance(node.args[index], ast.Starred):
        return node.args[index]
    for kw in node.keywords:
        if kw.arg in names:
            return kw.value
    return None


def arg_vals(flow: Flow, node: ast.Call) -> list[Val]:
    return [flow.val(a) for a in node.args] + [flow.val(kw.value) for kw in node.keywords]



def naive_guards(flow: Flow) -> dict[int, ast.Call]:
    """``tf.where(c, log(x), 0)``: the risky branch nodes (id) -> the guarding where call.

    Both branches of a where are differentiated, so a guard in the condition does not
    keep the NaN of the unselected branch out of the gradient.
    """
    return flow.cached("naive_guards", _naive_guards)


def _naive_guards(flow: Flow) -> dict[int, ast.Call]:
    out: dict[int, ast.Call] = {}
    for node in flow.nodes(ast.Call):
        op = flow.op(node)  # type: ignore[arg-type]
        if op is None or short(op) != "where" or len(node.args) < 3:  # type: ignore[attr-defined]
            continue
        if not flow.val(node.args[0]).data:  # type: ignore[attr-defined]
            continue
        for branch in node.args[1:3]:  # type: ignore[attr-defined]
            v = flow.val(branch)
            if v.source_op and v.pred:
                out[id(_risky_call(flow, branch))] = node  # type: ignore[assignment]
    return out


def _risky_call(flow: Flow, branch: ast.AST) -> ast.AST:
    """The log/sqrt/division call inside a where branch (through simple wrappers)."""
    for node in ast.walk(branch):
        if isinstance(node, ast.Call):
            op = flow.op(node)
            if op is not None and short(op) in ("log", "sqrt", "divide", "truediv", "log2", "log10"):
                return node
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return node
    return branch


def parents(flow: Flow) -> dict[int, ast.AST]:
    """Child node id -> parent node, for the patterns that look one level up (once per flow)."""
    return flow.cached("parents", _parents)


def _parents(flow: Flow) -> dict[int, ast.AST]:
    out: dict[int, ast.AST] = {}
    for node in flow.walk():
        for child in ast.iter_child_nodes(node):
            out[id(child)] = node
    return out


def clip_call(ctx: LossContext, value: str, flow: Flow | None = None) -> str:
    """``clip(value, eps, 1 - eps)`` in the file's own namespace."""
    eps = ctx.eps(flow)
    backend, ops = ctx.file.backend(), ctx.file.ops()
    if backend:
        return f"{backend}.clip({value}, {eps}, 1.0 - {eps})"
    if ops:
        return f"{ops}.clip({value}, {eps}, 1.0 - {eps})"
    return f"{ctx.file.tf()}.clip_by_value({value}, {eps}, 1.0 - {eps})"


def wrap(text: str) -> str:
    """Parenthesise an expression unless it is a name, call, attribute or literal."""
    stripped = text.strip()
    try:
        node = ast.parse(stripped, mode="eval").body
    except SyntaxError:
        return f"({stripped})"
    if isinstance(node, (ast.Name, ast.Call, ast.Attribute, ast.Constant, ast.Subscript)):
        return stripped
    return f"({stripped})"


def parenthesized(ctx: LossContext, node: ast.AST, flow: Flow) -> bool:
    """Whether the source already has ``(`` ``)`` right around this node."""
    span = ctx.span(node, flow)
    lines = ctx.module.lines
    before = lines[span.start_line][:span.start_col].rstrip()
    after = lines[span.end_line][span.end_col:].lstrip()
    return before.endswith("(") and after.startswith(")") and not before.endswith(("sqrt(", "log("))


def plus_eps(ctx: LossContext, node: ast.AST, flow: Flow) -> str:
    """``node + eps``, parenthesised only where the surrounding source needs it."""
    text = ctx.text(node, flow)
    if parenthesized(ctx, node, flow):
        return f"{text} + {ctx.eps(flow)}"
    return f"({text} + {ctx.eps(flow)})"
