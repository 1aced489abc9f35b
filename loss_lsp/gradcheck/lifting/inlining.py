"""What the lift follows beyond one straight-line function: calls of the class's own methods and of module
functions whose bodies are straight-line, inlined with their arguments (as the engine's helper analysis
follows helpers); inside them, ``if`` statements the program decides (``branches``) become their branch.

A call the lift cannot enter (recursion, *args, a generator, an override in a subclass, several returns)
raises ``LiftError`` saying why. Pure Python.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from loss_lsp.engine.module import ModuleInfo, dotted
from loss_lsp.gradcheck.lifting.branches import BranchDecider
from loss_lsp.gradcheck.lifting.lifted import Inlined, LiftError
from loss_lsp.gradcheck.lifting.syntax import STOP, FunctionNode, key_of, method_named, stored_names, walk_local

_NOT_INLINED = {"call", "__call__", "__init__", "build"}  # self(x) is the model; the rest build it
_MAX_INLINED = 24  # calls inlined into one lifted loss (a guard against deep helper chains)


@dataclass
class Context(BranchDecider):
    """What the lift knows about the code around the computation."""

    module: ModuleInfo
    cls: ast.ClassDef | None
    start: int  # 0-based first line of the unit's block
    scopes: list[FunctionNode]
    local_names: set[str]
    inlined: list[Inlined] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # a callee's renamed local -> how the user wrote it

    def line(self, node: ast.AST) -> int:
        return self.start + getattr(node, "lineno", 1) - 1

    def source_line(self, node: ast.AST) -> int:
        """The 0-based line the user wrote ``node`` on (an inlined statement runs on its call's line)."""
        return getattr(node, "_loss_lsp_line", None) or self.line(node)

    def shown(self, name: str) -> str:
        """How the user wrote a name of the lifted code: ```td_loss` in `self._loss```."""
        return self.origins.get(name, f"`{name}`")

    # --- inlining calls -----------------------------------------------------------------------------
    def callee(self, call: ast.Call, follow_functions: bool) -> tuple[str, FunctionNode, int, bool] | None:
        """(label, definition, its block's first line, is a method) of a call the lift inlines."""
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self" \
                and self.cls is not None and func.attr not in _NOT_INLINED:
            method = method_named(self.cls, func.attr)
            override = next((f"`{cls.name}` (line {start + cls.lineno})" for cls, start in self.subclasses()
                             if method_named(cls, func.attr) is not None), None)
            if method is not None and override is not None:
                raise LiftError(f"the loss calls `self.{func.attr}(...)`, which the subclass {override} overrides: "
                                "which one runs depends on the object, a call the lift does not enter")
            if method is not None and not any(dotted(d) in ("property", "staticmethod", "classmethod")
                                              for d in method.decorator_list):
                return f"self.{func.attr}", method, self.start, True
            return None
        if follow_functions and isinstance(func, ast.Name) and func.id in self.module.functions:
            fn, block = self.module.functions[func.id]
            return func.id, fn, block.start, False
        return None

    def expand(self, value: ast.expr, at: ast.stmt, follow_functions: Callable[[ast.Call], bool],
               chain: tuple[str, ...] = ()) -> tuple[list[ast.stmt], ast.expr, tuple[str, ...]] | None:
        """``value`` with each call the lift inlines replaced by the callee's returned value, and the
        callee's statements that compute it (on ``at``'s line), and the callees' labels (the chain a
        recursion is caught by); None when no call is inlined."""
        statements: list[ast.stmt] = []
        labels: list[str] = []
        expander = self

        class Replace(ast.NodeTransformer):
            def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
                return node

            def visit_Call(self, node: ast.Call) -> ast.AST:
                found = expander.callee(node, follow_functions(node))
                if found is None:
                    return self.generic_visit(node)
                label, fn, block_start, is_method = found
                if label in chain:
                    raise LiftError(f"`{label}` calls itself (line {expander.line(at) + 1}): the lift does not "
                                    "enter recursion")
                try:
                    body, returned = expander._inline(node, label, fn, block_start, is_method, at, chain)
                except LiftError:
                    if is_method:
                        raise
                    return self.generic_visit(node)  # a module function stays a call (the slicer copies it)
                statements.extend(body)
                labels.append(label)
                return returned

        new = Replace().visit(copy.deepcopy(value))
        if not labels:
            return None
        return statements, new, (*chain, *labels)  # type: ignore[return-value]

    def _inline(self, call: ast.Call, label: str, fn: FunctionNode, block_start: int, is_method: bool,
                at: ast.stmt, chain: tuple[str, ...]) -> tuple[list[ast.stmt], ast.expr]:
        where = f"the loss calls `{label}(...)` (line {self.line(at) + 1})"
        if len(self.inlined) >= _MAX_INLINED:
            raise LiftError(f"{where}: more than {_MAX_INLINED} calls to follow, a call the lift does not enter")
        bindings = self._arguments(call, fn, is_method, where)
        body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        stored = stored_names(body)
        if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in walk_local(fn)):
            raise LiftError(f"{where}, a generator: a call the lift does not enter")
        nested = next((n for n in walk_local(fn) if isinstance(n, STOP[:3])), None)
        if nested is not None:
            raise LiftError(f"{where}, which defines `{nested.name}` inside it: a call the lift "  # type: ignore[attr-defined]
                            "does not enter")
        free = {n.id for s in body for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        captured = sorted((free - stored - set(bindings)) & self.local_names)
        if captured:
            raise LiftError(f"{where}, which reads the global `{captured[0]}` while the calling code has a local of "
                            "that name: a call the lift does not enter")
        base = fn.name.strip("_") or "fn"
        renames: dict[str, ast.expr] = {}
        prologue: list[ast.stmt] = []
        for name in sorted(stored | set(bindings)):
            fresh = self._fresh(f"{base}_{name}")
            argument = bindings.get(name)
            if argument is not None and name not in stored and (key_of(argument) or isinstance(argument, ast.Constant)):
                renames[name] = argument  # a name or constant: used as it is
                continue
            renames[name] = ast.Name(id=fresh, ctx=ast.Load())
            self.origins[fresh] = f"`{name}` in `{label}`"
            if argument is not None:
                prologue.append(ast.Assign(targets=[ast.Name(id=fresh, ctx=ast.Store())], value=argument))
        renamed = [_Substitute(renames).visit(copy.deepcopy(s)) for s in body]
        renamed = self.straight(renamed, where, block_start)
        inner = any(isinstance(n, ast.Return) for n in walk_local(ast.Module(body=renamed[:-1], type_ignores=[])))
        if not renamed or not isinstance(renamed[-1], ast.Return) or renamed[-1].value is None or inner:
            raise LiftError(f"{where}, which does not end in its only `return`: a call the lift does not enter")
        statements = prologue + renamed[:-1]
        for stmt in statements:  # the callee's statements run where it is called
            for node in ast.walk(stmt):
                if isinstance(node, (ast.stmt, ast.expr)):
                    if hasattr(node, "lineno"):
                        node._loss_lsp_line = block_start + node.lineno - 1  # type: ignore[attr-defined]
                    node.lineno, node.end_lineno = at.lineno, at.end_lineno
                    node.col_offset, node.end_col_offset = getattr(node, "col_offset", 0), getattr(
                        node, "end_col_offset", 0)
            stmt._loss_lsp_chain = (*chain, label)  # type: ignore[attr-defined]
        self.local_names |= stored_names(statements)
        first = block_start + min([fn.lineno, *(d.lineno for d in fn.decorator_list)]) - 1
        self.inlined.append(Inlined(label, first, block_start + (fn.end_lineno or fn.lineno) - 1))
        returned = renamed[-1].value
        assert returned is not None
        return statements, returned

    def _arguments(self, call: ast.Call, fn: FunctionNode, is_method: bool, where: str) -> dict[str, ast.expr]:
        args = fn.args
        if args.vararg or args.kwarg or any(isinstance(a, ast.Starred) for a in call.args) \
                or any(k.arg is None for k in call.keywords):
            raise LiftError(f"{where}, which takes *args or **kwargs: a call the lift does not enter")
        positional = args.posonlyargs + args.args
        if is_method:
            positional = positional[1:]
        if len(call.args) > len(positional):
            raise LiftError(f"{where} with more arguments than it takes: a call the lift does not enter")
        bound = {p.arg: a for p, a in zip(positional, call.args)}
        bound.update({k.arg: k.value for k in call.keywords if k.arg})
        defaults = dict(zip([p.arg for p in positional][len(positional) - len(args.defaults):], args.defaults))
        defaults.update({p.arg: d for p, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
        for param in [p.arg for p in positional + args.kwonlyargs]:
            if param not in bound:
                if param not in defaults:
                    raise LiftError(f"{where} without its argument `{param}`: a call the lift does not enter")
                bound[param] = copy.deepcopy(defaults[param])
        return bound

    def straight(self, body: list[ast.stmt], where: str, start: int | None = None) -> list[ast.stmt]:
        """The callee's body with decided ``if``s replaced by their branch and ``with`` blocks opened, up to
        its first ``return`` at the top level."""
        out: list[ast.stmt] = []
        for stmt in body:
            if isinstance(stmt, (ast.With, ast.AsyncWith)):
                out += self.straight(stmt.body, where, start)
            elif isinstance(stmt, ast.If) and any(isinstance(n, ast.Return) for n in walk_local(
                    ast.Module(body=[stmt], type_ignores=[]))):
                try:
                    branch = self.branch(stmt)
                except LiftError as exc:
                    line = (self.start if start is None else start) + stmt.lineno
                    raise LiftError(f"{where}: it returns from inside an `if` (line {line}): "
                                    f"{exc}") from exc
                out += self.straight(branch, where, start)
            else:
                out.append(stmt)
            if out and isinstance(out[-1], ast.Return):
                break
        return out

    def _fresh(self, name: str) -> str:
        taken = self.local_names | set(self.module.assignments) | set(self.module.functions) | set(self.module.imports)
        candidate, number = name, 1
        while candidate in taken:
            number += 1
            candidate = f"{name}{number}"
        self.local_names.add(candidate)
        return candidate



class _Substitute(ast.NodeTransformer):
    """The callee's parameters become the caller's arguments, its locals fresh names."""

    def __init__(self, renames: dict[str, ast.expr]) -> None:
        self.renames = renames

    def visit_Name(self, node: ast.Name) -> ast.AST:
        replacement = self.renames.get(node.id)
        if replacement is None:
            return node
        if isinstance(node.ctx, ast.Load):
            return ast.copy_location(copy.deepcopy(replacement), node)
        assert isinstance(replacement, ast.Name)
        return ast.copy_location(ast.Name(id=replacement.id, ctx=node.ctx), node)

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        return node
