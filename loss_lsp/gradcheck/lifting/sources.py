"""What a value on the path is: the model's output (a model or layer call, a model-building function, an
affine op over variables), a variable (the weights), a placeholder or a data read (the labels), a loss
object ``__init__`` stored on ``self``. A mixin of ``Lifter``: it reads the lifter's bindings."""

from __future__ import annotations

import ast

from loss_lsp.engine.module import ModuleInfo, dotted
from loss_lsp.engine.sinks import Unit
from loss_lsp.engine.sources import is_model_constructor, is_model_name, is_source_op, not_loss_like
from loss_lsp.gradcheck.lifting.declared import literal_shape
from loss_lsp.gradcheck.lifting.syntax import FunctionNode, assigned_name, key_of, loads, method_named, walk_local

_READS = {"next", "get_next", "next_batch", "get_batch", "sample_batch"}  # calls that read a batch of data


class SourceRecognition:
    """What the values on the path are, from the lifter's bindings (the attributes below)."""

    module: ModuleInfo
    unit: Unit
    start: int
    cls: ast.ClassDef | None
    scopes: list[FunctionNode]
    params: set[str]
    predictions: set[str]
    variables: dict[str, ast.expr]
    bindings: dict[str, ast.expr]
    local_names: set[str]
    self_attrs: dict[str, ast.expr]
    _resolving: set[str]

    def _closure_class(self) -> ast.ClassDef | None:
        """The class of the method a closure is defined in: its ``self.m(...)`` calls that class's methods."""
        outer = self.unit.enclosing[-1] if self.unit.enclosing else None
        found = self.module.classes.get(self.unit.name.split(".", 1)[0])
        if outer is None or found is None or outer not in found[0].body or found[1].start != self.start:
            return None
        return found[0]


    def _local_bindings(self) -> dict[str, ast.expr]:
        out: dict[str, ast.expr] = {}
        for scope in reversed(self.scopes):
            for node in walk_local(scope):
                name = assigned_name(node)
                if name is not None:
                    out[name] = node.value  # type: ignore[attr-defined]
        return out
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
            name = key_of(base)
            found = self.module.assignments.get(name) if name else None
            if found is None or not self._is_variable_value(found[0]):
                continue
            value = found[0]
            if isinstance(node, ast.Subscript) and isinstance(value, ast.Dict) and isinstance(node.slice, ast.Constant):
                value = next((v for k, v in zip(value.keys, value.values)
                              if isinstance(k, ast.Constant) and k.value == node.slice.value), None)
            shape = literal_shape(value) if value is not None and not isinstance(value, ast.Dict) else None
            if shape is not None and len(shape) == 2:
                return (None, shape[-1])
        return None

    def helper_range(self, call: ast.Call) -> str | None:
        """The activation a model-building function's return applies: softmax/sigmoid/..., linear for an
        affine output, None when it does not say."""
        fn = self.module.functions[dotted(call.func) or ""][0]
        returned = fn.body[-1].value  # type: ignore[attr-defined]
        if isinstance(returned, ast.Name):  # output = ...; return output
            values = [n.value for n in ast.walk(fn) if assigned_name(n) == returned.id]  # type: ignore[attr-defined]
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
            names = loads(value)
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
            container = self.variables.get(str(key_of(node.value)))
            if isinstance(container, ast.Dict):
                for key, value in zip(container.keys, container.values):
                    if isinstance(key, ast.Constant) and key.value == node.slice.value:
                        return literal_shape(value)
            return None
        key = key_of(node)
        value = self.variables.get(key) if key is not None else None
        return literal_shape(value) if value is not None and not isinstance(value, ast.Dict) else None

    def stored_value(self, node: ast.AST) -> ast.expr | None:
        """What ``self.x`` holds when ``__init__`` stores a loss object or a module function in it."""
        key = key_of(node)
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
            method = method_named(self.cls, "call")
            last = method.body[-1] if method is not None and method.body else None
            if isinstance(last, ast.Return) and isinstance(last.value, ast.Call) \
                    and key_of(last.value.func) is not None and key_of(last.value.func) != "self":
                return self.self_attrs.get(str(key_of(last.value.func))[len("self."):])
            return None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            return self.self_attrs.get(func.attr)
        if isinstance(func, ast.Name):
            found = self.bindings.get(func.id) or (self.module.assignments.get(func.id) or (None,))[0]
            return found
        return None

    def _is_source_leaf(self, node: ast.AST) -> bool:
        key = key_of(node)
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
