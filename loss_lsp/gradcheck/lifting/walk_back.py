"""The lift of one sink: from the differentiated value back through the statements that run before it,
keeping those the value depends on and stopping at the model's output, the weights and the data; control
flow that decides the value (a loop carrying it, an ``if`` the program does not decide) is a reason not
to lift."""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass

from loss_lsp.engine.module import ModuleInfo, dotted
from loss_lsp.engine.sinks import Sink, Unit
from loss_lsp.engine.sources import SOURCE
from loss_lsp.gradcheck.lifting.inlining import Context
from loss_lsp.gradcheck.lifting.lifted import Lifted, LiftError
from loss_lsp.gradcheck.lifting.sources import SourceRecognition
from loss_lsp.gradcheck.lifting.syntax import COMPOUND, FunctionNode, chain_to, key_of, keys, loads, stores, walk_local
from loss_lsp.gradcheck.lifting.writing import Writing

# Methods that change the value they are called on (a list of losses, a variable): a Python side effect.
_MUTATING = {"append", "extend", "insert", "update", "add", "pop", "clear", "remove", "setdefault", "assign",
             "assign_add", "assign_sub", "scatter_update", "scatter_add"}


@dataclass
class Leaf:
    """A data value the path reads (the labels, when it is the only one), and its placeholder if any."""

    name: str
    line: int
    placeholder: ast.Call | None = None


class Lifter(SourceRecognition, Writing):
    """One sink's lift: ``run()`` walks back from the differentiated value and writes the function."""

    def __init__(self, module: ModuleInfo, unit: Unit, sink: Sink, graph: bool,
                 arguments: dict[str, ast.expr] | None = None) -> None:
        self.module = module
        self.arguments = arguments or {}  # parameter -> what the caller passes (a graph-building function)
        self.foreign: set[str] = set()  # arguments of another method of the class (hyperparameters, not data)
        self._resolving: set[str] = set()
        self.graph = graph
        self.unit = unit
        self.sink = sink
        self.start = unit.block.start
        self.cls = unit.cls or self._closure_class()  # a closure in a method: that method's class
        self.scopes: list[FunctionNode] = [unit.fn, *unit.enclosing]
        self.params = {a.arg for fn in self.scopes for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs}
        self.predictions = {name for name, seed in unit.seeds.items() if seed == SOURCE}
        self.variables: dict[str, ast.expr] = {}  # name -> the value that made it a variable
        self.data: dict[str, Leaf] = {}
        self.kept: list[ast.stmt] = []
        self.bindings = self._local_bindings()  # local name -> its value (for is_model_name)
        self.local_names = set().union(*(keys(n, ast.Store) for scope in self.scopes for n in walk_local(scope)
                                         if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For))))
        self.self_attrs = self._constructor_attributes()
        self.context = Context(module, self.cls, self.start, self.scopes, self.local_names)
        for name, value in self.bindings.items():
            if self._is_variable_value(value):
                self.variables[name] = value

    # --- the target and the statements before it ---------------------------------------------
    def run(self) -> Lifted:
        target, holder = self._target()
        before: list[ast.stmt] = []
        chain: tuple[str, ...] = ()
        while (expanded := self.context.expand(target, holder, self._follow, chain)) is not None:
            inner, target, chain = expanded  # return self._compute_loss(y, logits): its body, then its value
            before += inner
        needed = loads(target)
        for stmt in reversed(before):
            for flat in self._flat(stmt, needed):
                self._take(flat, needed)
        for stmt in self._preceding(holder, needed):
            self._take(stmt, needed)
        self._class_held(needed)
        self._globals(needed)
        self.kept.reverse()
        return self._render(target, holder)

    def _target(self) -> tuple[ast.expr, ast.stmt]:
        """What is differentiated, and the statement holding it (the return goes on that statement's line)."""
        target = self.sink.target
        if target is not None:
            if isinstance(target, ast.Lambda):
                target = target.body
            holder = self._statement_of(target)
            return target, holder
        returns = [n for n in walk_local(self.unit.fn) if isinstance(n, ast.Return)]
        if len(returns) == 1 and returns[0].value is not None and returns[0] is self.unit.fn.body[-1]:
            return returns[0].value, returns[0]
        several = "the differentiated value is returned from more than one place (control flow)"
        body = self.context.straight(self.unit.fn.body, several)  # the return of the branch the program decides
        last = body[-1] if body else None
        if not isinstance(last, ast.Return) or last.value is None or any(
                isinstance(n, ast.Return) for n in walk_local(ast.Module(body=body[:-1], type_ignores=[]))):
            raise LiftError(several)
        return last.value, last

    def _statement_of(self, node: ast.AST) -> ast.stmt:
        for stmt in walk_local(self.unit.fn):
            if isinstance(stmt, ast.stmt) and not isinstance(stmt, COMPOUND) and node in set(ast.walk(stmt)):
                return stmt
        raise LiftError("the differentiated value is not a statement of this function")

    def _preceding(self, holder: ast.stmt, needed: set[str]):  # type: ignore[no-untyped-def]
        """The statements before ``holder`` that run before it, nearest first, through every scope;
        compound statements around it are checked (a loop may carry a value around)."""
        inner: ast.AST = holder
        for scope in self.scopes:
            chain = chain_to(scope, inner)
            if chain is None:
                if scope is self.unit.fn:
                    raise LiftError("cannot follow the code around the differentiated value")
                return  # a function handed to minimize from another function: it does not see that one's locals
            for body, index, owner in reversed(chain):
                for stmt in reversed(body[:index]):
                    yield from self._flat(stmt, needed)
                if isinstance(owner, (ast.For, ast.AsyncFor, ast.While)):
                    self._loop(owner, needed)
            inner = scope

    def _flat(self, stmt: ast.stmt, needed: set[str]):  # type: ignore[no-untyped-def]
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            for inner in reversed(stmt.body):
                yield from self._flat(inner, needed)
            return
        if isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.Match)):
            bound = stores(stmt) & needed
            if bound and isinstance(stmt, ast.If):  # only the branch the program says runs
                try:
                    branch = self.context.branch(stmt)
                except LiftError as exc:
                    raise LiftError(f"{self.context.shown(sorted(bound)[0])} is set inside an `if` "
                                    f"(line {self.context.source_line(stmt) + 1}): its value depends on control flow; "
                                    f"{exc}") from exc
                for inner in reversed(branch):
                    yield from self._flat(inner, needed)
                return
            if bound:
                kind = {ast.If: "an `if`", ast.For: "a `for` loop", ast.AsyncFor: "a `for` loop",
                        ast.While: "a `while` loop", ast.Try: "a `try` block"}.get(type(stmt), "a `match`")
                name = sorted(bound)[0]
                line = self.context.source_line(stmt) + 1
                raise LiftError(f"{self.context.shown(name)} is set inside {kind} (line {line}): "
                                "its value depends on control flow")
            return
        yield stmt

    def _class_held(self, needed: set[str]) -> None:
        """Tensors a graph-building class keeps on ``self`` in ``__init__`` or a build method: the walk goes on
        through the whole method that sets them (it must come earlier in the file: it has run by then)."""
        cls = self.cls
        visited: set[int] = set()
        while cls is not None:
            held = sorted(k for k in needed if k.startswith("self.") and k not in self.variables and k not in self.data)
            found = None
            for key in held:
                for method in cls.body:
                    if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and method is not self.unit.fn \
                            and id(method) not in visited:
                        stmt = next((n for n in walk_local(method) if isinstance(n, ast.Assign)
                                     and key in stores(ast.Module(body=[n], type_ignores=[]))), None)
                        if stmt is not None:
                            found = (key, method, stmt)
                            break
                if found:
                    break
            if found is None:
                return
            key, method, stmt = found
            visited.add(id(method))
            if method.lineno > self.unit.fn.lineno:
                raise LiftError(f"`{key}` is set in `{method.name}` (line {self.line(stmt) + 1}), after the code "
                                "that differentiates it")
            self.foreign |= {a.arg for a in method.args.args[1:] + method.args.kwonlyargs}
            self.local_names |= set().union(*(keys(n, ast.Store) for n in walk_local(method)
                                              if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))))
            for earlier in reversed(method.body):  # the whole method has run before the code that differentiates
                for flat in self._flat(earlier, needed):
                    self._take(flat, needed)

    def _loop(self, loop: ast.For | ast.AsyncFor | ast.While, needed: set[str]) -> None:
        carried = sorted(stores(ast.Module(body=loop.body, type_ignores=[])) & needed)
        if carried:
            raise LiftError(f"`{carried[0]}` is carried around the loop at line {self.line(loop) + 1}")
        if isinstance(loop, (ast.For, ast.AsyncFor)):
            for name in sorted(stores(loop.target) & needed):
                self.data[name] = Leaf(name, self.line(loop))
                needed.discard(name)

    # --- one statement ---------------------------------------------------------------------------
    def _take(self, stmt: ast.stmt, needed: set[str]) -> None:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            func = stmt.value.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in needed \
                    and func.attr in _MUTATING and func.value.id in self.local_names \
                    and not self._model_call(ast.Call(func=func.value, args=[func.value], keywords=[])):
                raise LiftError(f"`{func.value.id}` is changed by `{dotted(func) or func.attr}(...)` "
                                f"(line {self.line(stmt) + 1}), a Python side effect")
            return
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) or stmt.value is None:
            return
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        bound = set().union(*(stores(t) for t in targets))
        hit = bound & needed
        if not hit:
            return
        value = stmt.value
        line = self.line(stmt)
        expanded = self.context.expand(value, stmt, self._follow, getattr(stmt, "_loss_lsp_chain", ()))
        if expanded is not None:  # logits = self.call_model(x): the method's body, then the assignment
            before, value, chain = expanded
            assigned = copy.copy(stmt)
            assigned.value = value  # type: ignore[assignment]
            assigned._loss_lsp_chain = chain  # type: ignore[attr-defined]
            for inner in reversed([*before, assigned]):
                for flat in self._flat(inner, needed):
                    self._take(flat, needed)
            return
        if self._is_variable_value(value):  # the model's weights: they stay inside the prediction
            for name in hit:
                self.variables[name] = value
            needed -= hit
            return
        if self._is_placeholder(value):
            for name in hit:
                self.data[name] = Leaf(name, line, value)  # type: ignore[arg-type]
            needed -= hit
            return
        if self._has_source(value):
            if len(bound) > 1:
                raise LiftError(f"line {line + 1} unpacks several outputs of the model: "
                                "the check lifts a loss of one prediction")
            self._keep(stmt, needed, bound, value)
            return
        if self._is_data_read(value, len(bound) > 1):
            if loads(value) & self.foreign:
                raise LiftError(f"`{sorted(hit)[0]}` (line {line + 1}) is an argument of the model's constructor or "
                                "build method: not data the check can feed")
            for name in hit:
                self.data[name] = Leaf(name, line)
            needed -= hit
            return
        self._keep(stmt, needed, bound, value)


    def _follow(self, call: ast.Call) -> bool:
        """A module function is inlined only when the model is inside it (its arguments carry none)."""
        return not self._has_source(call) and self._helper_output(call) is None

    def _keep(self, stmt: ast.stmt, needed: set[str], bound: set[str], value: ast.expr) -> None:
        self.kept.append(stmt)
        if not isinstance(stmt, ast.AugAssign):
            needed -= bound
        needed |= loads(value)

    def _globals(self, needed: set[str]) -> None:
        """Names the path reads from outside the function: parameters are data (or the prediction),
        module-level placeholders data, module-level variables the model; the rest is for the slicer."""
        for name in sorted(needed):
            if name in self.predictions:
                continue
            if name in self.foreign and name not in self.params:
                raise LiftError(f"the loss reads `{name}`, an argument of the model's constructor or build method: "
                                "not data the check can feed")
            if name in self.params and name not in ("self", "cls"):
                passed = self.module.assignments.get(str(key_of(self.arguments.get(name, ast.Constant(None)))))
                declared = passed[0] if passed is not None and self._is_placeholder(passed[0]) else None
                self.data[name] = Leaf(name, self.line(self.unit.fn), declared)  # type: ignore[arg-type]
                continue
            found = self.module.assignments.get(name)
            if found is None:
                continue
            value, block = found
            if self._is_placeholder(value):
                self.data[name] = Leaf(name, block.start + value.lineno - 1, value)  # type: ignore[arg-type]
            elif self._is_variable_value(value):
                self.variables[name] = value
