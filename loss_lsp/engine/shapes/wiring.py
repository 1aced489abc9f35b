"""The training script run abstractly: which arrays reach which loss, and what the model outputs there.

One pass over the module's top-level statements, in order, with an environment of abstract
values (values.py). Calls of the script's own functions are interpreted with their arguments;
functions that train (compile/fit/GradientTape) but are never called are interpreted once with
unknown arguments. What comes out (``ProgramFacts``) is, for each loss expression given to
``compile`` and for each loss function called directly, the labels and the predictions it gets.
"""

from __future__ import annotations

import ast
import io
import logging
import re
import tokenize
from dataclasses import dataclass, field, replace

from loss_lsp.engine import memo
from loss_lsp.engine.chunks import Block
from loss_lsp.engine.discovery import is_loss_signature, loss_base_classes
from loss_lsp.engine.module import ModuleInfo, dotted, summary_of
from loss_lsp.engine.shapes import arrays, datasets, libraries, matching, models, tables
from loss_lsp.engine.shapes.values import (
    KT, NONE, Arr, ClassRef, Dataset, DictV, Frame, Func, Instance, Layer, Library, Model, Obj, PyList, Scalar,
    Series,
    Text, Tup, join,
)

log = logging.getLogger(__name__)
_TRAINING_WORDS = re.compile(r"\.(?:compile|fit|train_on_batch)\(|GradientTape")
_MAX_DEPTH = 4  # nested calls of the script's own functions
_MAX_STEPS = 20_000  # expressions evaluated per file (loops run twice): a pathological script gets what was found so far
_DTYPES = {"float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool",
           "double", "half", "float_", "int_", "uint16", "uint32", "uint64"}


@dataclass(frozen=True)
class Binding:
    """What one call of a loss receives: the labels and the predictions (None = unknown)."""

    y_true: object  # Arr
    y_pred: object  # KT or Arr
    where: str = ""  # "fit" / "train_on_batch" / "loop"


@dataclass
class ProgramFacts:
    by_expr: dict[int, list[Binding]] = field(default_factory=dict)  # id(compile loss expression) -> uses
    by_fn: dict[int, list[Binding]] = field(default_factory=dict)  # id(loss function node) -> direct calls
    seen_compiles: set[int] = field(default_factory=set)  # id(compile call) reached by the interpreter
    # what resolve made of a combination of the lists above (ids of lists these facts hold): the facts
    # outlive many analyses while the script is unchanged, and most losses ask the same thing each time
    derived: dict[tuple[int, ...], object] = field(default_factory=dict)


class Scope:
    """One function activation: its locals (the module's globals at top level)."""

    def __init__(self, names: dict[str, object], imports: dict[str, str] | None = None) -> None:
        self.names = names
        self.imports = imports or {}
        self.returns: list[object] = []


class Interpreter:
    def __init__(self, module: ModuleInfo) -> None:
        self.module = module
        self.facts = ProgramFacts()
        self.globals: dict[str, object] = {}
        self.block_start = 0
        self.depth = 0
        self.steps = 0
        self.called: set[int] = set()
        # functions and classes whose body the facts depend on (entered, recorded by id, methods looked up)
        self.read: set[int] = set()
        self.active: list[int] = []
        self._loss_methods: dict[str, ast.AST] | None = None

    @property
    def loss_methods(self) -> dict[str, ast.AST]:
        """Loss subclass name -> its ``call`` (computed when a class is first used, not per module)."""
        if self._loss_methods is None:
            self._loss_methods = {}
            for name in loss_base_classes(self.module):
                cls, _ = self.module.classes[name]
                call = next((n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                             and n.name == "call"), None)
                self._loss_methods[name] = call  # type: ignore[assignment]
        return self._loss_methods

    # --- driving ---------------------------------------------------------------------------------
    def run(self) -> ProgramFacts:
        top = Scope(self.globals)
        try:
            for block in self.module.blocks:
                if block.tree is None:
                    continue
                self.block_start = block.start
                definitions = _definitions_only(block.tree)
                if definitions is not None:  # most blocks: a def or a class, nothing runs
                    for name, node in definitions:
                        top.names[name] = ClassRef(name, "") if isinstance(node, ast.ClassDef) else Func(
                            node, block.start)
                    continue
                self.body(block.tree.body, top)
            for block in self.module.blocks:
                if block.tree is None or not _TRAINING_WORDS.search(block.text):
                    continue  # most blocks (the losses themselves) are skipped without walking their trees
                for fn in _training_functions(block.tree):
                    if id(fn) not in self.called and self.module.functions.get(fn.name, (None,))[0] is fn:
                        self.call_function(Func(fn, block.start), [], {})
        except _Budget:
            pass
        return self.facts

    # --- statements ------------------------------------------------------------------------------
    def body(self, stmts: list[ast.stmt], frame: Scope) -> None:
        for stmt in stmts:
            self.statement(stmt, frame)

    def statement(self, stmt: ast.stmt, frame: Scope) -> None:  # noqa: C901 - one dispatch
        kind = type(stmt)
        if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:  # most of a module: bind and move on
            frame.names[stmt.name] = Func(stmt, self.block_start)  # type: ignore[attr-defined]
        elif kind is ast.ClassDef:
            frame.names[stmt.name] = self._class(stmt)  # type: ignore[arg-type]
        elif isinstance(stmt, ast.Assign):
            value = self.ev(stmt.value, frame)
            value = self._with_origin(value, stmt)
            for target in stmt.targets:
                self.bind(target, value, frame, stmt)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self.bind(stmt.target, self._with_origin(self.ev(stmt.value, frame), stmt), frame, stmt)
        elif isinstance(stmt, ast.AugAssign):
            if isinstance(stmt.target, ast.Name):
                left = self.lookup(stmt.target.id, frame)
                right = self.ev(stmt.value, frame)
                if isinstance(left, PyList) and isinstance(stmt.op, ast.Add) and isinstance(right, Tup):
                    for item in right.items:  # labels += [1]: one more item
                        self._method(left, "append", [item], {}, None, frame)  # type: ignore[arg-type]
                    return
                frame.names[stmt.target.id] = self._binop(stmt.op, left, right)
        elif isinstance(stmt, ast.Expr):
            self.ev(stmt.value, frame)
        elif isinstance(stmt, ast.Return):
            frame.returns.append(self.ev(stmt.value, frame) if stmt.value is not None else NONE)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            item = self._iterate(self.ev(stmt.iter, frame))
            self._loop(frame, lambda: (self.bind(stmt.target, item, frame, None), self.body(stmt.body, frame)))
            self.body(stmt.orelse, frame)
        elif isinstance(stmt, ast.While):
            self.ev(stmt.test, frame)
            self._loop(frame, lambda: self.body(stmt.body, frame))
        elif isinstance(stmt, ast.If):
            self._if(stmt, frame)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                self.ev(item.context_expr, frame)
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, None, frame, None)
            self.body(stmt.body, frame)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            self.body(stmt.body, frame)  # type: ignore[attr-defined]
            self.body(stmt.orelse, frame)  # type: ignore[attr-defined]
            self.body(stmt.finalbody, frame)  # type: ignore[attr-defined]
        elif isinstance(stmt, ast.Import):
            if frame.names is not self.globals:
                for alias in stmt.names:
                    local = alias.asname or alias.name.split(".")[0]
                    frame.imports[local] = alias.name if alias.asname else local
        elif isinstance(stmt, ast.ImportFrom):
            if frame.names is not self.globals and stmt.module and not stmt.level:
                for alias in stmt.names:
                    frame.imports[alias.asname or alias.name] = f"{stmt.module}.{alias.name}"

    def _loop(self, frame: Scope, iteration: object) -> None:
        """A loop body run twice: what it carries from one iteration to the next (``x = pool(x)``) keeps only
        what every iteration count agrees on (the value before the loop included)."""
        before = dict(frame.names)
        iteration()  # type: ignore[operator]
        first = dict(frame.names)
        iteration()  # type: ignore[operator]
        for name, value in list(frame.names.items()):
            if name in first and first[name] is not value:
                value = join(first[name], value)
            if name in before and before[name] is not value:
                value = join(before[name], value)
            frame.names[name] = value

    def _if(self, stmt: ast.If, frame: Scope) -> None:
        test = stmt.test
        if isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__":
            self.body(stmt.body, frame)
            return
        self.ev(test, frame)
        before = dict(frame.names)
        self.body(stmt.body, frame)
        after_body = dict(frame.names)
        frame.names.clear()  # the same dict: at top level it is the globals
        frame.names.update(before)
        self.body(stmt.orelse, frame)
        for name in set(after_body) | set(frame.names):
            if name in after_body and name in frame.names:
                frame.names[name] = join(after_body[name], frame.names[name])
            else:
                frame.names[name] = after_body.get(name, frame.names.get(name))

    def _class(self, node: ast.ClassDef) -> ClassRef:
        """What kind of class (decided when it is used: most classes of a module never are)."""
        return ClassRef(node.name, "")

    def _kind(self, ref: ClassRef) -> str:
        if ref.kind:
            return ref.kind
        if ref.name in self.loss_methods:
            return "loss"
        node = self.module.classes.get(ref.name, (None, None))[0]
        for base in getattr(node, "bases", []):
            if (dotted(base) or "").rsplit(".", 1)[-1] in ("Model", "Sequential"):
                return "model"
        return "other"

    def bind(self, target: ast.AST, value: object, frame: Scope, stmt: ast.stmt | None) -> None:
        if isinstance(target, ast.Name):
            frame.names[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = value.items if isinstance(value, Tup) else None
            starred = any(isinstance(e, ast.Starred) for e in target.elts)
            for index, elt in enumerate(target.elts):
                item = items[index] if items is not None and not starred and len(items) == len(target.elts) else None
                if isinstance(elt, ast.Starred):
                    elt = elt.value
                self.bind(elt, self._with_origin(item, stmt) if stmt is not None else item, frame, None)
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            owner = frame.names.get(target.value.id)
            if isinstance(owner, Obj):  # self.head = Dense(1)
                owner.attrs[target.attr] = value
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            base = frame.names.get(target.value.id)
            if isinstance(base, Frame):  # df["new"] = ...: one more column (or a replaced one)
                frame.names[target.value.id] = Frame(base.rows, None, base.origin)

    def _with_origin(self, value: object, stmt: ast.stmt | None) -> object:
        if stmt is None or isinstance(getattr(stmt, "value", None), ast.Name):
            return value
        if isinstance(value, (Arr, Series, Frame)):
            line = self.block_start + stmt.lineno - 1
            text = _code_of(self.module.lines[line]) if line < len(self.module.lines) else ""
            if len(text) > 80:
                text = text[:77] + "..."
            return replace(value, origin=f"`{text}`, line {line + 1}")
        return value

    def _iterate(self, value: object) -> object:
        if isinstance(value, _Enumerated):
            return Tup((Scalar(None, "int64"), self._iterate(value.inner)))
        if isinstance(value, _Zipped):
            return Tup(tuple(self._iterate(v) for v in value.parts))
        if isinstance(value, PyList):
            return value.item if value.known else None
        if isinstance(value, Tup):  # each item in turn: what they all agree on
            out = value.items[0] if value.items else None
            for other in value.items[1:]:
                out = join(out, other)
            return out
        return datasets.iterate(value)

    # --- names and functions ---------------------------------------------------------------------
    def lookup(self, name: str, frame: Scope) -> object:
        if name in frame.names:
            return frame.names[name]
        if name in self.globals:
            return self.globals[name]
        if name in self.module.functions:
            fn, block = self.module.functions[name]
            return Func(fn, block.start)
        if name in self.module.classes:
            cls, _ = self.module.classes[name]
            return self._class(cls)
        return None

    def call_function(self, func: Func, args: list[object], kwargs: dict[str, object]) -> object:
        fn = func.node
        if isinstance(fn, ast.Lambda):
            frame = Scope(dict(self.globals))
            self._bind_params(fn, args, kwargs, frame)
            saved = self.block_start
            self.block_start = func.block_start
            try:
                return self.ev(fn.body, frame)
            finally:
                self.block_start = saved
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return None
        if self.depth >= _MAX_DEPTH or id(fn) in self.active:
            return None
        self.called.add(id(fn))
        self.read.add(id(fn))
        frame = Scope({})
        self._bind_params(fn, args, kwargs, frame)
        saved = self.block_start
        self.block_start, self.depth = func.block_start, self.depth + 1
        self.active.append(id(fn))
        try:
            self.body(fn.body, frame)
        finally:
            self.block_start, self.depth = saved, self.depth - 1
            self.active.pop()
        if not frame.returns:
            return NONE
        out = frame.returns[0]
        for other in frame.returns[1:]:
            out = join(out, other)
        return out

    def _bind_params(self, fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, args: list[object],
                     kwargs: dict[str, object], frame: Scope) -> None:
        params = fn.args.posonlyargs + fn.args.args
        defaults = [None] * (len(params) - len(fn.args.defaults)) + list(fn.args.defaults)
        for index, (param, default) in enumerate(zip(params, defaults)):
            if index < len(args):
                frame.names[param.arg] = args[index]
            elif param.arg in kwargs:
                frame.names[param.arg] = kwargs[param.arg]
            else:
                frame.names[param.arg] = self.ev(default, Scope(self.globals)) if default is not None else None
        for param, default in zip(fn.args.kwonlyargs, fn.args.kw_defaults):
            frame.names[param.arg] = kwargs.get(param.arg, self.ev(default, Scope(self.globals))
                                                if default is not None else None)

    # --- expressions -----------------------------------------------------------------------------
    def ev(self, node: ast.AST | None, frame: Scope) -> object:  # noqa: C901 - one dispatch over node kinds
        if node is None:
            return None
        self.steps += 1
        if self.steps > _MAX_STEPS:
            raise _Budget
        if isinstance(node, ast.Constant):
            value = node.value
            if value is None:
                return NONE
            if isinstance(value, bool):
                return Scalar(value, "bool")
            if isinstance(value, (int, float)):
                return Scalar(value, "int64" if isinstance(value, int) else "float64")
            if isinstance(value, str):
                return Text(value)
            return None
        if isinstance(node, ast.Name):
            found = self.lookup(node.id, frame)
            if found is None and node.id in ("float", "int", "bool"):
                return Library(f"dtype:{ {'float': 'float64', 'int': 'int64', 'bool': 'bool'}[node.id] }")
            if found is None:
                return self._library_value(node, frame)
            return found
        if isinstance(node, ast.UnaryOp):
            inner = self.ev(node.operand, frame)
            if isinstance(node.op, ast.USub) and isinstance(inner, Scalar) and isinstance(inner.value, (int, float)):
                return Scalar(-inner.value, inner.dtype)
            if isinstance(node.op, ast.Not):
                return Scalar(None, "bool")
            return inner if isinstance(inner, Arr) else None
        if isinstance(node, ast.BinOp):
            return self._binop(node.op, self.ev(node.left, frame), self.ev(node.right, frame))
        if isinstance(node, ast.Compare):
            left = self.ev(node.left, frame)
            right = self.ev(node.comparators[0], frame)
            if len(node.ops) != 1 or isinstance(node.ops[0], (ast.Is, ast.IsNot, ast.In, ast.NotIn)):
                return Scalar(None, "bool")
            return arrays.arith(left, right, compare=True)
        if isinstance(node, ast.BoolOp):
            values = [self.ev(v, frame) for v in node.values]
            return values[-1] if values else None
        if isinstance(node, (ast.Tuple, ast.List)):
            if isinstance(node, ast.List) and not node.elts:
                return PyList()
            if any(isinstance(e, ast.Starred) for e in node.elts):
                return None
            return Tup(tuple(self.ev(e, frame) for e in node.elts))
        if isinstance(node, ast.Dict):
            keys = [self.ev(k, frame) if k is not None else None for k in node.keys]
            values = [self.ev(v, frame) for v in node.values]
            if all(isinstance(k, Text) for k in keys):
                return DictV(tuple((k.value, v) for k, v in zip(keys, values)))  # type: ignore[union-attr]
            return None
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return self._comprehension(node, frame)
        if isinstance(node, ast.IfExp):
            self.ev(node.test, frame)
            return join(self.ev(node.body, frame), self.ev(node.orelse, frame))
        if isinstance(node, ast.Subscript):
            return self._subscript(node, frame)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, frame)
        if isinstance(node, ast.Call):
            return self._call(node, frame)
        if isinstance(node, ast.Lambda):
            return Func(node, self.block_start)
        if isinstance(node, ast.NamedExpr):
            value = self.ev(node.value, frame)
            self.bind(node.target, value, frame, None)
            return value
        return None

    def _binop(self, op: ast.operator, left: object, right: object) -> object:
        if isinstance(op, ast.MatMult):
            return arrays.matmul(left, right)
        if isinstance(left, Scalar) and isinstance(right, Scalar):
            a, b = left.value, right.value
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
                try:
                    result = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                              ast.FloorDiv: lambda: a // b, ast.Div: lambda: a / b,
                              ast.Mod: lambda: a % b}.get(type(op), lambda: None)()
                except (ZeroDivisionError, OverflowError):
                    result = None
                if result is not None:
                    return Scalar(result, "int64" if isinstance(result, int) else "float64")
            return Scalar(None, None)
        if isinstance(left, Tup) and isinstance(right, Tup) and isinstance(op, ast.Add):
            return Tup(left.items + right.items)
        if isinstance(op, ast.Mult) and isinstance(left, Tup) != isinstance(right, Tup):  # [[0.5]] * n
            items, times = (left, right) if isinstance(left, Tup) else (right, left)
            n = arrays.as_int(times)
            return Tup(items.items * n) if n is not None and 0 <= n * len(items.items) <= 100_000 else None
        return arrays.arith(left, right)

    def _comprehension(self, node: ast.ListComp | ast.GeneratorExp, frame: Scope) -> object:
        inner = Scope(_Scoped(dict(), frame.names), frame.imports)  # type: ignore[arg-type]
        for gen in node.generators:
            self.bind(gen.target, self._iterate(self.ev(gen.iter, inner)), inner, None)
        item = self.ev(node.elt, inner)
        return PyList(item, item is not None)

    def _subscript(self, node: ast.Subscript, frame: Scope) -> object:
        value = self.ev(node.value, frame)
        if isinstance(value, DictV):
            key = self.ev(node.slice, frame)
            return value.get(key.value) if isinstance(key, Text) else None
        if isinstance(value, _ILoc):
            items = self._index_items(node.slice, frame)
            if items is None:
                return None
            rows = [items[0]] if items else []
            cols = items[1:2]
            frame_value = value.frame
            out = arrays.subscript(arrays.to_array(frame_value) or Arr(None), rows + cols) if cols else None
            if not cols:
                return Frame(None, frame_value.columns)
            if isinstance(out, Arr) and out.shape is not None and len(out.shape) == 1:
                return Series(out.shape[0])
            if isinstance(out, Arr) and out.shape is not None and len(out.shape) == 2:
                return Frame(out.shape[0], out.shape[1])
            return None
        items = self._index_items(node.slice, frame)
        if items is None:
            return None
        return arrays.subscript(value, items)

    def _index_items(self, node: ast.AST, frame: Scope) -> list[tuple] | None:
        parts = node.elts if isinstance(node, ast.Tuple) else [node]
        items: list[tuple] = []
        for part in parts:
            if isinstance(part, ast.Slice):
                bounds = []
                for bound in (part.lower, part.upper, part.step):
                    if bound is None:
                        bounds.append(None)
                        continue
                    value = self.ev(bound, frame)
                    bounds.append(arrays.as_int(value) if arrays.as_int(value) is not None else "?")
                items.append(("slice", *bounds))
                continue
            if isinstance(part, ast.Constant) and part.value is Ellipsis:
                items.append(("ellipsis",))
                continue
            value = self.ev(part, frame)
            if value is NONE or (isinstance(value, Library) and value.kind == "newaxis"):
                items.append(("new",))
            elif isinstance(value, Text):
                items.append(("col", value.value))
            elif isinstance(value, Tup) and value.items and all(isinstance(i, Text) for i in value.items):
                items.append(("cols", len(value.items)))
            elif isinstance(value, Scalar) and value.dtype != "bool":
                items.append(("int", value.value) if isinstance(value.value, int) else ("fancy_int",))
            elif isinstance(value, Tup):
                items.append(("fancy", len(value.items)))
            elif isinstance(value, Arr) and value.shape is not None and len(value.shape) == 1:
                items.append(("fancy", None if value.dtype == "bool" else value.shape[0]))
            else:
                return None
        if any(item[0] == "fancy_int" for item in items):
            items = [("int", 0) if item[0] == "fancy_int" else item for item in items]
        return items

    def _attribute(self, node: ast.Attribute, frame: Scope) -> object:
        if self._is_library(node, frame):
            return self._library_value(node, frame)
        base = self.ev(node.value, frame)
        attr = node.attr
        if isinstance(base, Obj):
            return base.attrs.get(attr)
        if isinstance(base, Arr):
            if attr == "T":
                return arrays.transpose(base)
            if attr == "shape":
                return Tup(tuple(Scalar(d, "int64") for d in base.shape)) if base.shape is not None else None
            if attr in ("values", "numpy"):
                return base
            if attr in ("ndim",):
                return Scalar(base.rank, "int64")
            return None
        if isinstance(base, Frame):
            if attr == "values":
                return arrays.to_array(base)
            if attr == "shape":
                return Tup((Scalar(base.rows, "int64"), Scalar(base.columns, "int64")))
            if attr == "iloc":
                return _ILoc(base)
            if attr in ("columns", "index", "dtypes", "loc", "T", "iat", "at"):
                return None
            return Series(base.rows, None)  # df.price: a column
        if isinstance(base, Series):
            if attr == "values":
                return Arr((base.rows,), base.dtype, None, base.origin)
            if attr == "shape":
                return Tup((Scalar(base.rows, "int64"),))
            if attr == "cat":
                return base
            if attr == "codes":
                return Series(base.rows, "int8")
            return None
        if isinstance(base, Model) and attr in ("output", "outputs"):
            return self._outputs(base)
        if isinstance(base, KT) and attr == "shape":
            return Tup(tuple(Scalar(d, "int64") for d in base.shape)) if base.shape is not None else None
        return None

    def _is_library(self, node: ast.AST, frame: Scope) -> bool:
        root = node
        while isinstance(root, ast.Attribute):
            root = root.value
        return (isinstance(root, ast.Name) and root.id not in frame.names and root.id not in self.globals
                and (root.id in frame.imports or root.id in self.module.imports))

    def _path(self, node: ast.AST, frame: Scope) -> str:
        return self.module.resolve(node, frame.imports) or ""

    def _library_value(self, node: ast.AST, frame: Scope) -> object:
        path = self._path(node, frame)
        if not path:
            return None
        name = path.rsplit(".", 1)[-1]
        if name in _DTYPES:
            return Library(f"dtype:{name}")
        if name == "newaxis":
            return Library("newaxis")
        if name in models.RANGES and ("activations" in path or ".nn." in path or ".math." in path or ".ops." in path):
            return Library(f"act:{name}")
        return Library(f"path:{path}")

    # --- calls -----------------------------------------------------------------------------------
    def _call(self, node: ast.Call, frame: Scope) -> object:  # noqa: C901 - dispatch on the callee
        func = node.func
        args = [self.ev(a, frame) for a in node.args if not isinstance(a, ast.Starred)]
        kwargs = {kw.arg: self.ev(kw.value, frame) for kw in node.keywords if kw.arg}
        if isinstance(func, ast.Attribute) and not self._is_library(func, frame):
            receiver = self.ev(func.value, frame)
            return self._method(receiver, func.attr, args, kwargs, node, frame)
        callee = self.ev(func, frame)
        if callee is None and isinstance(func, ast.Name):
            return self._builtin(func.id, args, kwargs)
        return self._call_value(callee, args, kwargs, node, frame)

    def _call_value(self, callee: object, args: list[object], kwargs: dict[str, object], node: ast.Call,
                    frame: Scope) -> object:
        """Calling a value: a library function, the script's function or class, a layer, a model, a loss."""
        if isinstance(callee, Library) and callee.kind.startswith("path:"):
            return libraries.library_call(callee.kind[len("path:"):], args, kwargs)
        if isinstance(callee, Library) and callee.kind.startswith("dtype:"):
            return arrays.astype(args[0], callee.kind[len("dtype:"):]) if args and isinstance(
                args[0], Arr) else Scalar(None, callee.kind[len("dtype:"):])
        if isinstance(callee, Func):
            fn = callee.node
            if not isinstance(fn, ast.Lambda) and is_loss_signature(fn) and len(args) >= 2:  # type: ignore[arg-type]
                self.read.add(id(fn))
                self._record(id(fn), args[0], args[1], "loop")
                return Scalar(None, "float32")
            return self.call_function(callee, args, kwargs)
        if isinstance(callee, ClassRef):
            callee = ClassRef(callee.name, self._kind(callee))
            if callee.kind == "loss":
                return Instance(callee)
            obj = Obj(callee.name, {})
            self._run_method(obj, "__init__", args, kwargs)
            return Model(outputs=None, instance=obj) if callee.kind == "model" else obj
        if isinstance(callee, Obj):  # a custom layer or callable object: its call / __call__
            return self._run_method(callee, "call", args, kwargs) if self._method_node(
                callee, "call") else self._run_method(callee, "__call__", args, kwargs)
        if isinstance(callee, Instance) and self._kind(callee.cls) == "loss" and len(args) >= 2:
            method = self.loss_methods.get(callee.cls.name)
            self._read_class(callee.cls.name)  # the facts name its ``call`` (or its absence)
            if method is not None:
                self._record(id(method), args[0], args[1], "loop")
            return Scalar(None, "float32")
        if isinstance(callee, Layer):
            if callee.kind == "Lambda" and callee.args and isinstance(callee.args[0], Func) and args:
                return self._lambda_layer(callee.args[0], args[0])
            return models.apply(callee, args[0] if args else None)
        if isinstance(callee, Model):
            return self._outputs(callee, args[0] if args else None)
        return None

    def _builtin(self, name: str, args: list[object], kwargs: dict[str, object]) -> object:
        if name == "len" and args:
            value = args[0]
            rows = value.shape[0] if isinstance(value, Arr) and value.shape else value.rows if isinstance(
                value, (Frame, Series)) else len(value.items) if isinstance(value, Tup) else None
            return Scalar(rows, "int64")
        if name == "enumerate" and args:
            return _Enumerated(args[0])
        if name == "zip":
            return _Zipped(tuple(args))
        if name in ("range",):
            return _Range()
        if name in ("float",):
            return Scalar(None, "float64")
        if name in ("int",):
            return Scalar(None, "int64")
        if name in ("list", "tuple") and args:
            return args[0] if isinstance(args[0], (Tup, PyList)) else None
        if name in ("tqdm", "iter", "sorted", "reversed") and args:
            return args[0]
        return None

    def _record(self, key: int, y_true: object, y_pred: object, where: str) -> None:
        if isinstance(y_true, (Series, Frame, PyList)):
            y_true = arrays.to_array(y_true)
        self.facts.by_fn.setdefault(key, []).append(Binding(y_true, y_pred, where))

    def _read_class(self, name: str) -> None:
        """The run depends on this class's body, not only on its name and bases."""
        cls = self.module.classes.get(name, (None, None))[0]
        if cls is not None:
            self.read.add(id(cls))

    def _method_node(self, obj: Obj, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        self._read_class(obj.cls)
        cls = self.module.classes.get(obj.cls, (None, None))[0]
        return next((n for n in getattr(cls, "body", []) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and n.name == name), None)

    def _run_method(self, obj: Obj, name: str, args: list[object], kwargs: dict[str, object]) -> object:
        """``obj.name(*args)`` for a class of the script (its own methods only, not inherited ones)."""
        method = self._method_node(obj, name)
        if method is None:
            return None
        block = self.module.classes[obj.cls][1]
        return self.call_function(Func(method, block.start), [obj, *args], kwargs)

    def _outputs(self, model: Model, data: object = None) -> object:
        """A model's outputs for inputs like ``data``; a subclassed model runs its ``call`` on them."""
        if model.instance is None:
            return models.model_call(model, data) if data is not None else models.outputs_of(model)
        shape = data.shape if isinstance(data, (Arr, KT)) else None
        if shape is None:
            return None
        out = self._run_method(model.instance, "call", [KT((None, *shape[1:]), "linear")], {})
        return out if isinstance(out, KT) else KT(out.shape, None) if isinstance(out, Arr) else None

    def _method(self, receiver: object, name: str, args: list[object], kwargs: dict[str, object],
                node: ast.Call, frame: Scope) -> object:
        if isinstance(receiver, Obj):
            value = receiver.attrs.get(name)
            if value is not None:  # self.dense(x), self.model.fit(...): call what the attribute holds
                return self._call_value(value, args, kwargs, node, frame)
            return self._run_method(receiver, name, args, kwargs)
        if isinstance(receiver, Model):
            return self._model_method(receiver, name, args, kwargs, node)
        if isinstance(receiver, PyList):
            if name == "append" and args:
                if receiver.item is None and receiver.known:
                    receiver.item = args[0]
                elif receiver.item != args[0]:
                    joined = join(receiver.item, args[0])
                    receiver.item, receiver.known = joined, joined is not None
            return None
        if isinstance(receiver, Dataset):
            return datasets.method(receiver, name, args, lambda fn, element: self._map(fn, element))
        if isinstance(receiver, Frame):
            return tables.frame_method(receiver, name, args, kwargs)
        if isinstance(receiver, Series):
            return tables.series_method(receiver, name, args, kwargs)
        if isinstance(receiver, Library) and receiver.kind.startswith("sklearn:"):
            return tables.sklearn_method(receiver, name, args)
        if isinstance(receiver, Library) and receiver.kind == "rng":
            return arrays.create(name, args, kwargs)
        if isinstance(receiver, Library) and receiver.kind == "image_generator":
            if name == "flow" and len(args) >= 2:  # batches of (x, y), like a batched dataset
                return datasets.method(datasets.from_tensor_slices(Tup((args[0], args[1]))), "batch", [],
                                       lambda fn, element: None)
            return receiver if name == "fit" else None
        if isinstance(receiver, Arr):
            return libraries.array_op(name, receiver, args, kwargs)
        return None

    def _lambda_layer(self, fn: Func, value: object) -> object:
        """``Lambda(f)(x)`` with a visible ``f``: run it on arrays of the tensors' shapes."""
        def as_array(v: object) -> object:
            return Arr(v.shape, "float32") if isinstance(v, KT) else Tup(tuple(map(as_array, v.items))) if isinstance(
                v, Tup) else None

        out = self.call_function(fn, [as_array(value)], {})
        return KT(out.shape, "linear") if isinstance(out, Arr) else KT(None, None)

    def _map(self, fn: object, element: object) -> object:
        if not isinstance(fn, Func):
            return None
        args = list(element.items) if isinstance(element, Tup) else [element]
        return self.call_function(fn, args, {})

    # --- models: compile, fit, calls -------------------------------------------------------------
    def _model_method(self, model: Model, name: str, args: list[object], kwargs: dict[str, object],
                      node: ast.Call) -> object:
        if name == "add" and args and model.layers is not None:
            if isinstance(args[0], (Layer, Model)):
                model.layers.append(args[0])  # type: ignore[arg-type]
            return None
        if name == "build" and args:
            dims = arrays.as_ints(args[0])
            model.input_shape = dims if dims is None else tuple(dims)
            return None
        if name == "compile":
            self.facts.seen_compiles.add(id(node))
            model.losses = matching.loss_structure(node)
            outputs = self._outputs(model)
            for expr, output in matching.pairs(model.losses, outputs):
                self.facts.by_expr.setdefault(id(expr), [])
                if output is not None:
                    self.facts.by_expr[id(expr)].append(Binding(None, output, "compile"))
            return None
        if name in ("fit", "train_on_batch", "fit_generator"):
            x = args[0] if args else kwargs.get("x")
            y = args[1] if len(args) > 1 else kwargs.get("y")
            if isinstance(x, Dataset):
                element = x.element if x.batched else None
                parts = element.items if isinstance(element, Tup) else ()
                x, y = (parts[0], parts[1]) if len(parts) >= 2 else (None, None)
            if model.losses is not None and y is not None:
                outputs = self._outputs(model, x) if model.instance is not None or isinstance(x, Arr) else (
                    models.outputs_of(model))
                for expr, output, target in matching.triples(model.losses, outputs, y):
                    labels = arrays.to_array(target) if isinstance(target, (Series, Frame, Tup, PyList)) else target
                    self.facts.by_expr.setdefault(id(expr), []).append(Binding(labels, output, name))
            return None
        if name in ("predict", "predict_on_batch", "__call__", "call"):
            return self._outputs(model, args[0] if args else None)
        return None

def _code_of(line: str) -> str:
    """The line without its trailing comment."""
    if "#" in line:
        try:
            for token in tokenize.generate_tokens(io.StringIO(line.strip()).readline):
                if token.type == tokenize.COMMENT:
                    return line.strip()[:token.start[1]].rstrip()
        except (tokenize.TokenError, SyntaxError, IndentationError):
            pass
    return line.strip()


class _Budget(Exception):
    pass


@dataclass(frozen=True)
class _Enumerated:
    inner: object


@dataclass(frozen=True)
class _Zipped:
    parts: tuple[object, ...]


@dataclass(frozen=True)
class _Range:
    pass


@dataclass(frozen=True)
class _ILoc:
    frame: Frame


class _Scoped(dict):  # type: ignore[type-arg]
    """A function's locals that fall back to the module's globals on lookup."""

    def __init__(self, local: dict, outer: dict) -> None:  # type: ignore[type-arg]
        super().__init__(local)
        self.outer = outer

    def __missing__(self, key: str) -> object:
        return self.outer[key]

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) or key in self.outer

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        if super().__contains__(key):
            return super().__getitem__(key)
        return self.outer.get(key, default)


def _definitions_only(tree: ast.Module) -> list[tuple[str, ast.AST]] | None:
    """(name, node) of a block made only of defs, classes, imports and docstrings; None otherwise."""
    def compute() -> list[tuple[str, ast.AST]] | None:
        found: list[tuple[str, ast.AST]] = []
        for stmt in tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.append((stmt.name, stmt))
            elif not (isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Pass)) or (
                    isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))):
                return None
        return found

    return memo.on_node(tree, "definitions_only", compute)


def _training_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The block's top-level functions that compile or fit a model or run a GradientTape (kept with the tree)."""
    def trains(fn: ast.AST) -> bool:
        return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "compile", "fit", "GradientTape", "train_on_batch") for node in memo.subtree(fn))

    return memo.on_node(tree, "training_functions", lambda: [
        node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and trains(node)])


def program_facts(module: ModuleInfo) -> ProgramFacts:
    """The facts of one module, computed once per analysis and kept on the module object (a new one
    after every edit); the last run of each file is reused while what it read is unchanged."""
    return memo.on_node(module, "shape_facts", lambda: _reused_or_interpreted(module))  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Run:
    """One interpretation of a file and what it read."""

    trees: tuple[ast.Module | None, ...]  # every block's tree (held: the facts' keys are ids of their nodes)
    starts: tuple[int, ...]  # every block's first line
    outlines: dict[int, tuple]  # block index -> outline, for the definitions the run never looked into
    facts: ProgramFacts


_LAST_RUN: dict[str, _Run] = {}  # path -> the file's last run
_MAX_FILES = 64


def _reused_or_interpreted(module: ModuleInfo) -> ProgramFacts:
    last = _LAST_RUN.get(module.path)
    if last is not None and _unchanged(module, last):
        return last.facts
    interpreter = Interpreter(module)
    facts = _interpret(interpreter)
    outlines = {index: outline for index, block in enumerate(module.blocks)
                if (node := _lone_definition(block)) is not None and id(node) not in interpreter.read
                and (outline := _outline_of(block)) is not None}
    _LAST_RUN.pop(module.path, None)
    while len(_LAST_RUN) >= _MAX_FILES:
        _LAST_RUN.pop(next(iter(_LAST_RUN)))
    _LAST_RUN[module.path] = _Run(tuple(block.tree for block in module.blocks),
                                  tuple(block.start for block in module.blocks), outlines, facts)
    return facts


def _unchanged(module: ModuleInfo, run: _Run) -> bool:
    """Whether a run would read the same again: every block's tree and place, except the definitions it never
    looked into, of which only the outline counts (kept with the tree: an edit recomputes the edited block's)."""
    blocks = module.blocks
    if len(blocks) != len(run.trees):
        return False
    outlines, trees, starts = run.outlines, run.trees, run.starts
    for index, block in enumerate(blocks):
        outline = outlines.get(index)
        if outline is not None:
            if block.tree is None or _outline_of(block) != outline:
                return False
        elif block.tree is not trees[index] or block.start != starts[index]:
            return False
    return True


def forget_runs(path: str | None = None) -> None:
    """Drop the reusable run of one file (closed), or of every file."""
    if path is None:
        _LAST_RUN.clear()
    else:
        _LAST_RUN.pop(path, None)


Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _lone_definition(block: Block) -> Definition | None:
    """The function or class a block consists of, unless it is a function that trains (those run on their
    own). Of such a definition the run reads only its outline (``_outline``) until it calls the function,
    instantiates the class or looks up one of its methods."""
    tree = block.tree
    if tree is None or len(tree.body) != 1:
        return None
    node = tree.body[0]
    if isinstance(node, ast.ClassDef):
        return node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not (
            _TRAINING_WORDS.search(block.text) and _training_functions(tree)):  # the test run() makes
        return node
    return None


def _outline(tree: ast.Module, node: Definition) -> tuple:
    """What the run reads of a definition it never looked into: a function's name and parameters (binding
    it, recognising a loss signature), a class's name and bases (whether it is a Loss or a Model), and the
    imports written anywhere inside (they join the module's, by which names resolve)."""
    imports = tuple(sorted(summary_of(tree).imports.items()))
    if isinstance(node, ast.ClassDef):
        return ("class", node.name, tuple(dotted(base) or ast.dump(base) for base in node.bases), imports)
    args = node.args
    return ("def", node.name, tuple(a.arg for a in args.posonlyargs + args.args + args.kwonlyargs),
            len(args.defaults), args.vararg is not None, args.kwarg is not None, imports)


def _outline_of(block: Block) -> tuple | None:
    """The block's outline if it is a lone definition (kept with its tree)."""
    def compute() -> tuple | None:
        node = _lone_definition(block)
        return _outline(block.tree, node) if node is not None else None  # type: ignore[arg-type]

    return memo.on_node(block.tree, "run_outline", compute) if block.tree is not None else None


def _interpret(interpreter: Interpreter) -> ProgramFacts:
    try:
        return interpreter.run()
    except (RecursionError, MemoryError):
        return ProgramFacts()  # too deep to follow: nothing is known
    except Exception:  # a gap in the interpreter must not cost the file its other findings
        log.exception("shape inference failed on %s", interpreter.module.path)
        return ProgramFacts()
