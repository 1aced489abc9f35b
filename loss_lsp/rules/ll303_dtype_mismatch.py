"""LL303: integer labels combined with float predictions without a cast."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from loss_lsp.engine.context import LossContext
from loss_lsp.engine.findings import Finding
from loss_lsp.rules.rule import Rule


def check(ctx: LossContext) -> Iterator[Finding]:
    pred = ctx.loss.params[1] if len(ctx.loss.params) > 1 else "y_pred"
    for flow in ctx.flow.all_flows():
        for node, int_side in flow.dtype_mismatches():
            if _promotes(flow, node):
                continue
            text = ctx.text(int_side, flow)
            if ctx.loss.kind == "computation":  # training code: no y_pred parameter; cast to the other operand
                other = _other_operand(node, int_side)
                if not isinstance(other, (ast.Name, ast.Attribute)):
                    yield ctx.finding(RULE, node, _message(text), None, flow)
                    continue
                pred = ctx.text(other, flow)
            fix = ctx.replace(f"Cast `{text}` to the predictions' dtype", int_side,
                              f"{ctx.file.tf()}.cast({text}, {pred}.dtype)", "safe", flow, ctx.file.tf_fix_edits())
            yield ctx.finding(RULE, node, _message(text), fix, flow)


def _message(text: str) -> str:
    return (f"`{text}` holds integer labels and is combined with float predictions: TensorFlow raises "
            "InvalidArgumentError (no implicit casts) when this loss is called directly")


def _other_operand(node: ast.AST, side: ast.AST) -> ast.AST | None:
    operands = [node.left, node.right] if isinstance(node, ast.BinOp) else list(getattr(node, "args", []))[:2]
    return next((o for o in operands if o is not side), None)


def _promotes(flow, node: ast.AST) -> bool:  # type: ignore[no-untyped-def]
    """keras.ops promotes bool and int operands to float; TensorFlow (and tf.keras.backend over it) raises."""
    if not isinstance(node, ast.Call):
        return False
    op = flow.op(node)
    return op is not None and op.namespace == "ops"


RULE = Rule(
    code="LL303",
    name="dtype-mismatch",
    severity="error",
    summary="Integer labels combined with float predictions without a cast",
    why=(
        "TensorFlow never casts implicitly: `int32 - float32` raises `InvalidArgumentError`. Keras converts "
        "y_true to the loss's dtype before calling a loss given to `compile` or a `Loss` instance, so this "
        "only bites where the loss is called directly, in a custom training loop fed with integer labels."
    ),
    example=(
        "import numpy as np\nimport tensorflow as tf\n\n"
        "labels = np.random.randint(0, 2, size=(64, 1))\n\n"
        "def loss_fn(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.square(y_true - y_pred))\n\n"
        "def step(model, x):\n"
        "    return loss_fn(labels[:8], model(x))\n"
    ),
    fixed=(
        "import numpy as np\nimport tensorflow as tf\n\n"
        "labels = np.random.randint(0, 2, size=(64, 1))\n\n"
        "def loss_fn(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.square(tf.cast(y_true, y_pred.dtype) - y_pred))\n\n"
        "def step(model, x):\n"
        "    return loss_fn(labels[:8], model(x))\n"
    ),
    fix_title="`tf.cast(y_true, y_pred.dtype)`",
    check=check,
)
