"""LL403: a tf.GradientTape inside a loss (wasted when its gradients are unused, TF-only when used)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import replace

from loss_lsp.engine.context import LossContext, char_col
from loss_lsp.engine.dataflow import Flow
from loss_lsp.engine.findings import Edit, Finding, Fix, Span
from loss_lsp.rules.rule import Rule

_GRADIENT_METHODS = {"gradient", "jacobian", "batch_jacobian"}
_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def check(ctx: LossContext) -> Iterator[Finding]:
    fn = ctx.loss.fn
    if isinstance(fn, ast.Lambda) or "GradientTape" not in ctx.loss.block.text:
        return
    flow = ctx.flow
    for stmt, parent_body in _own_statements(fn.body):
        if not isinstance(stmt, (ast.With, ast.AsyncWith)):
            continue
        for item in stmt.items:
            call = item.context_expr
            if not (isinstance(call, ast.Call) and _is_tape(ctx, flow, call)):
                continue
            tape = item.optional_vars.id if isinstance(item.optional_vars, ast.Name) else None
            gradient_calls = _gradient_calls(fn, tape)
            live = _live_statements(ctx, fn)
            if any(_inside(c, stmt) for stmt in live for c in gradient_calls):
                finding = ctx.finding(
                    RULE, call,
                    f"`{ctx.text(call.func)}` inside a loss, and its gradients reach the returned value (a "
                    "gradient penalty): this works on the TensorFlow backend only; with Keras's JAX or PyTorch "
                    "backend the loss cannot run (compute the penalty in a custom `train_step` to stay portable)")
                yield replace(finding, severity=ctx.settings.severity_for(RULE.code, "info"))
                continue
            fix = _removal(ctx, fn, stmt, tape, gradient_calls, live) if len(stmt.items) == 1 else None
            yield ctx.finding(
                RULE, call,
                f"`{ctx.text(call.func)}` inside a loss whose gradients never reach the returned value: they are "
                "computed and thrown away on every step (fit takes its own gradients of the loss); the tape only "
                "costs time and memory", fix)


def _is_tape(ctx: LossContext, flow: Flow, call: ast.Call) -> bool:
    op = ctx.module.op(call.func, flow.local_imports)
    return op is not None and op.namespace == "tf" and op.name.rsplit(".", 1)[-1] == "GradientTape"


def _own_statements(body: list[ast.stmt]) -> Iterator[tuple[ast.stmt, list[ast.stmt]]]:
    """Every statement of the function with the statement list that holds it (nested defs excluded)."""
    stack: list[list[ast.stmt]] = [body]
    while stack:
        stmts = stack.pop()
        for stmt in stmts:
            if isinstance(stmt, _NESTED):
                continue
            yield stmt, stmts
            for attr in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, attr, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                    stack.append(inner)
            for handler in getattr(stmt, "handlers", []) or []:
                stack.append(handler.body)
            for case in getattr(stmt, "cases", []) or []:
                stack.append(case.body)


def _gradient_calls(fn: ast.FunctionDef | ast.AsyncFunctionDef, tape: str | None) -> list[ast.Call]:
    if tape is None:
        return []
    return [node for node in ast.walk(fn) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in _GRADIENT_METHODS and isinstance(node.func.value, ast.Name)
            and node.func.value.id == tape]


def _live_statements(ctx: LossContext, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    """The simple statements whose results reach a ``return``.

    Computed here rather than taken from the dataflow, because a call such as
    ``tf.print(x)`` must not count as redefining ``tf`` (and so as live).
    """
    modules = set(ctx.module.imports) | set(ctx.flow.local_imports)
    statements = [s for s, _ in _own_statements(fn.body)]
    live: list[ast.stmt] = [s for s in statements if isinstance(s, ast.Return)]
    names: set[str] = set().union(*(_names_in(s) for s in live)) if live else set()
    changed = True
    while changed:
        changed = False
        for stmt in statements:
            if any(stmt is s for s in live):
                continue
            defined = _defined_by(stmt)
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                func = stmt.value.func
                if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                        and func.value.id not in modules):
                    defined = {func.value.id}  # terms.append(x) changes terms
            if defined & names:
                live.append(stmt)
                value = getattr(stmt, "value", None)
                names |= _names_in(value) if value is not None else set()
                changed = True
    return live


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _defined_by(stmt: ast.stmt) -> set[str]:
    targets: list[ast.AST] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    return set().union(*(_names_in(t) for t in targets)) if targets else set()


def _removal(ctx: LossContext, fn: ast.FunctionDef | ast.AsyncFunctionDef, with_stmt: ast.With | ast.AsyncWith,
             tape: str | None, gradient_calls: list[ast.Call], live: list[ast.stmt]) -> Fix | None:
    """Unwrap the with-statement and delete the statements that only served the tape.

    Deleted: ``tape.watch(...)``, the (dead) statements that take the tape's gradients, and
    the dead statements that use what those defined. Anything else still naming the tape
    means the tape has another use: no fix then.
    """
    live_ids = {id(s) for s in live}
    statements = list(_own_statements(fn.body))
    simple = {id(s) for s, _ in statements if not isinstance(s, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With,
                                                                   ast.AsyncWith, ast.Try, ast.Match))}
    doomed: set[int] = set()
    doomed_names: set[str] = {tape} if tape else set()
    side_effects = False
    changed = True
    while changed:
        changed = False
        for stmt, _ in statements:
            if id(stmt) in doomed or stmt is with_stmt:
                continue
            if id(stmt) in simple:
                uses = _names_in(stmt)
                if not (uses & doomed_names):
                    continue
                if id(stmt) in live_ids:
                    return None
                watch = (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
                         and isinstance(stmt.value.func, ast.Attribute) and stmt.value.func.attr == "watch")
                grads = any(c in gradient_calls for c in ast.walk(stmt))
                side_effects |= isinstance(stmt, ast.Expr) and not watch
                if not (watch or grads or isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr))):
                    return None
                doomed.add(id(stmt))
                doomed_names |= _defined_by(stmt)
                changed = True
            elif _header_names(stmt) & doomed_names:
                return None  # the tape or its gradients steer a compound statement
    # No statement list may end up empty (the with's own body moves into its parent's).
    lists = {id(body): body for _, body in statements if body is not with_stmt.body}
    for body in lists.values():
        remaining = [s for s in body if id(s) not in doomed
                     and not (s is with_stmt and all(id(b) in doomed for b in with_stmt.body))]
        if not remaining:
            return None
    edits = _unwrap_edit(ctx, with_stmt, doomed)
    if edits is None:
        return None
    for stmt, _ in statements:
        if id(stmt) in doomed and not _inside(stmt, with_stmt):
            edit = _delete_lines(ctx, stmt)
            if edit is None:
                return None
            edits.append(edit)
    return Fix("Remove the unused GradientTape", "unsafe" if side_effects else "safe", tuple(edits))


def _header_names(stmt: ast.stmt) -> set[str]:
    """Names a compound statement's own header reads (its test, iterable or context)."""
    if isinstance(stmt, (ast.If, ast.While)):
        return _names_in(stmt.test)
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return _names_in(stmt.iter) | _names_in(stmt.target)
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return set().union(*(_names_in(i.context_expr) for i in stmt.items))
    if isinstance(stmt, ast.Match):
        return _names_in(stmt.subject)
    return set()


def _inside(stmt: ast.stmt, outer: ast.stmt) -> bool:
    return any(node is stmt for node in ast.walk(outer))


def _line_range(ctx: LossContext, stmt: ast.stmt) -> tuple[int, int] | None:
    """File lines of a statement that sits alone on its lines (else None)."""
    lines = ctx.module.lines
    first = ctx.loss.block.start + stmt.lineno - 1
    last = ctx.loss.block.start + (stmt.end_lineno or stmt.lineno) - 1
    head = lines[first][:char_col(lines[first], stmt.col_offset)]
    tail = lines[last][char_col(lines[last], stmt.end_col_offset or 0):].strip()
    if head.strip() or (tail and not tail.startswith("#")):
        return None
    return first, last


def _delete_lines(ctx: LossContext, stmt: ast.stmt) -> Edit | None:
    rng = _line_range(ctx, stmt)
    if rng is None:
        return None
    return Edit(Span(rng[0], 0, rng[1] + 1, 0), "")


def _unwrap_edit(ctx: LossContext, with_stmt: ast.With | ast.AsyncWith, doomed: set[int]) -> list[Edit] | None:
    """The with-statement replaced by its body, dedented one level, minus the doomed statements."""
    lines = ctx.module.lines
    whole = _line_range(ctx, with_stmt)
    if whole is None or not with_stmt.body:
        return None
    first, last = whole
    body_first = ctx.loss.block.start + with_stmt.body[0].lineno - 1
    if body_first == first:
        return None  # `with ...: stmt` on one line
    drop: set[int] = set()
    for stmt in with_stmt.body:
        if id(stmt) in doomed:
            rng = _line_range(ctx, stmt)
            if rng is None:
                return None
            drop |= set(range(rng[0], rng[1] + 1))
    outer = char_col(lines[first], with_stmt.col_offset)
    inner = char_col(lines[body_first], with_stmt.body[0].col_offset)
    depth = inner - outer
    header_last = ctx.loss.block.start + max((i.optional_vars or i.context_expr).end_lineno or with_stmt.lineno
                                             for i in with_stmt.items) - 1
    kept: list[str] = []
    for index in range(header_last + 1, last + 1):  # comment lines above the first statement move too
        if index in drop:
            continue
        line = lines[index]
        if not line.strip():
            kept.append("")
        elif line[:depth].strip():
            return None  # a line that is not indented with the body (a multi-line string)
        else:
            kept.append(line[depth:])
    while kept and not kept[-1]:
        kept.pop()
    while kept and not kept[0]:
        kept.pop(0)
    if not kept:
        return [Edit(Span(first, 0, last + 1, 0), "")]
    return [Edit(Span(first, 0, last, len(lines[last])), "\n".join(kept))]


RULE = Rule(
    code="LL403",
    name="tape-in-loss",
    severity="warning",
    summary="`tf.GradientTape` inside a loss: wasted when its gradients are unused, TensorFlow-only when used",
    why=(
        "`fit` differentiates the value a loss returns; it does not look at tapes the loss opens itself. "
        "Gradients a loss computes and does not put into its return value are thrown away on every step, "
        "at the cost of a second backward pass. When they *are* part of the value (a gradient penalty), the "
        "loss trains correctly on the TensorFlow backend (measured on Keras 3.15), but under Keras's JAX or "
        "PyTorch backend y_pred is not a TensorFlow tensor and a TensorFlow tape cannot differentiate it, so "
        "the model cannot switch backend: that case is reported as information."
    ),
    example=(
        "import tensorflow as tf\n\n"
        "def l1_loss(y_true, y_pred):\n"
        "    with tf.GradientTape() as tape:\n"
        "        tape.watch(y_pred)\n"
        "        loss = tf.reduce_mean(tf.abs(y_true - y_pred))\n"
        "    grads = tape.gradient(loss, y_pred)\n"
        "    return loss\n"
    ),
    fixed=(
        "import tensorflow as tf\n\n"
        "def l1_loss(y_true, y_pred):\n"
        "    loss = tf.reduce_mean(tf.abs(y_true - y_pred))\n"
        "    return loss\n"
    ),
    fix_title="Remove the unused tape (its body stays, `tape.watch` and the unused `tape.gradient` go)",
    check=check,
)
