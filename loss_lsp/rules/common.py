"""Small queries over a loss's dataflow that several rules share."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.dataflow import Flow, assigns, param_default
from loss_lsp.engine.namespaces import Op
from loss_lsp.engine.values import Val


WHERE_OPS = {"where", "where_v2", "switch", "select", "select_v2"}  # element-wise selections


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
    """``tf.where(c, log(x), 0)``: the risky nodes (id) inside a where branch -> the guarding where call.

    Both branches of a where are differentiated, so a guard in the condition does not
    keep the NaN of the unselected branch out of the gradient. The risky op may sit anywhere
    inside the branch (``where(c, log(a) - log(b), 0)``). A double where, whose operand was
    itself substituted under the same condition (``safe = where(c, x, 1)``), is the fix:
    those go to ``double_where(flow)`` instead.
    """
    return _where_guards(flow)[0]


def double_where(flow: Flow) -> tuple[set[int], set[int]]:
    """(risky nodes protected by a double where, the where calls forming those guards) of one flow."""
    return _where_guards(flow)[1], _where_guards(flow)[2]


def guarded(flow: Flow) -> set[int]:
    """Risky nodes a rule for log/sqrt/division should not report itself: LL206 owns naive guards,
    and double wheres are safe."""
    return set(naive_guards(flow)) | double_where(flow)[0]


def _where_guards(flow: Flow) -> tuple[dict[int, ast.Call], set[int], set[int]]:
    """(naive guards, risky nodes behind a double where, the where calls of those guards), once per flow."""
    return flow.cached("where_guards", _find_where_guards)


def _find_where_guards(flow: Flow) -> tuple[dict[int, ast.Call], set[int], set[int]]:
    naive: dict[int, ast.Call] = {}
    safe: set[int] = set()
    inner: set[int] = set()
    for node in flow.nodes(ast.Call):
        if not _is_where(flow, node) or len(node.args) < 3:  # type: ignore[attr-defined]
            continue
        cond = node.args[0]  # type: ignore[attr-defined]
        if not flow.val(cond).data:
            continue
        for branch in node.args[1:3]:  # type: ignore[attr-defined]
            for sub in ast.walk(branch):
                if not isinstance(sub, (ast.Call, ast.BinOp)) or not _risky(flow, sub):
                    continue
                operand = _operand(sub)
                substitution = _substitution(flow, operand, cond) if operand is not None else None
                if substitution is not None:
                    safe.add(id(sub))
                    inner |= {id(substitution), id(node)}
                elif flow.val(sub).pred and flow.val(sub).source_op and flow.val(cond).thresholds:
                    naive[id(sub)] = node  # type: ignore[assignment]  # the condition tests y_pred: a guard
    return naive, safe, inner


def _is_where(flow: Flow, node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    op = flow.op(node)
    return op is not None and short(op) in WHERE_OPS


def _risky(flow: Flow, node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, ast.Div)
    op = flow.op(node)  # type: ignore[arg-type]
    return op is not None and short(op) in ("log", "sqrt", "divide", "truediv", "log2", "log10")


def _operand(node: ast.AST) -> ast.AST | None:
    """The value that must stay away from 0: a log/sqrt's argument, a division's denominator."""
    if isinstance(node, ast.BinOp):
        return node.right
    if isinstance(node, ast.Call):
        if len(node.args) >= 2 and isinstance(node.func, ast.Attribute) and node.func.attr in ("divide", "truediv"):
            return node.args[1]
        return node.args[0] if node.args else None
    return None


def _substitution(flow: Flow, operand: ast.AST, cond: ast.AST) -> ast.Call | None:
    """``where(c, x, <positive>)`` under the outer condition ``c``: the operand can no longer be 0."""
    candidates: list[ast.AST] = [operand]
    if isinstance(operand, ast.Name):
        candidates += [n.value for n in flow.walk() if isinstance(n, ast.Assign)
                       and any(isinstance(t, ast.Name) and t.id == operand.id for t in n.targets)]
    for value in candidates:
        if _is_where(flow, value) and len(value.args) >= 3:  # type: ignore[attr-defined]
            inner_cond, kept, fallback = value.args[:3]  # type: ignore[attr-defined]
            if _same_condition(flow, inner_cond, cond) and flow.val(fallback).positive and not flow.val(fallback).pred:
                return value  # type: ignore[return-value]
    return None


def _same_condition(flow: Flow, a: ast.AST, b: ast.AST) -> bool:
    return _condition_text(flow, a) == _condition_text(flow, b)


def _condition_text(flow: Flow, node: ast.AST) -> str:
    """A condition's expression, through one assignment (``ok = x > 0``)."""
    if isinstance(node, ast.Name):
        values = [n.value for n in flow.walk() if isinstance(n, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets)]
        if len(values) == 1:
            return ast.dump(values[0])
    return ast.dump(node)


def positive_by_where(flow: Flow, node: ast.AST) -> bool:
    """``where(x > 0, x, 1.0)`` (the condition or the whole where possibly named first): positive wherever
    it is used, so a log/sqrt/division of it is safe."""
    value = assigned_value(flow, node)
    if not _is_where(flow, value) or len(value.args) < 3:  # type: ignore[attr-defined]
        return False
    cond, kept, fallback = value.args[:3]  # type: ignore[attr-defined]
    cond = assigned_value(flow, cond)
    if not (isinstance(cond, ast.Compare) and len(cond.ops) == 1 and isinstance(cond.ops[0], ast.Gt)):
        return False
    bound = constant_number(flow, cond.comparators[0])
    kept_texts = {ast.dump(kept), ast.dump(assigned_value(flow, kept))}
    return (bound is not None and bound >= 0 and ast.dump(cond.left) in kept_texts
            and flow.val(fallback).positive and not flow.val(fallback).pred)


def zero_patched(flow: Flow, node: ast.AST) -> bool:
    """``x + cast(x <= 0) * eps`` / ``n + cast(equal(n, 0))``: the zeros of ``x`` are patched, so the sum is
    never 0 where ``x`` is non-negative (the pairwise-distance and count-normaliser idioms)."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)):
        return False
    for base, patch in ((node.left, node.right), (node.right, node.left)):
        if not flow.val(base).nonneg:
            continue
        indicator = patch
        if isinstance(patch, ast.BinOp) and isinstance(patch.op, ast.Mult):
            factor = patch.right if _indicator(flow, patch.left, base) else patch.left
            if not flow.val(factor).positive or flow.val(factor).data:
                continue
            indicator = patch.left if factor is patch.right else patch.right
        if _indicator(flow, indicator, base):
            return True
    return False


def _indicator(flow: Flow, node: ast.AST, base: ast.AST) -> bool:
    """A cast of ``base <= 0`` / ``base == 0`` (directly or through one assignment)."""
    node = assigned_value(flow, node)
    if isinstance(node, ast.Call) and node.args:
        op = flow.op(node)
        if op is None or short(op) != "cast":
            return False
        test = assigned_value(flow, node.args[0])
    else:
        return False
    base_text = ast.dump(assigned_value(flow, base)), ast.dump(base)
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.LtE, ast.Eq)):
        return ast.dump(test.left) in base_text and constant_number(flow, test.comparators[0]) == 0
    if isinstance(test, ast.Call) and len(test.args) == 2:
        op = flow.op(test)
        if op is not None and short(op) in ("less_equal", "equal"):
            return ast.dump(test.args[0]) in base_text and constant_number(flow, test.args[1]) == 0
    return False


def assigned_value(flow: Flow, node: ast.AST) -> ast.AST:
    if isinstance(node, ast.Name):
        values = [n.value for n in flow.walk() if isinstance(n, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets)]
        if len(values) == 1:
            return values[0]
    return node


def constant_number(flow: Flow, node: ast.AST, depth: int = 0) -> float | None:
    """The number an expression always has: literals, arithmetic on them, a parameter's default
    (the loss's own or its factory's: ``gamma=4/3``), a module constant. None when not known."""
    if depth > 6:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        try:
            return float(node.value)
        except OverflowError:
            return None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = constant_number(flow, node.operand, depth + 1)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.BinOp):
        left, right = constant_number(flow, node.left, depth + 1), constant_number(flow, node.right, depth + 1)
        if left is None or right is None:
            return None
        try:
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                return left / right
        except ZeroDivisionError:
            return None
        return None
    if isinstance(node, ast.Name):
        if assigns(flow.fn, node.id):
            return None
        for fn in (flow.fn, *flow.enclosing):
            default = param_default(fn, node.id)
            if default is not None:
                return constant_number(flow, default, depth + 1)
            if assigns(fn, node.id):
                return None
        if node.id in flow.module.assignments:
            return constant_number(flow, flow.module.assignments[node.id][0], depth + 1)
    return None


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
