"""The two rewrites of the copied code: model outputs become ``y_pred`` (recording the shape and activation
the program states for them), the label ``y_true``; in TF1 graph code ``tf.X`` becomes ``tf.compat.v1.X``."""

from __future__ import annotations

import ast
import copy
from typing import TYPE_CHECKING

from loss_lsp.engine.module import dotted
from loss_lsp.gradcheck.lifting.declared import declared_activation, declared_output, int_arg
from loss_lsp.gradcheck.lifting.lifted import LiftError
from loss_lsp.gradcheck.lifting.syntax import STOP, key_of

if TYPE_CHECKING:
    from loss_lsp.gradcheck.lifting.walk_back import Lifter

# Ops through which a variable's value stays "the model's output" (logits = matmul(x, W) + b).
_AFFINE = {"matmul", "add", "bias_add", "xw_plus_b", "conv1d", "conv2d", "conv3d", "tensordot", "einsum", "dense",
           "fully_connected", "conv2d_transpose", "reshape", "squeeze", "expand_dims", "concat"}


class Rewriter(ast.NodeTransformer):
    """Model outputs become ``y_pred``; in TF1 graph code ``tf.X`` becomes ``tf.compat.v1.X``."""

    def __init__(self, lifter: Lifter, graph: bool) -> None:
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
        if isinstance(node, STOP):
            return node
        if self.graph and isinstance(node, ast.Attribute) and dotted(node):
            return self._compat(node) or node  # a dotted name: nothing inside it to rewrite
        return super().visit(node)

    def _record(self, node: ast.expr) -> tuple[str, tuple[int | None, ...] | None, str | None]:
        text = ast.unparse(node)
        lifter = self.lifter
        if key_of(node) in lifter.predictions:
            return text, None, None
        if lifter._model_call(node) and not any(key_of(n) in lifter.variables for n in ast.walk(node)):
            # A Keras model or layer: what its definition states; a TF1 layer function
            # (tf.layers.dense(x, 10, activation=...)) states its units and activation.
            if isinstance(node, ast.Call) and lifter.module.op(node.func) is not None:
                units = int_arg(node, 1, "units")
                return text, ((None, units) if units else None), declared_activation(node) or "linear"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in lifter.module.functions:
                return text, lifter.helper_shape(node), lifter.helper_range(node)
            shape, activation = declared_output(lifter.model_value(node)) if isinstance(node, ast.Call) \
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


class Rename(ast.NodeTransformer):
    """The label becomes ``y_true``; tensors kept on ``self`` become locals (``self.pred`` -> ``self_pred``)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id == self.target:
            return ast.copy_location(ast.Name(id="y_true", ctx=node.ctx), node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        key = key_of(node)
        if key is None:
            return self.generic_visit(node)
        name = "y_true" if key == self.target else key.replace(".", "_")
        return ast.copy_location(ast.Name(id=name, ctx=node.ctx), node)


def check_label_use(name: str, nodes: list[ast.AST]) -> None:
    """The one data value left is the labels only if it is used as a value: a function the code calls is not
    something the check can feed."""
    uses = {id(n) for node in nodes for n in ast.walk(node) if key_of(n) == name}
    if any(isinstance(n, ast.Call) and id(n.func) in uses for node in nodes for n in ast.walk(node)):
        raise LiftError(f"the loss calls `{name}`, a function the training code receives: not data the check can feed")
