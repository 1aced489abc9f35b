"""What the lift follows beyond one straight-line function: calls of the class's own methods and of module
functions whose bodies are straight-line (inlined with their arguments, as the engine's helper analysis
follows helpers), and ``if`` statements whose test the program decides without data (a constant the
constructor stores, a module constant, Keras's ``training`` flag, which is true while training runs).

A test the program does not decide -- a constructor argument, a value set in several places, a tensor --
raises ``LiftError`` saying which value it depends on: a branch is never guessed. Pure Python.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from loss_lsp.engine.module import ModuleInfo, dotted

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_STOP = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_NOT_INLINED = {"call", "__call__", "__init__", "build"}  # self(x) is the model; the rest build it
_MAX_INLINED = 24  # calls inlined into one lifted loss (a guard against deep helper chains)


class LiftError(Exception):
    """The computation cannot be lifted (the message says why, for the user)."""


def key_of(node: ast.AST) -> str | None:
    """A value's name: ``x``, or ``self.x`` (TF1 graph code keeps its tensors on self)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return f"self.{node.attr}"
    return None


def walk_local(fn: ast.AST):  # type: ignore[no-untyped-def]
    """The nodes of a function, not of the functions and classes nested in it."""
    stack: list[ast.AST] = list(getattr(fn, "body", []))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _STOP):
            stack.extend(ast.iter_child_nodes(node))


def _stored_names(nodes: list[ast.stmt]) -> set[str]:
    return {n.id for stmt in nodes for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


@dataclass
class Inlined:
    label: str  # "self._compute_loss" / "build_loss"
    first: int  # 0-based lines of its definition in the file
    last: int


@dataclass
class Context:
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

    # --- which branch runs --------------------------------------------------------------------------
    def branch(self, stmt: ast.If) -> list[ast.stmt]:
        """The body of the ``if`` that runs, when the program decides it without data."""
        try:
            value = self._value(stmt.test)
        except _Undecided as exc:
            raise LiftError(f"its test `{ast.unparse(stmt.test)}` {exc}: the lift does not guess a branch") from exc
        return stmt.body if value else stmt.orelse

    def _value(self, node: ast.expr) -> object:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self._value(node.operand)
        if isinstance(node, ast.BoolOp):
            values = [self._value(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, right = self._value(node.left), self._value(node.comparators[0])
            op = node.ops[0]
            if isinstance(op, ast.Is):
                return left is right
            if isinstance(op, ast.IsNot):
                return left is not right
            if isinstance(op, ast.Eq):
                return left == right
            if isinstance(op, ast.NotEq):
                return left != right
        if isinstance(node, ast.Name):
            return self._name_value(node.id)
        key = key_of(node)
        if key is not None and key.startswith("self."):
            return self._attribute_value(key[len("self."):])
        raise _Undecided(f"reads `{ast.unparse(node)}`, a value computed when the program runs")

    def _name_value(self, name: str) -> object:
        if name in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[name]
        for scope in self.scopes:
            params = [a.arg for a in scope.args.posonlyargs + scope.args.args + scope.args.kwonlyargs]
            if name in params:
                if name == "training":  # Keras calls with training=True while it trains: that path is differentiated
                    return True
                raise _Undecided(f"depends on `{name}`, an argument of `{scope.name}` its callers decide")
        assigned = [n.value for scope in self.scopes for n in walk_local(scope) if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)]
        stores = sum(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
                     for scope in self.scopes for n in walk_local(scope))
        if stores > 1:  # also a loop variable, `flag |= ...`, a tuple unpacking
            raise _Undecided(f"depends on `{name}`, which the program sets in {stores} places")
        if not assigned and name in self.module.assignments:
            assigned = [self.module.assignments[name][0]]
        if len(assigned) == 1 and isinstance(assigned[0], ast.Constant):
            return assigned[0].value
        if len(assigned) > 1:
            raise _Undecided(f"depends on `{name}`, which the program sets in {len(assigned)} places")
        raise _Undecided(f"depends on `{name}`, whose value the program does not state")

    def subclasses(self) -> list[tuple[ast.ClassDef, int]]:
        """The module's classes derived from this one (directly or not), with their blocks' first lines:
        an object of one of them may run their methods instead."""
        if self.cls is None:
            return []
        names, out = {self.cls.name}, []
        changed = True
        while changed:
            changed = False
            for name, (cls, block) in self.module.classes.items():
                if name not in names and any((dotted(b) or "").rsplit(".", 1)[-1] in names for b in cls.bases):
                    names.add(name)
                    out.append((cls, block.start))
                    changed = True
        return out

    def _attribute_value(self, attr: str) -> object:
        sets: list[tuple[FunctionNode, ast.expr, int]] = []  # (method, value, 0-based line)
        classes = [(self.cls, self.start)] if self.cls is not None else []
        for cls, start in [*classes, *self.subclasses()]:
            for method in cls.body:
                if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    sets += [(method, n.value, start + n.lineno - 1) for n in ast.walk(method)
                             if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and n.value is not None
                             for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                             if isinstance(t, ast.Attribute) and key_of(t) == f"self.{attr}"]
        if not sets:
            raise _Undecided(f"depends on `self.{attr}`, which this class never sets")
        if len(sets) > 1:
            lines = ", ".join(str(line + 1) for _, _, line in sets)
            raise _Undecided(f"depends on `self.{attr}`, which the program sets in {len(sets)} places "
                             f"(lines {lines})")
        method, value, line = sets[0]
        if isinstance(value, ast.Constant) and method.name == "__init__":
            return value.value
        if isinstance(value, ast.Name) and value.id in {a.arg for a in method.args.args + method.args.kwonlyargs}:
            raise _Undecided(f"depends on `self.{attr}`, set from the argument `{value.id}` of `{method.name}` "
                             f"(line {line + 1}): whoever builds the object decides")
        raise _Undecided(f"depends on `self.{attr}`, set to `{ast.unparse(value)}` (line {line + 1})")

    # --- inlining calls -----------------------------------------------------------------------------
    def callee(self, call: ast.Call, follow_functions: bool) -> tuple[str, FunctionNode, int, bool] | None:
        """(label, definition, its block's first line, is a method) of a call the lift inlines."""
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self" \
                and self.cls is not None and func.attr not in _NOT_INLINED:
            method = next((m for m in self.cls.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                           and m.name == func.attr), None)
            override = next((f"`{cls.name}` (line {start + cls.lineno})" for cls, start in self.subclasses()
                             if any(isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name == func.attr
                                    for m in cls.body)), None)
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
        stored = _stored_names(body)
        if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in walk_local(fn)):
            raise LiftError(f"{where}, a generator: a call the lift does not enter")
        nested = next((n for n in walk_local(fn) if isinstance(n, _STOP[:3])), None)
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
        self.local_names |= _stored_names(statements)
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


class _Undecided(Exception):
    pass


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
