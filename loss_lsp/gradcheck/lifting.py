"""Lift training code into a loss the gradient check can call: ``def f(y_true, y_pred)``.

A computation found from its sink (a tape block, ``train_step``, ``compute_loss``, ``add_loss``,
``minimize``, TF1 graph code) has no ``(y_true, y_pred)`` signature. When the path from the model's
output to the differentiated value is straight-line code, it is one: the model output (``model(x)``,
``self(x)``, a sub-layer call, ``tf.matmul(x, W) + b`` over variables, ``compute_loss``'s ``y_pred``)
becomes ``y_pred``, the one data value the path reads (a ``y`` argument, a dataset label, a
placeholder) becomes ``y_true``, and every statement in between is copied in order. The function is
written into the module's text on the original lines (the training code around it is blanked), so
the slicer, the worker and the verdicts see the user's line numbers.

Anything else -- the loss set inside an ``if`` or a loop, carried around a loop, two model outputs,
a variable used directly, a method of the model, a data value besides the labels -- raises
``LiftError`` with the reason; the check then says ``not_run`` with it. Pure Python: no TensorFlow.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, replace
from pathlib import Path

from loss_lsp.engine.chunks import split_blocks, split_lines
from loss_lsp.engine.findings import LossInfo, Span
from loss_lsp.engine.module import ModuleInfo, build_module, dotted
from loss_lsp.engine.sinks import FunctionNode, Sink, Unit, find_units
from loss_lsp.engine.sources import SOURCE, is_model_constructor, is_model_name, is_source_op, not_loss_like
from loss_lsp.gradcheck.inlining import Context, Inlined, LiftError
from loss_lsp.gradcheck.inlining import key_of as _key
from loss_lsp.gradcheck.inlining import walk_local as _walk_local

LIFTED = "__loss_lsp_lifted__"
_GRAPH_SINKS = ("minimize", "compute_gradients", "tf.gradients", "get_updates")  # a value, not a callable: TF1
# Ops through which a variable's value stays "the model's output" (logits = matmul(x, W) + b).
_AFFINE = {"matmul", "add", "bias_add", "xw_plus_b", "conv1d", "conv2d", "conv3d", "tensordot", "einsum", "dense",
           "fully_connected", "conv2d_transpose", "reshape", "squeeze", "expand_dims", "concat"}
_READS = {"next", "get_next", "next_batch", "get_batch", "sample_batch"}  # calls that read a batch of data
_LIBRARY_ALIASES = {"tf", "np", "K", "keras", "ops", "jnp", "math", "tfp"}  # also through a package's re-export
# Methods that change the value they are called on (a list of losses, a variable): a Python side effect.
_MUTATING = {"append", "extend", "insert", "update", "add", "pop", "clear", "remove", "setdefault", "assign",
             "assign_add", "assign_sub", "scatter_update", "scatter_add"}
_BUILTIN_CALLS = {"float", "int", "abs", "len", "min", "max", "sum", "range", "zip", "list", "tuple", "dict"}
_STOP = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


@dataclass(frozen=True)
class Lifted:
    source: str  # the module's text with the lifted function in place of the training code around it
    header: int  # 0-based line of ``def __loss_lsp_lifted__(y_true, y_pred):``
    first: int  # 0-based first and last line of the copied code (the return included)
    last: int
    sink: Sink
    prediction: str  # the expression that became y_pred
    target: str  # the data value that became y_true ("" when the loss reads no labels)
    y_true_shape: tuple[int, ...] | None = None
    y_true_dtype: str | None = None
    y_pred_shape: tuple[int, ...] | None = None
    y_pred_range: str | None = None
    lines: frozenset[int] = frozenset()  # the original lines of the copied statements and of the sink's
    unit_first: int = 0  # the lines of the training code it was lifted from
    unit_last: int = 0
    inlined: tuple[Inlined, ...] = ()  # the methods and functions whose bodies were copied in

    def loss(self, original: LossInfo) -> LossInfo:
        """The lifted function as a loss the check runs (the original's span, so findings land on it)."""
        return replace(original, kind="function", construct=LIFTED, call_path="direct",
                       y_true_shape=self.y_true_shape, y_pred_shape=self.y_pred_shape,
                       y_true_dtype=self.y_true_dtype, y_pred_range=self.y_pred_range, y_true_domain=None)

    def header_span(self) -> Span:
        return Span(self.header, 0, self.header, len(LIFTED) + 4)

    def describe(self, path: str) -> str:
        lines = f"line {self.first + 1}" if self.first == self.last else f"lines {self.first + 1}-{self.last + 1}"
        labels = f"y_true is `{self.target}`" if self.target else "no labels are read"
        assumed = []
        if self.target:
            assumed.append("y_true's values" if self.y_true_shape is not None else "y_true's shape and values")
        if self.y_pred_shape is None:
            assumed.append("y_pred's shape")
        if self.y_pred_range is None:
            assumed.append("y_pred's value range")
        note = f"; assumed {', '.join(assumed)} (the program does not state them)" if assumed else ""
        inlined = "".join(f"; inlined `{i.label}` (lines {i.first + 1}-{i.last + 1})" for i in self.inlined)
        return (f"lifted {lines} of {Path(path).name} (`{self.sink.kind}` at line {self.sink.line + 1}){inlined}: "
                f"y_pred is `{self.prediction}`, {labels}{note}")


def lift(source: str, path: str, loss: LossInfo) -> tuple[list[Lifted], list[str]]:
    """The computation ``loss`` (kind "computation") as functions of (y_true, y_pred), one per value its
    sinks differentiate, and why the others could not be lifted. Raises LiftError when none can."""
    lines = split_lines(source)
    module = build_module(path, lines, split_blocks(lines))
    unit = next((u for u in find_units(module) if u.name == loss.name
                 and u.block.start + (u.cls or u.fn).lineno - 1 == loss.span.start_line), None)
    if unit is None:
        raise LiftError("the code that differentiates it is in another file")
    lifted: list[Lifted] = []
    errors: list[str] = []
    done: set[str] = set()
    for sink in unit.sinks:
        key = ast.dump(sink.target) if sink.target is not None else ""
        if key in done:
            continue
        done.add(key)
        # TF1 graph code: a value (not a callable) handed to minimize / tf.gradients; a tape is TF2's.
        graph = sink.kind in _GRAPH_SINKS and sink.target is not None and not isinstance(sink.target, ast.Lambda)
        built = _graph_builder(module, unit, sink)
        if built is not None:  # minimize(build_graph(x, y)): the loss is what the graph-building function returns
            builder, arguments = built
            try:
                lifted.append(_Lifter(module, builder, builder.sinks[0], graph, arguments).run())
                continue
            except LiftError:
                pass
        try:
            lifted.append(_Lifter(module, unit, sink, graph).run())
        except LiftError as exc:
            errors.append(str(exc))
    if not lifted:
        raise LiftError(errors[0] if errors else "nothing is differentiated")
    return lifted, errors


def _graph_builder(module: ModuleInfo, unit: Unit, sink: Sink) -> tuple[Unit, dict[str, ast.expr]] | None:
    """The module function whose return value the sink differentiates (``minimize(build_graph(x, y))``, or
    ``loss = build_graph(x, y)`` then ``minimize(loss)``), as a unit of its own: its parameters are data."""
    target = sink.target
    if isinstance(target, ast.Name):
        values = [n.value for n in _walk_local(unit.fn) if isinstance(n, ast.Assign) and len(n.targets) == 1
                  and isinstance(n.targets[0], ast.Name) and n.targets[0].id == target.id]
        target = values[0] if len(values) == 1 else None
    if not (isinstance(target, ast.Call) and isinstance(target.func, ast.Name)
            and target.func.id in module.functions):
        return None
    fn, block = module.functions[target.func.id]
    if not fn.body or not isinstance(fn.body[-1], ast.Return):
        return None
    params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    arguments = dict(zip(params, target.args))  # build_graph(X, Y): the placeholders X and Y
    arguments.update({k.arg: k.value for k in target.keywords if k.arg})
    return Unit(fn.name, fn, block, None, [], [Sink(sink.kind, sink.line, None)], {}), arguments


def in_unit(lifted: Lifted, line: int) -> bool:
    """Whether a line lies in the training code the loss was lifted from (not in a helper it calls)."""
    return lifted.unit_first <= line <= lifted.unit_last


def _unit_first(unit: Unit) -> int:
    return unit.block.start + min(s.lineno for s in unit.fn.body) - 1


def _unit_last(unit: Unit) -> int:
    return unit.block.start + max(s.end_lineno or s.lineno for s in unit.fn.body) - 1


# --- the lifting of one sink -------------------------------------------------------------------------
@dataclass
class _Leaf:
    name: str
    line: int
    placeholder: ast.Call | None = None


class _Lifter:
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
        self.data: dict[str, _Leaf] = {}
        self.kept: list[ast.stmt] = []
        self.bindings = self._local_bindings()  # local name -> its value (for is_model_name)
        self.local_names = set().union(*(_keys(n, ast.Store) for scope in self.scopes for n in _walk_local(scope)
                                         if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For))))
        self.self_attrs = self._constructor_attributes()
        self.context = Context(module, self.cls, self.start, self.scopes, self.local_names)
        for name, value in self.bindings.items():
            if self._is_variable_value(value):
                self.variables[name] = value

    def line(self, node: ast.AST) -> int:
        return self.start + getattr(node, "lineno", 1) - 1

    # --- the target and the statements before it ---------------------------------------------
    def run(self) -> Lifted:
        target, holder = self._target()
        before: list[ast.stmt] = []
        chain: tuple[str, ...] = ()
        while (expanded := self.context.expand(target, holder, self._follow, chain)) is not None:
            inner, target, chain = expanded  # return self._compute_loss(y, logits): its body, then its value
            before += inner
        needed = _loads(target)
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
        returns = [n for n in _walk_local(self.unit.fn) if isinstance(n, ast.Return)]
        if len(returns) == 1 and returns[0].value is not None and returns[0] is self.unit.fn.body[-1]:
            return returns[0].value, returns[0]
        several = "the differentiated value is returned from more than one place (control flow)"
        body = self.context.straight(self.unit.fn.body, several)  # the return of the branch the program decides
        last = body[-1] if body else None
        if not isinstance(last, ast.Return) or last.value is None or any(
                isinstance(n, ast.Return) for n in _walk_local(ast.Module(body=body[:-1], type_ignores=[]))):
            raise LiftError(several)
        return last.value, last

    def _statement_of(self, node: ast.AST) -> ast.stmt:
        for stmt in _walk_local(self.unit.fn):
            if isinstance(stmt, ast.stmt) and not isinstance(stmt, _COMPOUND) and node in set(ast.walk(stmt)):
                return stmt
        raise LiftError("the differentiated value is not a statement of this function")

    def _preceding(self, holder: ast.stmt, needed: set[str]):  # type: ignore[no-untyped-def]
        """The statements before ``holder`` that run before it, nearest first, through every scope;
        compound statements around it are checked (a loop may carry a value around)."""
        inner: ast.AST = holder
        for scope in self.scopes:
            chain = _chain(scope, inner)
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
            bound = _bound(stmt) & needed
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
                raise LiftError(f"{self.context.shown(name)} is set inside {kind} (line {self.context.source_line(stmt) + 1}): "
                                "its value depends on control flow")
            return
        yield stmt

    def _class_held(self, needed: set[str]) -> None:
        """Tensors a graph-building class keeps on ``self`` in ``__init__`` or a build method: the walk goes on
        through the whole method that sets them (it must come earlier in the file: it has run by then)."""
        cls = self.cls
        visited: set[int] = set()
        while cls is not None:
            keys = sorted(k for k in needed if k.startswith("self.") and k not in self.variables and k not in self.data)
            found = None
            for key in keys:
                for method in cls.body:
                    if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and method is not self.unit.fn \
                            and id(method) not in visited:
                        stmt = next((n for n in _walk_local(method) if isinstance(n, ast.Assign)
                                     and key in _names_in_target(ast.Module(body=[n], type_ignores=[]))), None)
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
            self.local_names |= set().union(*(_keys(n, ast.Store) for n in _walk_local(method)
                                              if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))))
            for earlier in reversed(method.body):  # the whole method has run before the code that differentiates
                for flat in self._flat(earlier, needed):
                    self._take(flat, needed)

    def _loop(self, loop: ast.For | ast.AsyncFor | ast.While, needed: set[str]) -> None:
        carried = sorted(_bound(ast.Module(body=loop.body, type_ignores=[])) & needed)
        if carried:
            raise LiftError(f"`{carried[0]}` is carried around the loop at line {self.line(loop) + 1}")
        if isinstance(loop, (ast.For, ast.AsyncFor)):
            for name in sorted(_names_in_target(loop.target) & needed):
                self.data[name] = _Leaf(name, self.line(loop))
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
        bound = set().union(*(_names_in_target(t) for t in targets))
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
                self.data[name] = _Leaf(name, line, value)  # type: ignore[arg-type]
            needed -= hit
            return
        if self._has_source(value):
            if len(bound) > 1:
                raise LiftError(f"line {line + 1} unpacks several outputs of the model: "
                                "the check lifts a loss of one prediction")
            self._keep(stmt, needed, bound, value)
            return
        if self._is_data_read(value, len(bound) > 1):
            if _loads(value) & self.foreign:
                raise LiftError(f"`{sorted(hit)[0]}` (line {line + 1}) is an argument of the model's constructor or "
                                "build method: not data the check can feed")
            for name in hit:
                self.data[name] = _Leaf(name, line)
            needed -= hit
            return
        self._keep(stmt, needed, bound, value)

    def _closure_class(self) -> ast.ClassDef | None:
        """The class of the method a closure is defined in: its ``self.m(...)`` calls that class's methods."""
        outer = self.unit.enclosing[-1] if self.unit.enclosing else None
        found = self.module.classes.get(self.unit.name.split(".", 1)[0])
        if outer is None or found is None or outer not in found[0].body or found[1].start != self.start:
            return None
        return found[0]

    def _follow(self, call: ast.Call) -> bool:
        """A module function is inlined only when the model is inside it (its arguments carry none)."""
        return not self._has_source(call) and self._helper_output(call) is None

    def _keep(self, stmt: ast.stmt, needed: set[str], bound: set[str], value: ast.expr) -> None:
        self.kept.append(stmt)
        if not isinstance(stmt, ast.AugAssign):
            needed -= bound
        needed |= _loads(value)

    def _local_bindings(self) -> dict[str, ast.expr]:
        out: dict[str, ast.expr] = {}
        for scope in reversed(self.scopes):
            for node in _walk_local(scope):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    out[node.targets[0].id] = node.value
        return out

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
                passed = self.module.assignments.get(str(_key(self.arguments.get(name, ast.Constant(None)))))
                declared = passed[0] if passed is not None and self._is_placeholder(passed[0]) else None
                self.data[name] = _Leaf(name, self.line(self.unit.fn), declared)  # type: ignore[arg-type]
                continue
            found = self.module.assignments.get(name)
            if found is None:
                continue
            value, block = found
            if self._is_placeholder(value):
                self.data[name] = _Leaf(name, block.start + value.lineno - 1, value)  # type: ignore[arg-type]
            elif self._is_variable_value(value):
                self.variables[name] = value

    # --- what values are -------------------------------------------------------------------------
    def _op_name(self, call: ast.Call) -> str:
        op = self.module.op(call.func)
        return op.name.rsplit(".", 1)[-1] if op is not None else ""

    def _is_placeholder(self, value: ast.expr) -> bool:
        return isinstance(value, ast.Call) and self._op_name(value) in ("placeholder", "placeholder_with_default")

    def _is_variable_value(self, value: ast.expr) -> bool:
        if isinstance(value, ast.Dict):  # weights = {"h1": tf.Variable(...), ...}
            return bool(value.values) and all(self._is_variable_value(v) for v in value.values)
        if isinstance(value, (ast.List, ast.Tuple)):
            return bool(value.elts) and all(self._is_variable_value(v) for v in value.elts)
        if not isinstance(value, ast.Call):
            return False
        op = self.module.op(value.func)
        if op is not None:
            return is_source_op(op) and not op.name.startswith(("layers.", "contrib.layers.", "contrib.slim.",
                                                                 "slim."))
        return self._helper_output(value) == "variable"

    def _helper_output(self, call: ast.Call) -> str | None:
        """What a module function that creates variables returns: "variable" (``weight_variable(shape)``
        returns ``tf.Variable(...)``) or "model" (``neural_network_model(x)`` returns the network's output)."""
        name = dotted(call.func) or ""
        helper = self.module.functions.get(name)
        if helper is None or name in self._resolving:
            return None
        fn = helper[0]
        self._resolving.add(name)  # a function that reads a module-level value built by itself
        try:
            return self._helper_kind(fn)
        finally:
            self._resolving.discard(name)

    def _helper_kind(self, fn: FunctionNode) -> str | None:
        creates = any(isinstance(n, ast.Call) and (op := self.module.op(n.func)) is not None and is_source_op(op)
                      for n in ast.walk(fn))
        reads = any(isinstance(n, ast.Name) and n.id in self.module.assignments
                    and self._is_variable_value(self.module.assignments[n.id][0]) for n in ast.walk(fn))
        if not creates and not reads:
            return None
        returned = fn.body[-1].value if fn.body and isinstance(fn.body[-1], ast.Return) else None
        if isinstance(returned, ast.Call) and (op := self.module.op(returned.func)) is not None and is_source_op(op):
            return "variable"
        # One parameter, the input: the network's output. With more (inputs and labels) it may return the loss.
        return "model" if returned is not None and len(fn.args.args) == 1 else None

    def helper_shape(self, call: ast.Call) -> tuple[int | None, ...] | None:
        """The columns of a model-building function's output: the last dimension of the weight matrix its
        return statement multiplies by (``tf.matmul(hidden, weights["out"])`` with a declared [64, 10])."""
        fn = self.module.functions[dotted(call.func) or ""][0]
        returned = fn.body[-1].value  # type: ignore[attr-defined]
        for node in ast.walk(returned):
            base = node.value if isinstance(node, ast.Subscript) else node
            name = _key(base)
            found = self.module.assignments.get(name) if name else None
            if found is None or not self._is_variable_value(found[0]):
                continue
            value = found[0]
            if isinstance(node, ast.Subscript) and isinstance(value, ast.Dict) and isinstance(node.slice, ast.Constant):
                value = next((v for k, v in zip(value.keys, value.values)
                              if isinstance(k, ast.Constant) and k.value == node.slice.value), None)
            shape = _declared_shape(value) if value is not None and not isinstance(value, ast.Dict) else None
            if shape is not None and len(shape) == 2:
                return (None, shape[-1])
        return None

    def helper_range(self, call: ast.Call) -> str | None:
        """The activation a model-building function's return applies: softmax/sigmoid/..., linear for an
        affine output, None when it does not say."""
        fn = self.module.functions[dotted(call.func) or ""][0]
        returned = fn.body[-1].value  # type: ignore[attr-defined]
        if isinstance(returned, ast.Name):  # output = ...; return output
            values = [n.value for n in ast.walk(fn) if isinstance(n, ast.Assign) and len(n.targets) == 1
                      and isinstance(n.targets[0], ast.Name) and n.targets[0].id == returned.id]
            returned = values[-1] if len(values) == 1 else None
        if isinstance(returned, ast.Call):
            name = self._op_name(returned)
            if name in ("softmax", "sigmoid", "relu", "tanh", "log_softmax"):
                return name
            return "linear" if name in ("matmul", "add", "bias_add", "xw_plus_b") else None
        if isinstance(returned, ast.BinOp) and isinstance(returned.op, (ast.Add, ast.Sub, ast.MatMult)):
            return "linear"
        return None

    def _is_data_read(self, value: ast.expr, unpacked: bool) -> bool:
        """A value read from the data (``x, y = data``, ``batch["label"]``, ``next(it)``), not computed here;
        ``out = logits`` only renames a value of the path."""
        calls = [n for n in ast.walk(value) if isinstance(n, ast.Call)]
        if not calls:
            names = _loads(value)
            return bool(names) and (unpacked or not names & self.local_names)
        return any((dotted(call.func) or "").rsplit(".", 1)[-1] in _READS for call in calls)

    def _model_call(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        func = node.func
        cls = self.cls
        if isinstance(func, ast.Name):
            if func.id == "self":
                return cls is not None
            if func.id in self.module.functions:
                return self._helper_output(node) == "model"
            if not node.args:
                return False
            binding = self.bindings.get(func.id)
            return is_model_name(self.module, func.id, binding if isinstance(binding, ast.Call) else None,
                                 self.params)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            stored = self.self_attrs.get(func.attr)
            if stored is None or not node.args or not not_loss_like(func.attr):
                return False
            if isinstance(stored, ast.Call):
                return is_model_constructor(self.module, stored)
            return isinstance(stored, ast.Name)  # a model handed to the constructor
        if isinstance(func, ast.Call):
            return is_model_constructor(self.module, func)
        op = self.module.op(func)
        return op is not None and is_source_op(op) and op.name.startswith(("layers.", "contrib.layers.", "slim."))

    def declared_shape(self, node: ast.AST) -> tuple[int | None, ...] | None:
        """The shape a variable's definition states; ``weights["out"]`` looks the entry up."""
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            container = self.variables.get(str(_key(node.value)))
            if isinstance(container, ast.Dict):
                for key, value in zip(container.keys, container.values):
                    if isinstance(key, ast.Constant) and key.value == node.slice.value:
                        return _declared_shape(value)
            return None
        key = _key(node)
        value = self.variables.get(key) if key is not None else None
        return _declared_shape(value) if value is not None and not isinstance(value, ast.Dict) else None

    def stored_value(self, node: ast.AST) -> ast.expr | None:
        """What ``self.x`` holds when ``__init__`` stores a loss object or a module function in it."""
        key = _key(node)
        if not (key and key.startswith("self.") and isinstance(getattr(node, "ctx", None), ast.Load)):
            return None
        value = self.self_attrs.get(key[len("self."):])
        if isinstance(value, ast.Name) and value.id in self.module.functions:
            return value
        if isinstance(value, ast.Call) and all(isinstance(a, ast.Constant) for a in value.args) and all(
                isinstance(k.value, ast.Constant) for k in value.keywords):
            op = self.module.op(value.func)
            if op is not None and (op.namespace == "losses" or op.name.startswith("losses.")):
                return value
        return None

    def model_value(self, call: ast.Call) -> ast.expr | None:
        """What the called model was built from: ``keras.Sequential([...])``, ``layers.Dense(3, ...)``."""
        func = call.func
        if isinstance(func, ast.Call):
            return func
        if isinstance(func, ast.Name) and func.id == "self" and self.cls is not None:
            # self(x): what the class's call() returns, when that is one of its stored layers
            method = next((m for m in self.cls.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                           and m.name == "call"), None)
            last = method.body[-1] if method is not None and method.body else None
            if isinstance(last, ast.Return) and isinstance(last.value, ast.Call) \
                    and _key(last.value.func) is not None and _key(last.value.func) != "self":
                return self.self_attrs.get(str(_key(last.value.func))[len("self."):])
            return None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            return self.self_attrs.get(func.attr)
        if isinstance(func, ast.Name):
            found = self.bindings.get(func.id) or (self.module.assignments.get(func.id) or (None,))[0]
            return found
        return None

    def _is_source_leaf(self, node: ast.AST) -> bool:
        key = _key(node)
        if key is not None and isinstance(getattr(node, "ctx", None), ast.Load):
            return key in self.variables or key in self.predictions
        if isinstance(node, ast.Subscript):  # weights["h1"]
            return self._is_source_leaf(node.value)
        return self._model_call(node)

    def _has_source(self, value: ast.expr) -> bool:
        return any(self._is_source_leaf(n) for n in ast.walk(value))

    def _constructor_attributes(self) -> dict[str, ast.expr]:
        """``self.head = layers.Dense(3)`` / ``self.net = net`` in the class's methods."""
        out: dict[str, ast.expr] = {}
        cls = self.cls
        if cls is None:
            return out
        for method in cls.body:
            if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and method.name == "__init__":
                for node in ast.walk(method):
                    if isinstance(node, ast.Assign):
                        for target in node.targets:
                            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                                    and target.value.id == "self":
                                out.setdefault(target.attr, node.value)
        return out

    # --- the function ------------------------------------------------------------------------------
    def _render(self, target: ast.expr, holder: ast.stmt) -> Lifted:
        rewriter = _Rewriter(self, self.graph)
        returned = rewriter.visit(copy.deepcopy(target))
        records = list(rewriter.take())
        live = _loads(returned)
        statements: list[ast.stmt] = []
        originals: list[ast.stmt] = []
        for stmt in reversed(self.kept):  # a hidden layer read only by the model's output is part of the model
            if not _bound(stmt) & live:
                continue
            new = rewriter.visit(copy.deepcopy(stmt))
            records += rewriter.take()
            live = (live - _bound(new)) | _loads(new) | (_bound(new) if isinstance(new, ast.AugAssign) else set())
            statements.insert(0, new)
            originals.insert(0, stmt)
        if not records:
            raise LiftError(self._hidden_model(target))
        shown = list(dict.fromkeys(record[0] for record in records))
        if len(shown) > 1:
            raise LiftError(f"several model outputs reach the loss ({', '.join(f'`{p}`' for p in shown)}): "
                            "the check lifts a loss of one prediction")
        free = _free(statements, returned)
        labels = sorted(name for name in free if name in self.data)
        if len(labels) > 1:
            raise LiftError(f"the loss reads more data than one label tensor ({', '.join(f'`{n}`' for n in labels)})")
        for name in sorted(free):
            if name in self.variables:
                raise LiftError(f"the loss uses the variable `{name}` itself, not only the model's output: "
                                "it needs the model")
            if name in self.data:
                continue
            if name in ("self", "cls") or name.startswith("self.") or (name in self.predictions and name != "y_pred"):
                raise LiftError(f"the loss reads `{name}` from the model object, not only the model's output: "
                                "it needs the model")
        called = next((n for s in [*statements, returned] for n in ast.walk(s) if isinstance(n, ast.Call)
                       and isinstance(n.func, ast.Attribute) and _key(n.func) not in (None, "self")
                       and str(_key(n.func)).startswith("self.")), None)
        if called is not None:
            raise LiftError(f"the loss calls `{ast.unparse(called.func)}(...)` (line {self.line(called) + 1}), "
                            "a method or attribute of the model object: it needs the model")
        target_name = labels[0] if labels else ""
        if target_name:
            _check_label_use(target_name, [*statements, returned])
        renamer = _Rename(target_name)
        statements = [renamer.visit(stmt) for stmt in statements]
        returned = renamer.visit(returned)
        return self._write(statements, originals, returned, holder, records[0], target_name)

    def _hidden_model(self, target: ast.expr) -> str:
        """Why no model output was found: the first call the path makes into code the lift does not enter."""
        for node in [target, *reversed(self.kept)]:
            for call in ast.walk(node):
                if not isinstance(call, ast.Call):
                    continue
                root = (dotted(call.func) or "").split(".", 1)[0]
                if self.module.op(call.func) is None and root not in _BUILTIN_CALLS and root not in _LIBRARY_ALIASES:
                    text = ast.unparse(call.func)
                    return (f"no model output is visible on the path: it comes from `{text}(...)` "
                            f"(line {self.line(call) + 1}), a call the lift does not enter")
        return "no model output, variable or watched tensor reaches the differentiated value"

    def _write(self, statements: list[ast.stmt], originals: list[ast.stmt], returned: ast.expr, holder: ast.stmt,
               record: tuple[str, tuple[int | None, ...] | None, str | None], target_name: str) -> Lifted:
        module = self.module
        lines = list(module.lines)
        ret_line = self.line(holder)
        starts = [self.line(s) for s in originals]
        first = min([*starts, ret_line])
        header = first - 1
        if header < 0:
            raise LiftError("the training code starts on the file's first line: no line is free for the lifted loss")
        used = set().union(*(_loads(s) for s in statements), _loads(returned))
        last_line = self.start + (holder.end_lineno or holder.lineno) - 1
        for block in module.blocks:
            if block.tree is None:
                continue
            for top in block.tree.body:
                top_first = block.start + min([top.lineno, *(d.lineno for d in getattr(top, "decorator_list", []))]) - 1
                top_last = block.start + (top.end_lineno or top.lineno) - 1
                if top_last < header or top_first > last_line:
                    continue
                holds = any(top_first <= self.line(s) <= top_last for s in [*originals, holder])
                clash = _top_bound(top) & used
                if clash and not holds:
                    name = sorted(clash)[0]
                    raise LiftError(f"`{name}` (line {top_first + 1}) is defined among the lines the loss is "
                                    "lifted from")
                for index in range(top_first, min(top_last, len(lines) - 1) + 1):
                    lines[index] = ""
        lines[header] = f"def {LIFTED}(y_true, y_pred):"
        placed: dict[int, list[str]] = {}
        for stmt, original in zip(statements, originals):
            placed.setdefault(self.line(original), []).append(ast.unparse(stmt))
        placed.setdefault(ret_line, []).append(f"return {ast.unparse(returned)}")
        for line, texts in placed.items():
            lines[line] = "    " + "; ".join(text.replace("\n", " ") for text in texts)
        try:
            ast.parse("\n".join(lines[header:ret_line + 1]))
        except SyntaxError as exc:
            raise LiftError(f"the lifted code does not parse ({exc.msg})") from exc
        leaf = self.data.get(target_name)
        y_true_shape, y_true_dtype = _declared_placeholder(leaf.placeholder) if leaf and leaf.placeholder else (None,
                                                                                                             None)
        covered = frozenset(line for stmt in [*originals, holder]
                            for line in range(self.line(stmt), self.start + (stmt.end_lineno or stmt.lineno)))
        covered |= {line for i in self.context.inlined for line in range(i.first, i.last + 1)}
        return Lifted(source="\n".join(lines), header=header, first=first, last=ret_line, sink=self.sink,
                      lines=covered, inlined=tuple(self.context.inlined), unit_first=_unit_first(self.unit), unit_last=_unit_last(self.unit),
                      prediction=record[0], target=target_name, y_true_shape=y_true_shape,  # type: ignore[arg-type]
                      y_true_dtype=y_true_dtype, y_pred_shape=record[1], y_pred_range=record[2])  # type: ignore[arg-type]


class _Rewriter(ast.NodeTransformer):
    """Model outputs become ``y_pred``; in TF1 graph code ``tf.X`` becomes ``tf.compat.v1.X``."""

    def __init__(self, lifter: _Lifter, graph: bool) -> None:
        self.lifter = lifter
        self.graph = graph
        self.records: list[tuple[str, tuple[int | None, ...] | None, str | None]] = []  # (text, shape, range)

    def take(self) -> list[tuple[str, tuple[int | None, ...] | None, str | None]]:
        out, self.records = self.records, []
        return out

    def visit(self, node: ast.AST) -> ast.AST:  # type: ignore[override]
        stored = self.lifter.stored_value(node)
        if stored is not None:  # self.loss_fn = keras.losses.X(...) in __init__: the same object here
            return ast.copy_location(self.visit(copy.deepcopy(stored)), node)
        if isinstance(node, ast.expr) and self._model_like(node):
            self.records.append(self._record(node))
            return ast.copy_location(ast.Name(id="y_pred", ctx=ast.Load()), node)
        if isinstance(node, _STOP):
            return node
        if self.graph and isinstance(node, ast.Attribute) and dotted(node):
            return self._compat(node) or node  # a dotted name: nothing inside it to rewrite
        return super().visit(node)

    def _record(self, node: ast.expr) -> tuple[str, tuple[int | None, ...] | None, str | None]:
        text = ast.unparse(node)
        lifter = self.lifter
        if _key(node) in lifter.predictions:
            return text, None, None
        if lifter._model_call(node) and not any(_key(n) in lifter.variables for n in ast.walk(node)):
            # A Keras model or layer: what its definition states; a TF1 layer function
            # (tf.layers.dense(x, 10, activation=...)) states its units and activation.
            if isinstance(node, ast.Call) and lifter.module.op(node.func) is not None:
                units = _int_arg(node, 1, "units")
                return text, ((None, units) if units else None), _activation(node) or "linear"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in lifter.module.functions:
                return text, lifter.helper_shape(node), lifter.helper_range(node)
            shape, activation = _declared_output(lifter.model_value(node)) if isinstance(node, ast.Call) \
                else (None, None)
            return text, shape, activation
        # An affine function of variables (logits = matmul(x, W) + b): any value; its columns are the
        # last dimension the weight matrix declares.
        matrices = [shape for n in ast.walk(node)  # outermost first: the output layer's weights
                    if (shape := lifter.declared_shape(n)) is not None and len(shape) == 2]
        return text, ((None, matrices[0][-1]) if matrices else None), "linear"

    def _model_like(self, node: ast.expr) -> bool:
        """The model's output before its last activation: a model call, a variable, or an affine op of them."""
        lifter = self.lifter
        if lifter._is_source_leaf(node):
            return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            return self._model_like(node.right) or self._model_like(node.left)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            parts = [node.left, node.right]
            return any(self._model_like(p) for p in parts) and all(
                self._model_like(p) or isinstance(p, ast.Constant) for p in parts)
        if isinstance(node, ast.Call) and lifter._op_name(node) in _AFFINE:
            return any(self._model_like(a) for a in [*node.args, *(k.value for k in node.keywords)])
        return False

    def _compat(self, node: ast.Attribute) -> ast.AST | None:
        path = self.lifter.module.resolve(node) or ""
        if not path.startswith("tensorflow.") or path.startswith(("tensorflow.compat.", "tensorflow.keras")):
            return None
        local = dotted(node) or ""
        alias, _, rest = local.partition(".")
        if self.lifter.module.imports.get(alias, "") != "tensorflow" or not rest or rest.split(".")[0] == "compat":
            return None
        return ast.copy_location(ast.parse(f"{alias}.compat.v1.{rest}", mode="eval").body, node)


class _Rename(ast.NodeTransformer):
    """The label becomes ``y_true``; tensors kept on ``self`` become locals (``self.pred`` -> ``self_pred``)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id == self.target:
            return ast.copy_location(ast.Name(id="y_true", ctx=node.ctx), node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        key = _key(node)
        if key is None:
            return self.generic_visit(node)
        name = "y_true" if key == self.target else key.replace(".", "_")
        return ast.copy_location(ast.Name(id=name, ctx=node.ctx), node)


def _check_label_use(name: str, nodes: list[ast.AST]) -> None:
    """The one data value left is the labels only if it is used as a value: a function the code calls is not
    something the check can feed."""
    uses = {id(n) for node in nodes for n in ast.walk(node) if _key(n) == name}
    if any(isinstance(n, ast.Call) and id(n.func) in uses for node in nodes for n in ast.walk(node)):
        raise LiftError(f"the loss calls `{name}`, a function the training code receives: not data the check can feed")


# --- small AST helpers --------------------------------------------------------------------------------
_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.With, ast.AsyncWith, ast.FunctionDef,
             ast.AsyncFunctionDef, ast.ClassDef, ast.Match)


def _chain(scope: FunctionNode, inner: ast.AST) -> list[tuple[list[ast.stmt], int, ast.AST]] | None:
    """The bodies from ``scope`` down to the statement ``inner``: (body, index in it, the body's owner)."""
    def search(body: list[ast.stmt], owner: ast.AST) -> list[tuple[list[ast.stmt], int, ast.AST]] | None:
        for index, stmt in enumerate(body):
            if stmt is inner:
                return [(body, index, owner)]
            if isinstance(stmt, _STOP):
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


def _keys(node: ast.AST, ctx: type) -> set[str]:
    """Names and ``self.x`` values read (or stored); ``self.method(...)`` calls a method, it reads no value."""
    out: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Call) and isinstance(current.func, ast.Attribute) and _key(current.func):
            stack.extend([*current.args, *current.keywords])
            continue
        key = _key(current)
        if key is not None and isinstance(getattr(current, "ctx", None), ctx):
            out.add(key)
            continue
        stack.extend(ast.iter_child_nodes(current))
    return out


def _loads(node: ast.AST) -> set[str]:
    return _keys(node, ast.Load)


def _free(statements: list[ast.stmt], returned: ast.expr) -> set[str]:
    """Names read before the lifted code assigns them."""
    defined: set[str] = set()
    free: set[str] = set()
    for stmt in statements:
        value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) else stmt
        free |= _loads(value) - defined  # type: ignore[arg-type]
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            free |= {stmt.target.id} - defined
        defined |= _keys(stmt, ast.Store)
    return free | (_loads(returned) - defined)


def _top_bound(node: ast.stmt) -> set[str]:
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


def _names_in_target(target: ast.AST) -> set[str]:
    return _keys(target, ast.Store)


def _bound(node: ast.AST) -> set[str]:
    return _keys(node, ast.Store)


def _int_arg(call: ast.Call, index: int, keyword: str) -> int | None:
    value = call.args[index] if len(call.args) > index else next(
        (k.value for k in call.keywords if k.arg == keyword), None)
    return value.value if isinstance(value, ast.Constant) and type(value.value) is int else None


def _activation(call: ast.Call) -> str | None:
    value = next((k.value for k in call.keywords if k.arg == "activation"), None)
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value
    name = dotted(value) if value is not None else None
    return name.rsplit(".", 1)[-1] if name else None


def _declared_output(model: ast.expr | None) -> tuple[tuple[int | None, ...] | None, str | None]:
    """The output shape and activation a model's definition states: a ``Dense(3, activation="softmax")``
    layer, or a ``Sequential([...])`` ending in one (or in ``Softmax()`` / ``Activation("sigmoid")``)."""
    if not isinstance(model, ast.Call):
        return None, None
    name = (dotted(model.func) or "").rsplit(".", 1)[-1]
    if name == "Sequential" and model.args and isinstance(model.args[0], ast.List) and model.args[0].elts:
        last = model.args[0].elts[-1]
        if isinstance(last, ast.Call):
            last_name = (dotted(last.func) or "").rsplit(".", 1)[-1]
            if last_name in ("Softmax", "Activation"):
                previous = model.args[0].elts[-2] if len(model.args[0].elts) > 1 else None
                shape, _ = _declared_output(previous)
                if last_name == "Softmax":
                    return shape, "softmax"
                value = last.args[0] if last.args else None
                return shape, value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
            return _declared_output(last)
        return None, None
    if name == "Dense":
        units = _int_arg(model, 0, "units")
        return ((None, units) if units else None), _activation(model) or "linear"
    return None, None


def _declared_shape(value: ast.expr) -> tuple[int | None, ...] | None:
    """The first literal shape in a variable's definition: ``tf.Variable(tf.zeros([784, 10]))``,
    ``get_variable("W", [784, 10])``, ``weight_variable([784, 10])``."""
    for node in ast.walk(value):
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts and all(
                isinstance(e, ast.Constant) and (e.value is None or type(e.value) is int) for e in node.elts):
            return tuple(e.value for e in node.elts)  # type: ignore[misc]
    return None


def _declared_placeholder(call: ast.Call) -> tuple[tuple[int, ...] | None, str | None]:
    """``tf.placeholder(tf.float32, [None, 10])``: its shape (the batch as 0) and dtype, as declared."""
    dtype_node = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "dtype"), None)
    dtype = (dotted(dtype_node) or "").rsplit(".", 1)[-1] or None if dtype_node is not None else None
    shape_node = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "shape"),
                                                                 None)
    shape = None
    if isinstance(shape_node, (ast.List, ast.Tuple)) and all(
            isinstance(e, ast.Constant) and (e.value is None or type(e.value) is int) for e in shape_node.elts):
        dims = [e.value for e in shape_node.elts]  # type: ignore[attr-defined]
        if dims and dims[0] is None and all(d is not None for d in dims[1:]):
            shape = (None, *dims[1:])  # the batch
    return shape, dtype
