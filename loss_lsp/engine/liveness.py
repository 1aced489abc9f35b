"""Liveness: which statements of a function produce what it returns.

A backward pass over the statements marks those whose results reach a ``return`` (through
assignments, augmented assignments, container mutations such as ``terms.append(x)``, and the
compound statements that enclose a live statement). Rules only report on live expressions, so dead
code and debugging prints stay quiet.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


def names_in(node: ast.AST | None) -> set[str]:
    """Names a node reads; ``self.x`` counts as the name "self.x" (graph code keeps its tensors on self)."""
    if node is None:
        return set()
    out: set[str] = set()
    attribute_bases: set[int] = set()
    for n in ast.walk(node):  # breadth first: an attribute is seen before its base name
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self":
            out.add(f"self.{n.attr}")
            attribute_bases.add(id(n.value))
        elif isinstance(n, ast.Name) and id(n) not in attribute_bases:
            out.add(n.id)
    return out


_MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "assign", "assign_add", "assign_sub"}
_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.Match)


def _statements(body: list[ast.stmt]) -> Iterator[tuple[ast.stmt, ast.stmt | None]]:
    """Every statement of a function body with its enclosing compound statement."""
    stack: list[tuple[list[ast.stmt], ast.stmt | None]] = [(body, None)]
    while stack:
        stmts, parent = stack.pop()
        for stmt in stmts:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            yield stmt, parent
            for attr in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, attr, None)
                if isinstance(inner, list) and isinstance(stmt, _COMPOUND):
                    stack.append((inner, stmt))
            for handler in getattr(stmt, "handlers", []) or []:
                stack.append((handler.body, stmt))
            for case in getattr(stmt, "cases", []) or []:
                stack.append((case.body, stmt))


def _defines(stmt: ast.stmt) -> set[str]:
    targets: list[ast.AST] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        targets = [i.optional_vars for i in stmt.items if i.optional_vars is not None]
    elif (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
          and isinstance(stmt.value.func, ast.Attribute) and stmt.value.func.attr in _MUTATORS):
        targets = [stmt.value.func.value]  # terms.append(x) defines terms; tf.print(x) defines nothing
        if stmt.value.func.attr.startswith("assign") and _self_attribute(stmt.value.func.value):
            targets = []  # self.tracker.assign_add(x): a metric's state, not a value the loss reads back
    out: set[str] = set()
    for target in targets:
        while isinstance(target, (ast.Subscript, ast.Attribute, ast.Starred)) and not _self_attribute(target):
            target = target.value
        out |= names_in(target)
    return out


def _self_attribute(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def _uses(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        extra = set()
        for target in getattr(stmt, "targets", [getattr(stmt, "target", None)]):
            if isinstance(target, ast.Subscript):
                extra |= names_in(target)
        return names_in(stmt.value) | extra
    if isinstance(stmt, ast.AugAssign):
        return names_in(stmt.value) | names_in(stmt.target)
    if isinstance(stmt, (ast.Return, ast.Expr)):
        return names_in(stmt.value)
    if isinstance(stmt, (ast.If, ast.While)):
        return names_in(stmt.test)
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return names_in(stmt.iter)
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return set().union(*(names_in(i.context_expr) for i in stmt.items))
    if isinstance(stmt, ast.Match):
        return names_in(stmt.subject)
    return set()


def live_statements(fn: FunctionNode, roots: list[tuple[ast.AST, set[str]]] | None = None) -> set[int]:
    """Ids of the statements of ``fn`` whose results reach a return (a lambda is its own statement).

    With ``roots`` (statement, names it differentiates), what reaches those names instead: the
    statements that feed a ``tape.gradient`` target, not what the training step returns.
    """
    if isinstance(fn, ast.Lambda):
        return {id(fn)}
    pairs = list(_statements(fn.body))
    live: set[int] = {id(stmt) for stmt, _names in roots or ()}
    live_names: set[str] = set().union(*(names for _stmt, names in roots or ()))
    returns_live = roots is None
    changed = True
    while changed:
        changed = False
        for stmt, parent in pairs:
            if id(stmt) in live:
                if parent is not None and id(parent) not in live:
                    live.add(id(parent))
                    live_names |= _uses(parent)
                    changed = True
                continue
            if (returns_live and isinstance(stmt, ast.Return)) or (_defines(stmt) & live_names):
                live.add(id(stmt))
                live_names |= _uses(stmt)
                changed = True
    return live

