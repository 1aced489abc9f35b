"""Dataflow inside one loss: which values carry y_pred's gradient, which come from
y_true only, what is known about their range, and which statements reach the return.

One forward pass computes a ``Val`` for every expression (loops are walked twice so
loop-carried values settle; branches are joined). What library ops do to values is data in
``engine.catalogue``; which statements reach the return is ``engine.liveness``. Rules read the
result through the query methods of ``Flow`` (``val``, ``op``, ``is_live``, ``nodes``,
``hard_op``, ``rank_mismatches``, ``dtype_mismatches``, ``cached``), never its internals.
"""

from __future__ import annotations

import ast
import math
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from loss_lsp.engine.catalogue import OpCall, const_number, entry_for, namespace_transfer
from loss_lsp.engine.sources import (
    SOURCE,
    is_model_constructor,
    is_model_name,
    is_source_op,
    not_loss_like,
    output_activation,
    source_rank,
)
from loss_lsp.engine.liveness import FunctionNode, live_statements, names_in
from loss_lsp.engine.memo import on_node, subtree
from loss_lsp.engine.module import ModuleInfo, dotted
from loss_lsp.engine.namespaces import Op
from loss_lsp.engine.values import CLEAN, Val, combine

T = TypeVar("T")
_MAX_HELPER_DEPTH = 4
_CUT_METHODS = {"numpy", "tolist", "item", "__array__"}
_CUT_BUILTINS = {"float", "int", "bool", "complex"}
_FINFO_POSITIVE = {"eps", "tiny", "smallest_normal", "epsneg", "resolution"}
_POSITIVE_ASSERTS = {"assert_greater": 0.0, "assert_positive": None, "assert_greater_equal": 1e-300}
_SHAPE_ATTRS = {"shape", "dtype", "ndim", "name", "device", "rank"}


class Flow:
    """The dataflow of one function, seeded with the values of its parameters."""

    def __init__(self, module: ModuleInfo, fn: FunctionNode, seeds: dict[str, Val], block_start: int,
                 cls: ast.ClassDef | None = None, depth: int = 0,
                 enclosing: list[FunctionNode] | None = None, outputs: list[ast.expr] | None = None,
                 sources: bool = False) -> None:
        self.module = module
        # Sources mode (a computation found from its sink): model and layer calls, variables and
        # watched tensors carry the gradient, and lambdas handed to the sink are evaluated in place.
        self.sources = sources
        self.block_start = block_start  # ast line numbers of fn are relative to this file line
        self.fn = fn
        self.cls = cls
        self.depth = depth
        self.env: dict[str, Val] = dict(seeds)
        self.vals: dict[int, Val] = {}
        self.ops: dict[int, Op | None] = {}
        self.stmt_of: dict[int, ast.AST] = {}
        self._evaluated: dict[int, ast.AST] = {}  # every evaluated expression, in evaluation order
        self._walk: list[ast.AST] | None = None
        self._memo: dict[str, object] = {}  # per-flow results shared by rules (e.g. naive guards)
        self.returns: list[ast.expr] = []
        self.helpers: list[tuple[ast.Call, Flow]] = []
        self._hard_ops: dict[int, str] = {}  # node id -> "compare"/"round"/"sign"/...
        self._broadcasts: list[tuple[ast.AST, ast.AST, ast.AST]] = []  # (op node, y_true side, y_pred side)
        self._mixed_dtypes: list[tuple[ast.AST, ast.AST]] = []  # (op node, integer operand)
        self.local_imports: dict[str, str] = {}
        self.local_functions: dict[str, FunctionNode] = {}
        self.enclosing = enclosing or []
        self._stmt: ast.AST = fn
        self._constants: dict[str, Val] = {}
        self._self_attrs: dict[str, ast.expr] = {}
        self._elements: dict[int, list[Val]] = {}  # call node id -> the tuple a helper returns, element-wise
        self._dead_items: set[int] | None = None  # nodes inside container items nothing reads (computed once)
        self._mapped: dict[int, Val] = {}  # lambda node id -> the value of each element it is mapped over
        self._fields: dict[int, dict[object, Val]] = {}  # call/literal node id -> a dict's (or tuple's) items by key
        self._containers: dict[str, dict[object, Val]] = {}  # name -> the items it holds, by constant key
        self._init_params: set[str] = set()
        self._bindings: dict[str, ast.Call] = {}  # local name -> the call it was assigned from (sources mode)
        self._self_defaults: dict[str, ast.expr] = {}  # self.x = x: x's default in __init__
        self._defaulted: dict[str, object] = {}  # parameters nobody passed -> their constant default
        self._seed_defaults()
        self._collect_locals()
        self._run()
        if outputs is None:
            self.live = live_statements(fn)
        else:  # what the sinks differentiate, not what the function returns
            self.returns = [node for node in outputs if id(node) in self.stmt_of]
            self.live = live_statements(fn, [(self.stmt_of[id(node)], names_in(node)) for node in self.returns])

    # --- public queries --------------------------------------------------------------------
    def val(self, node: ast.AST) -> Val:
        return self.vals.get(id(node), CLEAN)

    def op(self, node: ast.Call) -> Op | None:
        return self.ops.get(id(node))

    def constructor(self, call: ast.Call) -> ast.Call | None:
        """The call that built the object ``call`` invokes: ``Loss(...)(a, b)``; ``fn = Loss(...)`` then
        ``fn(a, b)`` (bound in this function, an enclosing one, or at module level); ``self.fn = Loss(...)`` in
        the class's ``__init__``. None when unknown (a parameter, a value computed some other way)."""
        built = self._built_at(call)
        return built[0] if built is not None else None

    def _built_at(self, call: ast.Call) -> tuple[ast.Call, int] | None:
        """``constructor`` and the first line of the block it sits in."""
        func = call.func
        if isinstance(func, ast.Call):
            return func, self.block_start
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            stored = self._self_attrs.get(func.attr)  # set in __init__, in the same class block
            return (stored, self.block_start) if isinstance(stored, ast.Call) else None
        if not isinstance(func, ast.Name):
            return None
        for fn in (self.fn, *self.enclosing):  # nested functions share their outer function's block
            bound = _locals_of(fn).bindings.get(func.id)
            if bound is not None:
                return bound, self.block_start
        if func.id in self.env:  # a parameter or a local bound to something other than a call
            return None
        value, block = self.module.assignments.get(func.id, (None, None))
        return (value, block.start) if isinstance(value, ast.Call) and block is not None else None

    def is_live(self, node: ast.AST) -> bool:
        stmt = self.stmt_of.get(id(node))
        if stmt is None or id(stmt) not in self.live:
            return False
        if self._dead_items is None:
            self._dead_items = _unread_items(self.fn)
        return id(node) not in self._dead_items

    def nodes(self, kind: type | tuple[type, ...] = ast.AST, live: bool = True) -> Iterator[ast.AST]:
        """Expressions of this function (not helpers) in evaluation order, live ones by default."""
        for node in self._evaluated.values():
            if isinstance(node, kind) and (not live or self.is_live(node)):
                yield node

    def walk(self) -> list[ast.AST]:
        """Every node of the function (``ast.walk``, computed once)."""
        if self._walk is None:
            self._walk = subtree(self.fn)
        return self._walk

    def all_flows(self) -> Iterator[Flow]:
        """This flow and the flows of the helpers it calls on its live path."""
        yield self
        seen = {id(self.fn)}
        for call, helper in self.helpers:
            if self.is_live(call) and id(helper.fn) not in seen:
                seen.add(id(helper.fn))
                yield from helper.all_flows()

    def evaluated(self, node: ast.AST) -> bool:
        """Whether the forward pass evaluated this node (an expression of this function, not a def)."""
        return id(node) in self.stmt_of

    def hard_op(self, node: ast.AST) -> str | None:
        """The kind of non-differentiable op ("compare", "round", "sign"...) applied here to a gradient-carrying value."""
        return self._hard_ops.get(id(node))

    def rank_mismatches(self, live: bool = True) -> Iterator[tuple[ast.AST, ast.AST, ast.AST]]:
        """Elementwise ops between y_true- and y_pred-derived tensors of different known ranks:
        (op node, y_true side, y_pred side)."""
        return (b for b in self._broadcasts if not live or self.is_live(b[0]))

    def dtype_mismatches(self, live: bool = True) -> Iterator[tuple[ast.AST, ast.AST]]:
        """Elementwise ops between integer y_true-derived and float y_pred-derived tensors: (op node, integer side)."""
        return (m for m in self._mixed_dtypes if not live or self.is_live(m[0]))

    def cached(self, key: str, compute: Callable[[Flow], T]) -> T:
        """A result derived from this flow, computed once and shared by the rules that need it."""
        if key not in self._memo:
            self._memo[key] = compute(self)
        return self._memo[key]  # type: ignore[return-value]

    def returned(self) -> Val:
        out: Val | None = None
        for node in self.returns:
            v = self.val(node)
            out = v if out is None else out.join(v)
        return out or CLEAN

    def returned_fields(self) -> dict[object, Val] | None:
        """Items by constant key when every return is a dict literal with the same constant keys."""
        fields = [self._fields.get(id(r)) for r in self.returns if isinstance(r, ast.Dict)]
        if not fields or len(fields) != len(self.returns) or any(f is None for f in fields):
            return None
        keys = set(fields[0])  # type: ignore[arg-type]
        if any(set(f) != keys for f in fields):  # type: ignore[arg-type]
            return None
        return {k: _join_all([f[k] for f in fields]) for k in keys}  # type: ignore[index]

    def _item(self, node: ast.Subscript) -> Val | None:
        """``out["loss"]`` / ``parts[0]`` of a container whose items are known by constant key."""
        key = const_number(node.slice) if isinstance(node.slice, ast.UnaryOp) else None  # parts[-1]
        if key is None and isinstance(node.slice, ast.Constant):
            key = node.slice.value
        if not isinstance(node.value, ast.Name) or key is None:
            return None
        fields = self._containers.get(node.value.id)
        if fields is None or key not in fields:
            return None
        return fields[key]

    def returned_elements(self) -> list[Val] | None:
        """Element-wise values when every return is a tuple of the same length (``return a, b, mask``)."""
        if not self.returns or not all(isinstance(r, ast.Tuple) for r in self.returns):
            return None
        lengths = {len(r.elts) for r in self.returns}  # type: ignore[attr-defined]
        if len(lengths) != 1 or any(isinstance(e, ast.Starred) for r in self.returns for e in r.elts):  # type: ignore[attr-defined]
            return None
        out = [self.val(e) for e in self.returns[0].elts]  # type: ignore[attr-defined]
        for r in self.returns[1:]:
            out = [a.join(self.val(e)) for a, e in zip(out, r.elts)]  # type: ignore[attr-defined]
        return out

    # --- setup -------------------------------------------------------------------------------
    def _seed_defaults(self) -> None:
        """Parameters nobody passed take their default values (``smooth=1.0`` guards a division)."""
        args = self.fn.args
        positional = args.posonlyargs + args.args
        pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
        for param, default in pairs:
            if param.arg not in self.env or self.env[param.arg] == CLEAN:
                self.env[param.arg] = _constant_val(self.module, default)
                if isinstance(default, ast.Constant):
                    self._defaulted[param.arg] = default.value

    def _collect_locals(self) -> None:
        local = _locals_of(self.fn)
        self.local_imports.update(local.imports)
        for name, value in local.aliases.items():  # ops = keras.ops inside the function: an import by that name
            path = self.module.resolve(value, self.local_imports)
            if path is not None and path.split(".", 1)[0] in ("tensorflow", "keras", "tf_keras", "numpy"):
                self.local_imports.setdefault(name, path)
        for name, node in local.functions:
            if node is not self.fn:
                self.local_functions[name] = node
        if self.sources:
            self._bindings.update(local.bindings)
        for outer in self.enclosing:
            for name, node in _locals_of(outer).functions:
                if node is not self.fn:
                    self.local_functions.setdefault(name, node)
        # What the constructor and ``build`` store on self (Keras layers make their sublayers in build), in this
        # class and then its base classes of this module: a subclass's own assignment wins.
        for init in _attribute_setters(self.module, self.cls):
            if init.name == "__init__":
                self._init_params |= {a.arg for a in init.args.args + init.args.kwonlyargs}
            for attr, value in _locals_of(init).self_attrs.items():
                self._self_attrs.setdefault(attr, value)
                default = param_default(init, value.id) if isinstance(value, ast.Name) else None
                if default is not None:  # self.epsilon = epsilon: the value is the parameter's default
                    self._self_defaults.setdefault(attr, default)
                elif isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or) and \
                        isinstance(value.values[0], ast.Name):  # self.eps = eps or K.epsilon()
                    default = param_default(init, value.values[0].id)
                    if default is not None:
                        self._self_defaults.setdefault(attr, ast.BoolOp(ast.Or(), [default, *value.values[1:]]))

    def _run(self) -> None:
        if isinstance(self.fn, ast.Lambda):
            self._stmt = self.fn
            self.returns.append(self.fn.body)
            self.ev(self.fn.body)
            return
        self._block(self.fn.body)

    # --- statements --------------------------------------------------------------------------
    def _block(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self._statement(stmt)
            if body is getattr(self.fn, "body", None) and self._returns_by_default(stmt):
                break  # ``if not use_masking: return res`` with use_masking=False nobody passed: the rest never runs

    def _returns_by_default(self, stmt: ast.stmt) -> bool:
        """A top-level ``if [not] flag: ... return`` whose flag is a parameter left at its constant default."""
        if not isinstance(stmt, ast.If) or stmt.orelse or not isinstance(stmt.body[-1], ast.Return):
            return False
        test, negated = stmt.test, False
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            test, negated = test.operand, True
        if not isinstance(test, ast.Name) or test.id not in self._defaulted:
            return False
        return bool(self._defaulted[test.id]) != negated

    def _statement(self, stmt: ast.stmt) -> None:
        self._stmt = stmt
        if isinstance(stmt, ast.Assign):
            v = self.ev(stmt.value)
            for target in stmt.targets:
                self._bind(target, v, stmt.value)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self._bind(stmt.target, self.ev(stmt.value), stmt.value)
        elif isinstance(stmt, ast.AugAssign):
            right = self.ev(stmt.value)
            left = self.ev(stmt.target) if isinstance(stmt.target, ast.Name) else CLEAN
            self._bind(stmt.target, self._binop(stmt.op, left, right, stmt.target, stmt.value), stmt.value)
        elif isinstance(stmt, ast.Return):
            if stmt.value is not None:
                self.returns.append(stmt.value)
                self.ev(stmt.value)
        elif isinstance(stmt, ast.Expr):
            v = self.ev(stmt.value)
            self._mutation(stmt.value, v)
            self._assertion(stmt.value)
        elif isinstance(stmt, ast.If):
            self.ev(stmt.test)
            before = dict(self.env)
            self._block(stmt.body)
            after_body = self.env
            self.env = dict(before)
            self._block(stmt.orelse)
            self.env = self._join_env(after_body, self.env)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            it = self.ev(stmt.iter)
            before = dict(self.env)
            for _ in range(2):
                self._stmt = stmt
                self._bind_loop_target(stmt.target, stmt.iter, it.taint_only().but(rank=None))
                self._block(stmt.body)
            self._block(stmt.orelse)
            self.env = self._join_env(before, self.env)
        elif isinstance(stmt, ast.While):
            before = dict(self.env)
            for _ in range(2):
                self._stmt = stmt
                self.ev(stmt.test)
                self._block(stmt.body)
            self._block(stmt.orelse)
            self.env = self._join_env(before, self.env)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                v = self.ev(item.context_expr)
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, v.taint_only(), None)
            self._block(stmt.body)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            self._block(stmt.body)  # type: ignore[attr-defined]
            for handler in stmt.handlers:  # type: ignore[attr-defined]
                self._block(handler.body)
            self._block(stmt.orelse)  # type: ignore[attr-defined]
            self._block(stmt.finalbody)  # type: ignore[attr-defined]
        elif isinstance(stmt, ast.Match):
            self.ev(stmt.subject)
            for case in stmt.cases:
                self._block(case.body)
        # def/class/import/pass/raise/assert/del/global: nothing flows

    def _join_env(self, a: dict[str, Val], b: dict[str, Val]) -> dict[str, Val]:
        out = dict(a)
        for name, v in b.items():
            if out.get(name) != v:
                self._containers.pop(name, None)  # bound differently on two paths: its items are not known
            out[name] = out[name].join(v) if name in out else v
        return out

    def _bind(self, target: ast.AST, v: Val, value: ast.AST | None) -> None:
        if isinstance(target, ast.Name):
            self.env[target.id] = v
            self._defaulted.pop(target.id, None)  # rebound: no longer the default
            fields = self._fields.get(id(value)) if value is not None else None
            if fields is not None:
                self._containers[target.id] = fields  # out = helper(): out["loss"] is that item, not all of them
            else:
                self._containers.pop(target.id, None)
        elif isinstance(target, (ast.Tuple, ast.List)):
            parts = value.elts if isinstance(value, (ast.Tuple, ast.List)) else None
            elements = self._elements.get(id(value)) if value is not None else None
            for index, elt in enumerate(target.elts):
                if isinstance(elt, ast.Starred):
                    elt = elt.value
                if parts is not None and len(parts) == len(target.elts):
                    self._bind(elt, self.val(parts[index]), parts[index])
                elif elements is not None and len(elements) == len(target.elts):
                    self._bind(elt, elements[index], None)  # a helper's tuple, element by element
                else:  # which element is which is not known; in training code, nor whether it is a tensor
                    self._bind(elt, v.taint_only().but(rank=None, tensor=v.tensor and not self.sources), None)
        elif isinstance(target, ast.Subscript):
            self.ev(target.slice)
            base = target.value
            if isinstance(base, ast.Name):
                self._containers.pop(base.id, None)  # pair[0] = x: the items known by index are not the items now
                self.env[base.id] = self.env.get(base.id, CLEAN).join(v).but(
                    pred=self.env.get(base.id, CLEAN).pred or v.pred)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, v, None)
        elif (self.sources and isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
              and target.value.id == "self"):
            self.env[f"self.{target.attr}"] = v  # graph code keeps its tensors on self: self.loss = ...

    def _assertion(self, node: ast.expr) -> None:
        """``tf.debugging.assert_greater(n, 0.0)``: past this line ``n`` is positive (the assert raises otherwise)."""
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Name)):
            return
        op = self.ops.get(id(node))
        name = op.name.rsplit(".", 1)[-1] if op is not None and op.namespace == "tf" else ""
        if name not in _POSITIVE_ASSERTS:
            return
        bound = _POSITIVE_ASSERTS[name]
        if bound is not None:
            limit = const_number(node.args[1]) if len(node.args) > 1 else None
            if limit is None or limit < bound:
                return
        target = node.args[0].id
        self.env[target] = self.env.get(target, CLEAN).but(positive=True, nonneg=True)

    def _bind_loop_target(self, target: ast.AST, iterable: ast.AST, v: Val) -> None:
        """``for k, v in d.items()`` / ``for i, x in enumerate(xs)``: keys and indices are not tensors."""
        if isinstance(iterable, ast.Call) and isinstance(target, ast.Tuple) and len(target.elts) == 2:
            func = iterable.func
            keyed = isinstance(func, ast.Attribute) and func.attr == "items"
            counted = isinstance(func, ast.Name) and func.id == "enumerate" and func.id not in self.env
            if keyed or counted:
                self._bind(target.elts[0], CLEAN, None)
                self._bind(target.elts[1], v, None)
                return
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute) and iterable.func.attr == "keys":
            self._bind(target, CLEAN, None)
            return
        self._bind(target, v, None)

    def _mutation(self, node: ast.expr, v: Val) -> None:
        """``terms.append(x)`` makes ``terms`` carry x; ``tape.watch(x)`` makes x a source."""
        if (self.sources and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "watch" and node.args and isinstance(node.args[0], ast.Name)):
            self.env[node.args[0].id] = self.env.get(node.args[0].id, CLEAN).but(pred=True, data=True, tensor=True)
            return
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.attr in ("append", "extend", "insert", "add")):
            name = node.func.value.id
            self._containers.pop(name, None)  # items added (or shifted, by insert): no longer known by index
            args = combine(*(self.val(a) for a in node.args))
            self.env[name] = self.env.get(name, CLEAN).join(args).but(
                pred=self.env.get(name, CLEAN).pred or args.pred)

    # --- expressions -------------------------------------------------------------------------
    def ev(self, node: ast.AST) -> Val:
        self.stmt_of[id(node)] = self._stmt
        self._evaluated[id(node)] = node
        v = self._eval(node)
        self.vals[id(node)] = v
        return v

    def _eval(self, node: ast.AST) -> Val:  # noqa: C901 - one dispatch over node kinds
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                x = node.value
                return Val(positive=x > 0, nonneg=x >= 0, bounded=True, zero=x == 0, high=_finite(x))
            return CLEAN
        if isinstance(node, ast.BinOp):
            left, right = self.ev(node.left), self.ev(node.right)
            if not isinstance(node.op, (ast.MatMult, ast.Mod, ast.LShift, ast.RShift)):
                self._check_pair(node, node.left, node.right, left, right)
            v = self._binop(node.op, left, right, node.left, node.right)
            return self._hard(node, "floordiv", v) if isinstance(node.op, ast.FloorDiv) else v  # no gradient
        if isinstance(node, ast.UnaryOp):
            inner = self.ev(node.operand)
            if isinstance(node.op, ast.Not):
                return combine(inner).but(pred=False, integer=True)
            if isinstance(node.op, ast.USub):
                return inner.taint_only().but(bounded=inner.bounded, zero=inner.zero, nonpos=inner.nonneg,
                                              nonneg=inner.nonpos)
            return inner.taint_only()
        if isinstance(node, ast.BoolOp):
            return combine(*(self.ev(v) for v in node.values))
        if isinstance(node, ast.Compare):
            parts = [self.ev(node.left), *(self.ev(c) for c in node.comparators)]
            if all(isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)) for op in node.ops):
                return CLEAN  # identity and membership tests give a Python bool, not a tensor
            joined = combine(*parts)
            return self._hard(node, "compare", joined).but(integer=True)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Subscript):
            base = self.ev(node.value)
            self.ev(node.slice)
            item = self._item(node)
            if item is not None:
                return item
            return base.but(rank=None, prob="", zero=False)
        if isinstance(node, ast.IfExp):
            self.ev(node.test)
            return self.ev(node.body).join(self.ev(node.orelse))
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            values = [self.ev(e) for e in node.elts]
            if not isinstance(node, ast.Set) and not any(isinstance(e, ast.Starred) for e in node.elts):
                # pair = [a, b]; pair[1] is b alone (a threshold or a log in a is not on its path)
                by_index = {**dict(enumerate(values)), **{i - len(values): v for i, v in enumerate(values)}}
                self._fields[id(node)] = by_index
            return combine(*values)
        if isinstance(node, ast.Dict):
            values = [self.ev(v) for v in node.values if v is not None]
            if all(isinstance(k, ast.Constant) for k in node.keys):
                self._fields[id(node)] = {k.value: self.val(v) for k, v in zip(node.keys, node.values)}  # type: ignore[union-attr]
            return combine(*values)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return self._comprehension(node)
        if isinstance(node, ast.Starred):
            return self.ev(node.value)
        if isinstance(node, ast.Lambda):  # tf.cond(p, lambda: a, lambda: b): the body's value, params unknown
            saved = dict(self.env)
            element = self._mapped.pop(id(node), CLEAN)  # map_fn(lambda p: ..., elems): p is an element
            for param in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
                self.env[param.arg] = element
            out = self.ev(node.body)
            self.env = saved
            return out
        if isinstance(node, ast.NamedExpr):
            v = self.ev(node.value)
            self._bind(node.target, v, node.value)
            return v
        if isinstance(node, ast.Slice):
            for part in (node.lower, node.upper, node.step):
                if part is not None:
                    self.ev(part)
            return CLEAN
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom)) and node.value is not None:
            return self.ev(node.value)
        if isinstance(node, ast.JoinedStr):
            for value in node.values:
                self.ev(value)
            return CLEAN
        if isinstance(node, ast.FormattedValue):
            self.ev(node.value)
            return CLEAN
        return CLEAN

    def _name(self, name: str) -> Val:
        if name in self.env:
            return self.env[name]
        if name in self._constants:
            return self._constants[name]
        for outer in self.enclosing:  # a factory's parameter: its default, unless the factory rebinds it
            if _binds(outer, name):
                default = param_default(outer, name)
                if default is None or assigns(outer, name):
                    return CLEAN
                self._constants[name] = _constant_val(self.module, default)
                return self._constants[name]
        if name in self.module.assignments:
            value, _ = self.module.assignments[name]
            self._constants[name] = CLEAN  # guard against self-reference
            tensor = _global_tensor(self.module, value) if self.sources else None
            self._constants[name] = tensor if tensor is not None else _constant_val(self.module, value)
            return self._constants[name]
        return CLEAN

    def _attribute(self, node: ast.Attribute) -> Val:
        if node.attr in _FINFO_POSITIVE and isinstance(node.value, ast.Call) and \
                (dotted(node.value.func) or "").endswith("finfo"):
            return Val(positive=True, nonneg=True, bounded=True)  # np.finfo(dtype).eps: the machine epsilon
        op = self.module.op(node, self.local_imports)
        if op is not None:
            if op.name in ("pi", "e", "inf") or op.name.endswith("epsilon"):
                return Val(positive=True, nonneg=True, bounded=op.name != "inf")
            return CLEAN
        if self.sources and isinstance(node.value, ast.Name) and node.value.id == "self":
            if f"self.{node.attr}" in self.env:
                return self.env[f"self.{node.attr}"]
            held = self._class_tensors().get(node.attr)
            if held is not None:
                return held
        if isinstance(node.value, ast.Name) and node.value.id == "self" and self.cls is not None:
            value = self._self_defaults.get(node.attr, self._self_attrs.get(node.attr))
            return _constant_val(self.module, value) if value is not None else CLEAN
        base = self.ev(node.value)
        if node.attr in _SHAPE_ATTRS:
            return CLEAN
        if node.attr == "T":
            return base.taint_only()
        return base.taint_only()

    def _class_tensors(self) -> dict[str, Val]:
        """Tensors a graph-building class keeps on ``self`` from its other methods (``self.x = tf.placeholder(...)``
        in ``__init__``, ``self.out = tf.nn.softmax(...)`` in ``build_model``), read by the method holding the
        sink. Each other method is evaluated once per class, in class order, seeing what the earlier ones kept;
        only values that carry the gradient or are fed data count (the rest keep their constant meaning)."""
        cls = self.cls
        if cls is None or self.depth >= _MAX_HELPER_DEPTH or id(cls) in _COLLECTING:
            return {}
        # Kept on the class node for the module it was computed in (an unchanged class outlives edits
        # elsewhere, which may change the module-level tensors its methods read).
        stored = cls.__dict__.get("_loss_lsp_class_tensors")
        if stored is not None and stored[0]() is self.module:
            return stored[1]  # type: ignore[no-any-return]
        held = self._collect_class_tensors(cls)
        cls.__dict__["_loss_lsp_class_tensors"] = (weakref.ref(self.module), held)
        return held

    def _collect_class_tensors(self, cls: ast.ClassDef) -> dict[str, Val]:
        held: dict[str, Val] = {}
        _COLLECTING.add(id(cls))
        try:
            for method in cls.body:
                if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or method is self.fn:
                    continue
                args = method.args
                seeds = {a.arg: Val(data=True, true=True) for a in args.posonlyargs + args.args + args.kwonlyargs
                         if a.arg != "self"}
                seeds.update({f"self.{attr}": v for attr, v in held.items()})
                sub = Flow(self.module, method, seeds, self.block_start, cls=cls, depth=self.depth + 1,
                           sources=True)
                for key, v in sub.env.items():
                    if key.startswith("self.") and (v.pred or (v.true and v.tensor)):
                        held[key[len("self."):]] = v
        finally:
            _COLLECTING.discard(id(cls))
        return held

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> Val:
        saved = dict(self.env)
        for gen in node.generators:
            it = self.ev(gen.iter)
            self._bind(gen.target, it.taint_only().but(rank=None), None)
            for cond in gen.ifs:
                self.ev(cond)
        if isinstance(node, ast.DictComp):
            self.ev(node.key)
            out = self.ev(node.value)
        else:
            out = self.ev(node.elt)
        self.env = saved
        return out.taint_only()

    def _check_pair(self, node: ast.AST, lnode: ast.AST, rnode: ast.AST, left: Val, right: Val) -> None:
        """Elementwise ops between y_true- and y_pred-derived tensors: rank and dtype agreement."""
        for a, an, b, bn in ((left, lnode, right, rnode), (right, rnode, left, lnode)):
            if not (a.true and not a.pred and b.pred and a.tensor and b.tensor):
                continue
            if a.rank is not None and b.rank is not None and a.rank != b.rank and min(a.rank, b.rank) >= 1:
                self._broadcasts.append((node, an, bn))
            if a.integer and not b.integer:
                self._mixed_dtypes.append((node, an))

    def _binop(self, op: ast.operator, left: Val, right: Val, lnode: ast.AST, rnode: ast.AST) -> Val:
        base = combine(left, right)
        bounded = left.bounded and right.bounded
        if isinstance(op, ast.Add):
            # x + <positive constant> is how people guard a value ("+ eps", "+ smooth"): take it as intended.
            positive = ((left.positive and right.nonneg) or (left.nonneg and right.positive)
                        or (right.positive and not right.data) or (left.positive and not left.data))
            return base.but(positive=positive, nonneg=left.nonneg and right.nonneg, bounded=bounded,
                            zero=left.zero and right.zero, high=_sum_high(left, right))
        if isinstance(op, ast.Sub):
            one = const_number(lnode) == 1.0
            if self._max_of(rnode, lnode):  # x - max(x): the softmax stabilisation, every element <= 0
                return base.but(nonpos=True, high=0.0)
            return base.but(bounded=bounded, prob=f"1-{right.prob}" if one and right.prob else "",
                            positive=one and right.below_one, high=left.high if right.nonneg else None)
        if isinstance(op, ast.Mult):
            if left.zero or right.zero:  # x * 0.0: a constant, whatever x carried
                return Val(zero=True, nonneg=True, bounded=True, tensor=base.tensor, rank=base.rank)
            square = ast.dump(lnode) == ast.dump(rnode)
            return base.but(
                positive=left.positive and right.positive,
                nonneg=(left.nonneg and right.nonneg) or square,
                bounded=bounded, zero=left.zero or right.zero, high=_product_high(left, right),
            )
        if isinstance(op, (ast.Div, ast.FloorDiv)):
            return base.but(positive=left.positive and right.positive, nonneg=left.nonneg and right.nonneg,
                            source_op="" if right.positive or not right.data else "divide")
        if isinstance(op, ast.Pow):
            exponent = const_number(rnode)
            if exponent is not None and exponent == int(exponent) and int(exponent) % 2 == 0 and exponent > 0:
                return base.but(nonneg=True, positive=left.positive, below_one=left.unit)
            if exponent is not None and 0 < exponent < 1:
                return base.but(nonneg=True, positive=left.positive, source_op="" if left.positive else "sqrt")
            if exponent is not None and exponent < 0:
                return base.but(positive=left.positive, source_op="" if left.positive else "divide")
            return base.but(positive=left.positive, nonneg=left.nonneg)
        return base

    def _max_of(self, node: ast.AST, of: ast.AST) -> bool:
        """``max(x, axis)`` (or its stop_gradient) of the expression ``of``."""
        while isinstance(node, ast.Call) and node.args:
            op = self.ops.get(id(node))
            name = op.name.rsplit(".", 1)[-1] if op is not None else ""
            if name in ("reduce_max", "max", "amax"):
                return ast.dump(node.args[0]) == ast.dump(of)
            if name not in ("stop_gradient",):
                return False
            node = node.args[0]
        return False

    # --- calls -------------------------------------------------------------------------------
    def _call(self, node: ast.Call) -> Val:
        func = node.func
        if len(node.args) > 1 and isinstance(node.args[0], ast.Lambda) and \
                (dotted(func) or "").rsplit(".", 1)[-1] in _MAPS:
            self._mapped[id(node.args[0])] = self.ev(node.args[1]).taint_only().but(rank=None)
        op = self.module.op(func, self.local_imports) if not (
            isinstance(func, ast.Name) and (func.id in self.env or func.id in self.local_functions)) else None
        self.ops[id(node)] = op
        receiver: Val | None = None
        if op is None and isinstance(func, ast.Attribute):
            receiver = self.ev(func.value)
        elif op is None and not isinstance(func, ast.Name):
            self.ev(func)
        args = [self.ev(a) for a in node.args]
        kwargs = {kw.arg or "**": self.ev(kw.value) for kw in node.keywords}
        if self.sources and op is not None and is_source_op(op):
            return SOURCE.but(rank=source_rank(op, node, args))
        if self.sources and op is None and self._model_call(node):
            built = self._built_at(node)
            ends_in = output_activation(self.module, built[0], self.local_imports,
                                        built[1] + built[0].lineno - 1) if built is not None else ""
            return SOURCE.but(ends_in=ends_in, nonneg=bool(ends_in), bounded=bool(ends_in),
                              high=1.0 if ends_in else None)
        if op is not None:
            out = self._library(node, op, OpCall(node, args, kwargs))
            if op.name.rsplit(".", 1)[-1] in ("shape", "size") and node.args and \
                    isinstance(node.args[0], ast.Name) and node.args[0].id in self._parameters():
                # the shape of a tensor the function is given (y_true, a batch): 0 only for an empty batch,
                # where nothing trains; a masked or gathered tensor's shape can be 0 and stays unknown
                out = out.but(positive=True, nonneg=True)
            return out
        if isinstance(func, ast.Attribute):
            if (isinstance(func.value, ast.Name) and func.value.id == "self" and self.cls is not None):
                method = next((n for n in self.cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                               and n.name == func.attr), None)
                if method is not None:
                    return self._helper(node, method, args, kwargs, self.block_start, skip_self=True)
                stored = self._self_attrs.get(func.attr)  # self.loss_fn = my_loss in __init__
                if self.sources and isinstance(stored, ast.Name) and stored.id in self.module.functions:
                    helper, block = self.module.functions[stored.id]
                    return self._helper(node, helper, args, kwargs, block.start)
            return self._method(func.attr, receiver or CLEAN, self._unknown_args(args, kwargs))
        if isinstance(func, ast.Name):
            name = func.id
            helper, start = self.local_functions.get(name), self.block_start
            if helper is None and name in self.module.functions:
                helper, block = self.module.functions[name]
                start = block.start
            if helper is not None and name not in self.env:
                return self._helper(node, helper, args, kwargs, start)
            return self._builtin(node, name, self._unknown_args(args, kwargs))
        return combine(*args, *kwargs.values())

    def _model_call(self, node: ast.Call) -> bool:
        """A call of a model or layer (``model(x)``, ``self(x)``, ``self.encoder(h)``, ``Dense(4)(h)``)."""
        func = node.func
        if isinstance(func, ast.Name):
            if func.id == "self":
                return self.cls is not None
            if func.id in self.local_functions or func.id in self.module.functions or not node.args:
                return False
            return is_model_name(self.module, func.id, self._bindings.get(func.id), self._parameters())
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            if self.cls is None:
                return False
            if func.attr == "add_weight":
                return True
            if self.fn.name == "compute_loss":
                return False  # the model already ran (y_pred): layers called here encode x and y (label encoders)
            # A sub-model or layer the constructor stores (``self.encoder = encoder`` / ``= layers.Dense(4)``);
            # attributes set elsewhere (a base class, build) are not known to be models.
            value = self._self_attrs.get(func.attr)
            if value is None or not node.args or not not_loss_like(func.attr):
                return False
            if isinstance(value, ast.Call):
                return is_model_constructor(self.module, value, self.local_imports)
            return isinstance(value, ast.Name) and value.id in self._init_params
        if isinstance(func, ast.Call):
            return is_model_constructor(self.module, func, self.local_imports)
        return False

    def _parameters(self) -> set[str]:
        names = set()
        for fn in (self.fn, *self.enclosing):
            args = fn.args
            names.update(a.arg for a in args.posonlyargs + args.args + args.kwonlyargs)
        return names

    def _unknown_args(self, args: list[Val], kwargs: dict[str, Val]) -> list[Val]:
        """What a call of an unknown function depends on: in training code keywords carry values too
        (``aggregate_losses(per_example_loss=td_loss)``)."""
        return [*args, *kwargs.values()] if self.sources else args

    def _method(self, name: str, receiver: Val, args: list[Val]) -> Val:
        if name in _CUT_METHODS:
            return receiver.taint_only().but(pred=False, cut=receiver.pred or receiver.cut, tensor=False)
        if name in ("get_shape", "shape"):
            return CLEAN
        out = combine(receiver, *args)
        return out.but(tensor=False) if self.sources else out  # training code: not known to be a tensor

    def _hard(self, node: ast.AST, kind: str, v: Val) -> Val:
        """The output of a non-differentiable op: no gradient; remember where it came from."""
        if v.pred:
            self._hard_ops[id(node)] = kind
            return v.but(pred=False, positive=False, thresholds=v.thresholds | {id(node)})
        return v.but(pred=False, positive=False)

    def _builtin(self, node: ast.Call, name: str, args: list[Val]) -> Val:
        joined = combine(*args)
        if name in _CUT_BUILTINS:
            return joined.but(pred=False, cut=joined.pred or joined.cut, tensor=False)
        if name in ("len", "isinstance", "print", "range", "type", "str", "repr", "hasattr", "getattr"):
            return CLEAN
        if name == "round":
            return self._hard(node, "round", joined)
        if name == "abs" and args:
            return args[0].taint_only().but(nonneg=True, positive=args[0].positive)
        joined = joined.but(opaque=joined.pred and name in self._parameters())  # a callable passed in
        return joined.but(tensor=False) if self.sources else joined  # training code: not known to be a tensor

    def _helper(self, node: ast.Call, fn: FunctionNode, args: list[Val], kwargs: dict[str, Val],
                block_start: int, skip_self: bool = False) -> Val:
        if self.depth >= _MAX_HELPER_DEPTH or fn is self.fn:
            return combine(*args, *kwargs.values())
        params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        if skip_self and params[:1] == ["self"]:
            params = params[1:]
        seeds = {p: CLEAN for p in params}
        for param, v in zip(params, args):
            seeds[param] = v
        for key, v in kwargs.items():
            if key in seeds:
                seeds[key] = v
        cls = self.cls if skip_self else None
        sub = Flow(self.module, fn, seeds, block_start, cls=cls, depth=self.depth + 1,
                   enclosing=[self.fn, *self.enclosing], sources=self.sources)
        self.helpers.append((node, sub))
        elements = sub.returned_elements()
        if elements is not None:
            self._elements[id(node)] = elements
            self._fields[id(node)] = dict(enumerate(elements))
        fields = sub.returned_fields()
        if fields is not None:
            self._fields[id(node)] = fields
        return sub.returned()


    def _library(self, node: ast.Call, op: Op, call: OpCall) -> Val:
        """A library op: its catalogue entry says what it does; hazards are recorded for the rules."""
        entry = entry_for(op)
        if entry is None:
            return namespace_transfer(op, call)
        args = call.args
        if entry.pairwise and len(node.args) >= 2:
            self._check_pair(node, node.args[0], node.args[1], args[0], args[1])
        if entry.arithmetic is not None and len(args) >= 2:
            return self._binop(entry.arithmetic(), args[0], args[1], node.args[0], node.args[1])
        v = entry.transfer(call)
        if entry.elements is not None:
            self._elements[id(node)] = entry.elements(call)
        if entry.hard and (entry.hard_when is None or entry.hard_when(call)):
            v = self._hard(node, entry.hard, v)
        return v


def _unread_items(fn: FunctionNode) -> set[int]:
    """Nodes inside the items of a list/tuple/dict literal that nothing reads: ``pair = [log(p), sq]`` where
    the function reads only ``pair[1]``. Only for a name bound once and read only by constant subscripts."""
    if isinstance(fn, ast.Lambda):
        return set()
    literals: dict[str, ast.List | ast.Tuple | ast.Dict] = {}
    stores: dict[str, int] = {}
    reads: dict[str, set[object] | None] = {}
    subscripted: set[int] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and \
                isinstance(node.value, (ast.List, ast.Tuple, ast.Dict)):
            literals[node.targets[0].id] = node.value
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and isinstance(node.ctx, ast.Load):
            key = const_number(node.slice) if isinstance(node.slice, ast.UnaryOp) else (
                node.slice.value if isinstance(node.slice, ast.Constant) else None)
            if key is not None:
                subscripted.add(id(node.value))
                used = reads.setdefault(node.value.id, set())
                if used is not None:
                    used.add(key)
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and node.id in literals:
            if not isinstance(node.ctx, ast.Load):
                stores[node.id] = stores.get(node.id, 0) + 1
            elif id(node) not in subscripted:
                reads[node.id] = None  # read whole (passed, unpacked, mutated): every item may be used
    dead: set[int] = set()
    for name, literal in literals.items():
        used = reads.get(name)
        starred = any(isinstance(e, ast.Starred) for e in getattr(literal, "elts", []))
        if used is None or stores.get(name) != 1 or starred:
            continue
        if isinstance(literal, ast.Dict):
            if not all(isinstance(k, ast.Constant) for k in literal.keys):
                continue
            items = [(k.value, v) for k, v in zip(literal.keys, literal.values)]  # type: ignore[union-attr]
        else:
            items = [(i, e) for i, e in enumerate(literal.elts)]
            used = {int(i) + len(items) if isinstance(i, (int, float)) and i < 0 else i for i in used}  # pair[-1]
        for key, item in items:
            if key not in used:
                dead.update(id(n) for n in ast.walk(item))
    return dead


_MAPS = {"map_fn", "vectorized_map", "map"}  # functions that call a lambda on each element of their 2nd argument
_COLLECTING: set[int] = set()  # classes whose methods are being evaluated for _class_tensors (no recursion)


def param_default(fn: FunctionNode, name: str) -> ast.expr | None:
    """The default value of parameter ``name`` of ``fn`` (None: no such parameter or no default)."""
    args = fn.args
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return next((d for a, d in pairs if a.arg == name), None)


def _binds(fn: FunctionNode, name: str) -> bool:
    args = fn.args
    return any(a.arg == name for a in args.posonlyargs + args.args + args.kwonlyargs)


def assigns(fn: FunctionNode, name: str) -> bool:
    """``name = ...`` somewhere in ``fn``'s own body (not in nested functions)."""
    if isinstance(fn, ast.Lambda):
        return False
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _join_all(vals: list[Val]) -> Val:
    out = vals[0]
    for v in vals[1:]:
        out = out.join(v)
    return out


def _finite(x: float | int | None) -> float | None:
    """A usable bound: finite and representable (a 400-digit integer literal is not)."""
    if x is None:
        return None
    try:
        value = float(x)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _sum_high(a: Val, b: Val) -> float | None:
    return _finite(a.high + b.high) if a.high is not None and b.high is not None else None


def _product_high(a: Val, b: Val) -> float | None:
    """An upper bound of a * b: both factors non-negative, or a non-negative constant times a bounded value."""
    if a.high is None or b.high is None:
        return None
    if a.nonneg and b.nonneg:
        return _finite(a.high * b.high)
    for const, other in ((a, b), (b, a)):
        if const.nonneg and not const.data and const.bounded and not other.nonneg:
            return _finite(const.high * other.high) if other.high >= 0 else None
    return None


@dataclass
class _Locals:
    """What a function defines, in walk order (computed once per function node)."""

    imports: dict[str, str] = field(default_factory=dict)
    functions: list[tuple[str, FunctionNode]] = field(default_factory=list)
    bindings: dict[str, ast.Call] = field(default_factory=dict)  # name -> the call it was assigned from
    self_attrs: dict[str, ast.expr] = field(default_factory=dict)  # self.x = value
    aliases: dict[str, ast.Attribute] = field(default_factory=dict)  # ops = keras.ops (resolved by the Flow)


def _attribute_setters(module: ModuleInfo, cls: ast.ClassDef | None) -> list[ast.FunctionDef]:
    """``__init__`` and ``build`` of a class and of its base classes defined in the same module, nearest first."""
    out: list[ast.FunctionDef] = []
    seen: set[int] = set()
    queue = [cls] if cls is not None else []
    while queue:
        current = queue.pop(0)
        if id(current) in seen or len(seen) > 8:
            continue
        seen.add(id(current))
        out += [n for n in current.body if isinstance(n, ast.FunctionDef) and n.name in ("__init__", "build")]
        queue += [module.classes[base.id][0] for base in current.bases
                  if isinstance(base, ast.Name) and base.id in module.classes]
    return out


def _locals_of(fn: FunctionNode) -> _Locals:
    return on_node(fn, "locals", lambda: _scan_locals(fn))


def _scan_locals(fn: FunctionNode) -> _Locals:
    out = _Locals()
    for node in subtree(fn):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value, ast.Call):
                    out.bindings[target.id] = node.value
                elif isinstance(target, ast.Name) and isinstance(node.value, ast.Attribute):
                    out.aliases[target.id] = node.value
                elif (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                      and target.value.id == "self"):
                    out.self_attrs[target.attr] = node.value
        elif isinstance(node, ast.Import):
            for alias in node.names:
                out.imports[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                out.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node is not fn:
            out.functions.append((node.name, node))
    return out


def _global_tensor(module: ModuleInfo, node: ast.expr) -> Val | None:
    """A module-level tensor that training code in a function reads (TF1 scripts build their inputs and
    weights at module level): a placeholder is data of its declared dtype and rank; variables, alone or in
    a dict/list of weights, carry the gradient. None for anything else."""
    if isinstance(node, ast.Dict):
        node_values: list[ast.expr] = [v for v in node.values if v is not None]
    elif isinstance(node, (ast.List, ast.Tuple)):
        node_values = list(node.elts)
    else:
        node_values = []
    if node_values:
        found = [_global_tensor(module, v) for v in node_values]
        return SOURCE if any(v is not None and v.pred for v in found) else None
    if not isinstance(node, ast.Call):
        return None
    op = module.op(node.func)
    if op is None or op.namespace != "tf":
        return None
    if is_source_op(op):
        return SOURCE.but(rank=source_rank(op, node, [_initial_val(module, a) for a in node.args]))
    if op.name.rsplit(".", 1)[-1] in ("placeholder", "placeholder_with_default"):
        return entry_for(op).transfer(OpCall(node, [], {}))  # type: ignore[union-attr]
    return None


def _initial_val(module: ModuleInfo, node: ast.expr) -> Val:
    """A variable's initial value: ``tf.zeros([784, 10])`` has the rank its shape states."""
    op = module.op(node.func) if isinstance(node, ast.Call) else None
    entry = entry_for(op) if op is not None else None
    if entry is None:
        return _constant_val(module, node)
    return entry.transfer(OpCall(node, [CLEAN] * len(node.args), {}))  # type: ignore[arg-type]


def _constant_val(module: ModuleInfo, node: ast.expr, depth: int = 0) -> Val:
    """The value of a module-level constant or ``self.x`` set in ``__init__`` (never data-derived)."""
    number = const_number(node)
    if number is not None:
        return Val(positive=number > 0, nonneg=number >= 0, bounded=True, zero=number == 0, high=_finite(number))
    if isinstance(node, ast.Call):
        op = module.op(node.func)
        if op is not None and op.name.endswith("epsilon"):
            return Val(positive=True, nonneg=True, bounded=True)
        if op is not None and op.name in ("float32", "float64", "constant") and node.args:
            return _constant_val(module, node.args[0])
    if isinstance(node, ast.Attribute):
        op = module.op(node)
        if op is not None and op.name in ("pi", "e"):
            return Val(positive=True, nonneg=True, bounded=True)
    if isinstance(node, ast.Name) and node.id in module.assignments and depth < 4:
        return _constant_val(module, module.assignments[node.id][0], depth + 1)
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and depth < 4:
        first = const_number(node.values[0])
        if first is not None or (isinstance(node.values[0], ast.Constant) and node.values[0].value is None):
            # `1e-6 or eps()` is its first operand, `None or eps()` the rest
            rest = node.values[1:]
            chosen = node.values[0] if first or not rest else (
                rest[0] if len(rest) == 1 else ast.BoolOp(ast.Or(), rest))
            return _constant_val(module, chosen, depth + 1)
    return CLEAN


