"""Small AST helpers the lift's steps share: the names a node reads or stores, the statements of one
function (not of the functions nested in it), the bodies down to a statement."""

from __future__ import annotations

import ast
from collections.abc import Iterator

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
STOP = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)  # a new scope
COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.With, ast.AsyncWith, ast.FunctionDef,
             ast.AsyncFunctionDef, ast.ClassDef, ast.Match)


def key_of(node: ast.AST) -> str | None:
    """A value's name: ``x``, or ``self.x`` (TF1 graph code keeps its tensors on self)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return f"self.{node.attr}"
    return None


def walk_local(fn: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function, not of the functions and classes nested in it."""
    stack: list[ast.AST] = list(getattr(fn, "body", []))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, STOP):
            stack.extend(ast.iter_child_nodes(node))


def stored_names(nodes: list[ast.stmt]) -> set[str]:
    return {n.id for stmt in nodes for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def chain_to(scope: FunctionNode, inner: ast.AST) -> list[tuple[list[ast.stmt], int, ast.AST]] | None:
    """The bodies from ``scope`` down to the statement ``inner``: (body, index in it, the body's owner)."""
    def search(body: list[ast.stmt], owner: ast.AST) -> list[tuple[list[ast.stmt], int, ast.AST]] | None:
        for index, stmt in enumerate(body):
            if stmt is inner:
                return [(body, index, owner)]
            if isinstance(stmt, STOP):
                continue
            for field in ("body", "orelse", "finalbody"):
                sub = getattr(stmt, field, None)
                if isinstance(sub, list) and sub and isinstance(sub[0], ast.stmt):
                    found = search(sub, stmt)
                    if found is not None:
                        return [(body, index, owner), *found]
            for handler in getattr(stmt, "handlers", []):
                found = search(handler.body, stmt)
                if found is not None:
                    return [(body, index, owner), *found]
        return None

    found = search(scope.body, scope)
    if found is None:
        return None
    # (body, index, owner): the statements before index in body run first; owner encloses body.
    return [(body, index, owner) for body, index, owner in found]


def keys(node: ast.AST, ctx: type) -> set[str]:
    """Names and ``self.x`` values read (or stored); ``self.method(...)`` calls a method, it reads no value."""
    out: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Call) and isinstance(current.func, ast.Attribute) and key_of(current.func):
            stack.extend([*current.args, *current.keywords])
            continue
        key = key_of(current)
        if key is not None and isinstance(getattr(current, "ctx", None), ctx):
            out.add(key)
            continue
        stack.extend(ast.iter_child_nodes(current))
    return out


def loads(node: ast.AST) -> set[str]:
    return keys(node, ast.Load)


def free_names(statements: list[ast.stmt], returned: ast.expr) -> set[str]:
    """Names read before the lifted code assigns them."""
    defined: set[str] = set()
    free: set[str] = set()
    for stmt in statements:
        value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) else stmt
        free |= loads(value) - defined  # type: ignore[arg-type]
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            free |= {stmt.target.id} - defined
        defined |= keys(stmt, ast.Store)
    return free | (loads(returned) - defined)


def top_bound(node: ast.stmt) -> set[str]:
    """The module-level names a top-level statement binds (not the locals of a function it defines)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    out = set()
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(current.name)
            continue
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store):
            out.add(current.id)
        elif isinstance(current, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name.split(".", 1)[0]) for a in current.names)
        stack.extend(ast.iter_child_nodes(current))
    return out


def method_named(cls: ast.ClassDef, name: str) -> FunctionNode | None:
    """The method ``name`` a class body defines (not one it inherits)."""
    return next((m for m in cls.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name == name),
                None)


def assigned_name(node: ast.AST) -> str | None:
    """``x`` when ``node`` is ``x = value`` (one plain name assigned): the bindings the lift looks values up in."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    return None


def stores(node: ast.AST) -> set[str]:
    """Names and ``self.x`` values a node binds."""
    return keys(node, ast.Store)
