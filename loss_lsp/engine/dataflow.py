"""Dataflow inside one loss: which values carry y_pred's gradient, which come from
y_true only, what is known about their range, and which statements reach the return.

One forward pass computes a ``Val`` for every expression (loops are walked twice so
loop-carried values settle; branches are joined). A backward pass over the
statements then marks the ones whose results reach a ``return``: rules only report
on live expressions, so dead code and debugging prints stay quiet.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine import namespaces as ns
from loss_lsp.engine.module import ModuleInfo, dotted
from loss_lsp.engine.namespaces import Op
from loss_lsp.engine.values import CLEAN, Val, combine

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
_MAX_HELPER_DEPTH = 4
_CUT_METHODS = {"numpy", "tolist", "item", "__array__"}
_CUT_BUILTINS = {"float", "int", "bool", "complex"}
_BINARY = {"add", "subtract", "multiply", "squared_difference", "maximum", "minimum", "divide", "truediv",
           "binary_crossentropy", "categorical_crossentropy", "pow", "power"}
_SHAPE_ATTRS = {"shape", "dtype", "ndim", "name", "device", "rank"}


def _const_number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _const_number(node.operand)
        return -inner if inner is not None else None
    return None


def _names(node: ast.AST | None) -> set[str]:
    if node is None:
        return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


class Flow:
    """The dataflow of one function, seeded with the values of its parameters."""

    def __init__(self, module: ModuleInfo, fn: FunctionNode, seeds: dict[str, Val], block_start: int,
                 cls: ast.ClassDef | None = None, depth: int = 0,
                 enclosing: list[FunctionNode] | None = None) -> None:
        self.module = module
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
        self.memo: dict[str, object] = {}  # per-flow results shared by rules (e.g. naive guards)
        self.returns: list[ast.expr] = []
        self.helpers: list[tuple[ast.Call, Flow]] = []
        self.hard_ops: dict[int, str] = {}  # node id -> "compare"/"round"/"sign"/...
        self.broadcasts: list[tuple[ast.AST, ast.AST, ast.AST]] = []  # (op node, y_true side, y_pred side)
        self.mixed_dtypes: list[tuple[ast.AST, ast.AST]] = []  # (op node, integer operand)
        self.local_imports: dict[str, str] = {}
        self.local_functions: dict[str, FunctionNode] = {}
        self.enclosing = enclosing or []
        self._stmt: ast.AST = fn
        self._constants: dict[str, Val] = {}
        self._self_attrs: dict[str, ast.expr] = {}
        self._seed_defaults()
        self._collect_locals()
        self._run()
        self.live = self._liveness()

    # --- public queries --------------------------------------------------------------------
    def val(self, node: ast.AST) -> Val:
        return self.vals.get(id(node), CLEAN)

    def op(self, node: ast.Call) -> Op | None:
        return self.ops.get(id(node))

    def is_live(self, node: ast.AST) -> bool:
        stmt = self.stmt_of.get(id(node))
        return stmt is not None and id(stmt) in self.live

    def nodes(self, kind: type | tuple[type, ...] = ast.AST, live: bool = True) -> Iterator[ast.AST]:
        """Expressions of this function (not helpers) in evaluation order, live ones by default."""
        for node in self._evaluated.values():
            if isinstance(node, kind) and (not live or self.is_live(node)):
                yield node

    def walk(self) -> list[ast.AST]:
        """Every node of the function (``ast.walk``, computed once)."""
        if self._walk is None:
            self._walk = list(ast.walk(self.fn))
        return self._walk

    def all_flows(self) -> Iterator[Flow]:
        """This flow and the flows of the helpers it calls on its live path."""
        yield self
        seen = {id(self.fn)}
        for call, helper in self.helpers:
            if self.is_live(call) and id(helper.fn) not in seen:
                seen.add(id(helper.fn))
                yield from helper.all_flows()

    def _liveness(self) -> set[int]:
        return _liveness_of(self.fn)

    def returned(self) -> Val:
        out: Val | None = None
        for node in self.returns:
            v = self.val(node)
            out = v if out is None else out.join(v)
        return out or CLEAN

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

    def _collect_locals(self) -> None:
        for node in ast.walk(self.fn):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.local_imports[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.local_imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node is not self.fn:
                self.local_functions[node.name] = node
        for outer in self.enclosing:
            for node in ast.walk(outer):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node is not self.fn:
                    self.local_functions.setdefault(node.name, node)
        if self.cls is not None:
            init = next((n for n in self.cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
            if init is not None:
                for node in ast.walk(init):
                    if isinstance(node, ast.Assign):
                        for target in node.targets:
                            if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                                    and target.value.id == "self"):
                                self._self_attrs[target.attr] = node.value

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
                self._bind(stmt.target, it.taint_only().but(rank=None), None)
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
            out[name] = out[name].join(v) if name in out else v
        return out

    def _bind(self, target: ast.AST, v: Val, value: ast.AST | None) -> None:
        if isinstance(target, ast.Name):
            self.env[target.id] = v
        elif isinstance(target, (ast.Tuple, ast.List)):
            parts = value.elts if isinstance(value, (ast.Tuple, ast.List)) else None
            for index, elt in enumerate(target.elts):
                if isinstance(elt, ast.Starred):
                    elt = elt.value
                if parts is not None and len(parts) == len(target.elts):
                    self._bind(elt, self.val(parts[index]), parts[index])
                else:
                    self._bind(elt, v.taint_only().but(rank=None), None)
        elif isinstance(target, ast.Subscript):
            self.ev(target.slice)
            base = target.value
            if isinstance(base, ast.Name):
                self.env[base.id] = self.env.get(base.id, CLEAN).join(v).but(
                    pred=self.env.get(base.id, CLEAN).pred or v.pred)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, v, None)

    def _mutation(self, node: ast.expr, v: Val) -> None:
        """``terms.append(x)`` makes ``terms`` carry x."""
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.attr in ("append", "extend", "insert", "add")):
            name = node.func.value.id
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
                return Val(positive=x > 0, nonneg=x >= 0, bounded=True, zero=x == 0)
            return CLEAN
        if isinstance(node, ast.BinOp):
            left, right = self.ev(node.left), self.ev(node.right)
            if not isinstance(node.op, (ast.MatMult, ast.Mod, ast.LShift, ast.RShift)):
                self._check_pair(node, node.left, node.right, left, right)
            return self._binop(node.op, left, right, node.left, node.right)
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
            return base.but(rank=None, prob="", zero=False)
        if isinstance(node, ast.IfExp):
            self.ev(node.test)
            return self.ev(node.body).join(self.ev(node.orelse))
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return combine(*(self.ev(e) for e in node.elts))
        if isinstance(node, ast.Dict):
            return combine(*(self.ev(v) for v in node.values if v is not None))
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return self._comprehension(node)
        if isinstance(node, ast.Starred):
            return self.ev(node.value)
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
        if name in self.module.assignments:
            value, _ = self.module.assignments[name]
            self._constants[name] = CLEAN  # guard against self-reference
            self._constants[name] = _constant_val(self.module, value)
            return self._constants[name]
        return CLEAN

    def _attribute(self, node: ast.Attribute) -> Val:
        op = self.module.op(node, self.local_imports)
        if op is not None:
            if op.name in ("pi", "e", "inf") or op.name.endswith("epsilon"):
                return Val(positive=True, nonneg=True, bounded=op.name != "inf")
            return CLEAN
        if isinstance(node.value, ast.Name) and node.value.id == "self" and self.cls is not None:
            value = self._self_attrs.get(node.attr)
            return _constant_val(self.module, value) if value is not None else CLEAN
        base = self.ev(node.value)
        if node.attr in _SHAPE_ATTRS:
            return CLEAN
        if node.attr == "T":
            return base.taint_only()
        return base.taint_only()

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
                self.broadcasts.append((node, an, bn))
            if a.integer and not b.integer:
                self.mixed_dtypes.append((node, an))

    def _binop(self, op: ast.operator, left: Val, right: Val, lnode: ast.AST, rnode: ast.AST) -> Val:
        base = combine(left, right)
        bounded = left.bounded and right.bounded
        if isinstance(op, ast.Add):
            # x + <positive constant> is how people guard a value ("+ eps", "+ smooth"): take it as intended.
            positive = ((left.positive and right.nonneg) or (left.nonneg and right.positive)
                        or (right.positive and not right.data) or (left.positive and not left.data))
            return base.but(positive=positive, nonneg=left.nonneg and right.nonneg, bounded=bounded,
                            zero=left.zero and right.zero)
        if isinstance(op, ast.Sub):
            one = _const_number(lnode) == 1.0
            return base.but(bounded=bounded, prob=f"1-{right.prob}" if one and right.prob else "",
                            positive=one and right.below_one)
        if isinstance(op, ast.Mult):
            if left.zero or right.zero:  # x * 0.0: a constant, whatever x carried
                return Val(zero=True, nonneg=True, bounded=True, tensor=base.tensor, rank=base.rank)
            square = ast.dump(lnode) == ast.dump(rnode)
            return base.but(
                positive=left.positive and right.positive,
                nonneg=(left.nonneg and right.nonneg) or square,
                bounded=bounded, zero=left.zero or right.zero,
            )
        if isinstance(op, (ast.Div, ast.FloorDiv)):
            return base.but(positive=left.positive and right.positive, nonneg=left.nonneg and right.nonneg,
                            source_op="" if right.positive or not right.data else "divide")
        if isinstance(op, ast.Pow):
            exponent = _const_number(rnode)
            if exponent is not None and exponent == int(exponent) and int(exponent) % 2 == 0 and exponent > 0:
                return base.but(nonneg=True, positive=left.positive)
            if exponent is not None and 0 < exponent < 1:
                return base.but(nonneg=True, positive=left.positive, source_op="" if left.positive else "sqrt")
            if exponent is not None and exponent < 0:
                return base.but(positive=left.positive, source_op="" if left.positive else "divide")
            return base.but(positive=left.positive, nonneg=left.nonneg)
        return base

    # --- calls -------------------------------------------------------------------------------
    def _call(self, node: ast.Call) -> Val:
        func = node.func
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
        if op is not None:
            return self._library(node, op, args, kwargs)
        if isinstance(func, ast.Attribute):
            if (isinstance(func.value, ast.Name) and func.value.id == "self" and self.cls is not None):
                method = next((n for n in self.cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                               and n.name == func.attr), None)
                if method is not None:
                    return self._helper(node, method, args, kwargs, self.block_start, skip_self=True)
            return self._method(func.attr, receiver or CLEAN, args)
        if isinstance(func, ast.Name):
            name = func.id
            helper, start = self.local_functions.get(name), self.block_start
            if helper is None and name in self.module.functions:
                helper, block = self.module.functions[name]
                start = block.start
            if helper is not None and name not in self.env:
                return self._helper(node, helper, args, kwargs, start)
            return self._builtin(node, name, args)
        return combine(*args, *kwargs.values())

    def _method(self, name: str, receiver: Val, args: list[Val]) -> Val:
        if name in _CUT_METHODS:
            return receiver.taint_only().but(pred=False, cut=receiver.pred or receiver.cut, tensor=False)
        if name in ("get_shape", "shape"):
            return CLEAN
        return combine(receiver, *args)

    def _hard(self, node: ast.AST, kind: str, v: Val) -> Val:
        """The output of a non-differentiable op: no gradient; remember where it came from."""
        if v.pred:
            self.hard_ops[id(node)] = kind
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
        return joined

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
                   enclosing=[self.fn, *self.enclosing])
        self.helpers.append((node, sub))
        return sub.returned()

    def _library(self, node: ast.Call, op: Op, args: list[Val], kwargs: dict[str, Val]) -> Val:
        everything = [*args, *kwargs.values()]
        joined = combine(*everything)
        first = args[0] if args else (next(iter(kwargs.values())) if kwargs else CLEAN)
        name = op.name.rsplit(".", 1)[-1]
        if name == "epsilon":  # K.epsilon(), keras.config.epsilon(), keras.backend.epsilon()
            return Val(positive=True, nonneg=True, bounded=True)
        if op.namespace == "np":
            if name in ("float32", "float64", "float16", "int32", "int64") and not joined.data:
                return first.but(tensor=False)
            return joined.but(pred=False, cut=joined.pred or joined.cut, tensor=False)
        if op.namespace in ("keras", "layers", "functools"):
            return joined
        if op.namespace == "losses":
            return joined.taint_only().but(nonneg=True)
        # tf / keras.ops / keras.backend
        if name in _BINARY and len(node.args) >= 2:
            self._check_pair(node, node.args[0], node.args[1], args[0], args[1])
        if name == "epsilon":
            return Val(positive=True, nonneg=True, bounded=True)
        if name in ns.NON_VALUE:
            return Val(tensor=True, rank=first.rank)
        if name in ("constant", "convert_to_tensor", "identity"):
            return first.but(tensor=True)
        if name in ns.DETACHING:
            return joined.but(pred=False, cut=joined.pred or joined.cut, thresholds=frozenset())
        if name in ("cast", "dtypes.cast"):
            dtype = node.args[1] if len(node.args) > 1 else next(
                (kw.value for kw in node.keywords if kw.arg == "dtype"), None)
            dtype_name = (dtype.attr if isinstance(dtype, ast.Attribute)
                          else dtype.value if isinstance(dtype, ast.Constant) else "")
            if dtype_name in ns.INT_DTYPES:
                return self._hard(node, "cast", first).but(integer=True)
            return first.but(integer=False)
        if name in ns.NO_GRADIENT:
            kind = "compare" if name in ns.COMPARISONS else name
            return self._hard(node, kind, joined).but(integer=name not in ("round", "floor", "ceil", "rint"))
        if name in ns.ZERO_GRADIENT:
            return self._hard(node, "sign", joined)
        if name == "where":
            if len(args) < 3:
                return joined.but(pred=False, integer=True)
            cond, a, b = args[0], args[1], args[2]
            if _guards_positive(node.args[0], node.args[1]):
                a = a.but(positive=True, nonneg=True)
            if _guards_positive(node.args[0], node.args[2], negated=True):
                b = b.but(positive=True, nonneg=True)
            out = a.join(b)
            # A condition only selects; it matters for the gradient when neither branch carries one.
            selected = a.thresholds | b.thresholds if (a.pred or b.pred) else out.thresholds | cond.thresholds
            return out.but(pred=a.pred or b.pred, data=a.data or b.data or cond.data,
                           true=a.true or b.true or cond.true, tensor=True, thresholds=selected)
        if name in ("exp",):
            return first.taint_only().but(positive=True, nonneg=True, bounded=first.nonpos or first.bounded)
        if name in ("softplus",):
            return first.taint_only().but(positive=True, nonneg=True)
        if name in ("sigmoid", "softmax"):
            return first.taint_only().but(nonneg=True, bounded=True, prob=name)
        if name in ("tanh", "softsign", "hard_sigmoid", "cos", "sin", "erf"):
            return first.taint_only().but(bounded=True)
        if name in ns.LOG or name in ("log1p",):
            return first.taint_only().but(source_op="" if first.positive or name == "log1p" else "log")
        if name in ns.SQRT:
            return joined.taint_only().but(nonneg=True, source_op="" if first.positive else "sqrt",
                                           rank=None if name != "sqrt" else first.rank)
        if name in ("square", "abs", "relu"):
            return first.taint_only().but(nonneg=True, positive=first.positive and name != "relu",
                                          bounded=first.bounded)
        if name in ns.CLIP:
            low = args[1] if len(args) > 1 else kwargs.get("clip_value_min", kwargs.get("x_min", CLEAN))
            high = node.args[2] if len(node.args) > 2 else next(
                (kw.value for kw in node.keywords if kw.arg in ("clip_value_max", "x_max", "max_value")), None)
            below_one = high is not None and _below_one(high)
            return first.taint_only().but(positive=low.positive, nonneg=low.nonneg, bounded=True,
                                          below_one=below_one)
        if name == "maximum" and len(args) >= 2:
            return joined.taint_only().but(positive=args[0].positive or args[1].positive,
                                           nonneg=args[0].nonneg or args[1].nonneg)
        if name == "minimum" and len(args) >= 2:
            return joined.taint_only().but(positive=args[0].positive and args[1].positive,
                                           nonneg=args[0].nonneg and args[1].nonneg,
                                           bounded=args[0].bounded or args[1].bounded)
        if name in ns.REDUCTIONS:
            return first.taint_only().but(positive=first.positive, nonneg=first.nonneg, bounded=first.bounded,
                                          rank=_reduced_rank(node, first.rank))
        if name in ns.SAFE_DIVIDE:
            return joined.taint_only()
        if name in ns.DIVIDE:
            if len(args) >= 2:
                return self._binop(ast.Div(), args[0], args[1], node.args[0], node.args[1])
            return joined.taint_only().but(source_op="divide")
        if name in ("add", "subtract", "multiply") and len(args) >= 2:
            kind = {"add": ast.Add(), "subtract": ast.Sub(), "multiply": ast.Mult()}[name]
            return self._binop(kind, args[0], args[1], node.args[0], node.args[1])
        if name in ("pow", "power") and len(args) >= 2:
            return self._binop(ast.Pow(), args[0], args[1], node.args[0], node.args[1])
        if name in ("squeeze",):
            return first.but(rank=first.rank - 1 if first.rank else None)
        if name in ("expand_dims",):
            return first.but(rank=first.rank + 1 if first.rank is not None else None)
        if name in ("reshape",):
            shape = node.args[1] if len(node.args) > 1 else None
            rank = len(shape.elts) if isinstance(shape, (ast.List, ast.Tuple)) else None
            return first.but(rank=rank)
        if name in ("one_hot",):
            return first.taint_only().but(integer=False, rank=first.rank + 1 if first.rank is not None else None)
        if name in ("Variable", "zeros", "ones", "fill", "range", "eye") or name.startswith("random."):
            return Val(tensor=True)
        return joined.taint_only().but(integer=False)  # an unknown op: claim nothing about its dtype


def _below_one(node: ast.AST) -> bool:
    """``1 - eps`` / ``1.0 - K.epsilon()`` / a constant below 1."""
    number = _const_number(node)
    if number is not None:
        return number < 1
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)
            and _const_number(node.left) is not None and _const_number(node.left) <= 1)  # type: ignore[operator]


def _guards_positive(cond: ast.AST, branch: ast.AST, negated: bool = False) -> bool:
    """``tf.where(x > 0, x, ...)``: the branch is positive wherever it is selected."""
    if not isinstance(cond, ast.Compare) or len(cond.ops) != 1:
        return False
    op, left, right = cond.ops[0], cond.left, cond.comparators[0]
    positive_ops = (ast.LtE, ast.Lt) if negated else (ast.Gt,)
    number = _const_number(right)
    if isinstance(op, positive_ops) and number is not None and number >= 0:
        return ast.dump(left) == ast.dump(branch)
    return False


def _reduced_rank(node: ast.Call, rank: int | None) -> int | None:
    axis = node.args[1] if len(node.args) > 1 else next((kw.value for kw in node.keywords if kw.arg == "axis"), None)
    keep = next((kw.value for kw in node.keywords if kw.arg in ("keepdims", "keep_dims")), None)
    if isinstance(keep, ast.Constant) and keep.value is True:
        return rank
    if axis is None or (isinstance(axis, ast.Constant) and axis.value is None):
        return 0
    if rank is None:
        return None
    if isinstance(axis, (ast.List, ast.Tuple)):
        return max(rank - len(axis.elts), 0)
    return max(rank - 1, 0)


def _constant_val(module: ModuleInfo, node: ast.expr, depth: int = 0) -> Val:
    """The value of a module-level constant or ``self.x`` set in ``__init__`` (never data-derived)."""
    number = _const_number(node)
    if number is not None:
        return Val(positive=number > 0, nonneg=number >= 0, bounded=True, zero=number == 0)
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
    return CLEAN


# --- liveness ------------------------------------------------------------------------------------
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
    out: set[str] = set()
    for target in targets:
        while isinstance(target, (ast.Subscript, ast.Attribute, ast.Starred)):
            target = target.value
        out |= _names(target)
    return out


def _uses(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        extra = set()
        for target in getattr(stmt, "targets", [getattr(stmt, "target", None)]):
            if isinstance(target, ast.Subscript):
                extra |= _names(target)
        return _names(stmt.value) | extra
    if isinstance(stmt, ast.AugAssign):
        return _names(stmt.value) | _names(stmt.target)
    if isinstance(stmt, (ast.Return, ast.Expr)):
        return _names(stmt.value)
    if isinstance(stmt, (ast.If, ast.While)):
        return _names(stmt.test)
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return _names(stmt.iter)
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return set().union(*(_names(i.context_expr) for i in stmt.items))
    if isinstance(stmt, ast.Match):
        return _names(stmt.subject)
    return set()


def _liveness_of(fn: FunctionNode) -> set[int]:
    if isinstance(fn, ast.Lambda):
        return {id(fn)}
    pairs = list(_statements(fn.body))
    live: set[int] = set()
    live_names: set[str] = set()
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
            if isinstance(stmt, ast.Return) or (_defines(stmt) & live_names):
                live.add(id(stmt))
                live_names |= _uses(stmt)
                changed = True
    return live

