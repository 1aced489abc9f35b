"""What carries the gradient in a computation found from its sink.

Model and layer calls (``model(x)``, ``self(x)``, ``self.encoder(h)``, ``layers.Dense(4)(h)``,
``tf.layers.dense(x, 4)``), variables (``tf.Variable``, ``tf.get_variable``, ``add_weight``) and
watched tensors carry it; labels, placeholders fed with data and NumPy arrays do not. A callable is a
model only when the code says so (a parameter, or a name bound to a Keras model/layer, to a class of the
module, or to a ``build_model()``-like factory): when the engine cannot tell, the value is not a source
and nothing is reported about it.
"""

from __future__ import annotations

import ast

from loss_lsp.engine.module import ModuleInfo, dotted
from loss_lsp.engine.namespaces import Op
from loss_lsp.engine.values import Val

SOURCE = Val(pred=True, data=True, tensor=True)

_VARIABLES = {"Variable", "get_variable", "variable", "add_weight", "model_variable", "local_variable"}
_TF1_LAYERS = ("layers.", "contrib.layers.", "contrib.slim.", "slim.")
_NOT_MODELS = ("loss", "metric", "acc", "optimizer", "opt", "schedule", "callback", "print", "log", "summary",
               "fn", "func", "tokenizer", "preprocess", "augment", "dataset", "generator_fn", "distance", "similarity")
_MODEL_WORDS = ("model", "net", "layer", "encoder", "decoder", "generator", "discriminator", "critic", "actor",
                "policy", "block", "head", "backbone", "classifier", "student", "teacher", "dense", "conv")
_KERAS_NON_MODELS = ("losses.", "metrics.", "optimizers.", "callbacks.", "utils.", "datasets.", "preprocessing.",
                     "initializers.", "regularizers.", "constraints.", "backend.", "ops.", "activations.", "config.")


def is_source_op(op: Op) -> bool:
    """Library calls whose output is trained: variables and TF1 layer functions (``tf.layers.dense``)."""
    name = op.name.rsplit(".", 1)[-1]
    if op.namespace == "tf":
        return name in _VARIABLES or op.name.startswith(_TF1_LAYERS)
    return op.namespace == "keras" and name == "Variable"


def source_rank(op: Op, call: ast.Call, args: list[Val]) -> int | None:
    """The rank of a variable or TF1 layer output when the code states it: ``tf.Variable(tf.zeros([4, 1]))``
    has the rank of its initial value, ``get_variable("w", [4, 1])`` of its shape, ``tf.layers.dense(x, 1)``
    the rank of ``x``."""
    name = op.name.rsplit(".", 1)[-1]
    if name in ("Variable", "variable"):
        return args[0].rank if args else None
    if name in ("get_variable", "model_variable", "local_variable"):
        shape = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "shape"), None)
        return len(shape.elts) if isinstance(shape, (ast.List, ast.Tuple)) else None
    if op.name.startswith(_TF1_LAYERS) and name in ("dense", "fully_connected") and args:
        return args[0].rank
    return None


def not_loss_like(name: str) -> bool:
    lowered = name.lower()
    return not any(word in lowered for word in _NOT_MODELS) or any(w in lowered for w in ("model", "net"))


def is_model_constructor(module: ModuleInfo, call: ast.Call, local_imports: dict[str, str] | None = None) -> bool:
    """``keras.Sequential([...])``, ``layers.Dense(4)``, ``MyModel()``, ``build_model()``."""
    func = call.func
    op = module.op(func, local_imports)
    if op is not None:
        if op.namespace == "layers":
            return True
        return op.namespace == "keras" and not op.name.startswith(_KERAS_NON_MODELS) and (
            op.name.rsplit(".", 1)[-1][:1].isupper() or op.name.endswith("load_model"))
    name = dotted(func) or ""
    short = name.rsplit(".", 1)[-1]
    if short in module.classes:
        return not_loss_like(short)
    lowered = short.lower()
    return any(word in lowered for word in _MODEL_WORDS) and not_loss_like(short)


def is_model_name(module: ModuleInfo, name: str, binding: ast.Call | None, parameters: set[str]) -> bool:
    """A name that holds a model or layer where it is called."""
    if not not_loss_like(name):
        return False
    if binding is None and name in module.assignments:
        value = module.assignments[name][0]
        binding = value if isinstance(value, ast.Call) else None
    if binding is not None:
        return is_model_constructor(module, binding)
    return name in parameters



def layer_activation(kind: str, call: ast.Call) -> str:
    """The activation a Keras ``Dense`` / ``Activation`` / ``Softmax`` layer applies: its literal name
    (``"relu"``, ``tf.nn.softmax`` -> ``"softmax"``), "linear" when none is given, "?" when the code does not say."""
    if kind == "Softmax":
        return "softmax"
    if kind == "Activation":
        given = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "activation"), None)
    elif kind == "Dense":
        given = next((k.value for k in call.keywords if k.arg == "activation"),
                     call.args[1] if len(call.args) > 1 else None)
    else:
        return "?"
    if given is None or (isinstance(given, ast.Constant) and given.value is None):
        return "linear"
    if isinstance(given, ast.Constant) and isinstance(given.value, str):
        return given.value
    if isinstance(given, ast.Attribute):  # tf.nn.softmax, keras.activations.sigmoid
        return given.attr
    return "?"


def output_activation(module: ModuleInfo, built: ast.Call, local_imports: dict[str, str] | None = None,
                      line: int | None = None) -> str:
    """"softmax" / "sigmoid" when the model or layer ``built`` makes is known to end in that activation: a Keras
    layer (``Dense(10, activation="softmax")``, ``Activation("sigmoid")``, ``Softmax()``), a ``Sequential`` of
    a literal list whose last layer is one, or a functional ``Model(inputs, outputs)`` built on ``line`` right
    after such a layer (the last Dense/Activation/Softmax layer call before it, as LL304 reads a compiled
    model). "" when it ends otherwise or the code does not say."""
    op = module.op(built.func, local_imports)
    if op is None:
        return ""
    name = op.name.rsplit(".", 1)[-1]
    if op.namespace == "keras" and name in ("Model", "Functional") and line is not None and (
            len(built.args) > 1 or any(k.arg == "outputs" for k in built.keywords)):
        last = module.last_layer_before(line, ("Dense", "Activation", "Softmax"))
        activation = layer_activation(last.kind, last.call) if last is not None else ""
        return activation if activation in ("softmax", "sigmoid") else ""
    if op.namespace == "keras" and name == "Sequential":
        layers = built.args[0] if built.args else next((k.value for k in built.keywords if k.arg == "layers"), None)
        last = layers.elts[-1] if isinstance(layers, (ast.List, ast.Tuple)) and layers.elts else None
        return output_activation(module, last, local_imports) if isinstance(last, ast.Call) else ""
    activation = layer_activation(name, built) if op.namespace == "layers" else ""
    return activation if activation in ("softmax", "sigmoid") else ""
