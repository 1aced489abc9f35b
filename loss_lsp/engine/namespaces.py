"""Our own table of the TensorFlow / Keras / NumPy namespaces.

jedi cannot follow TensorFlow's lazy re-export of Keras, and asking it to infer
TensorFlow on every keystroke would be far too slow, so imports of these libraries
are resolved here by name: a dotted path such as ``tensorflow.math.log`` becomes an
``Op(namespace="tf", name="log")`` that the dataflow and the rules understand.
"""

from __future__ import annotations

from dataclasses import dataclass

# Namespaces: "tf" (tensorflow ops), "np" (numpy), "ops" (keras.ops), "K" (keras backend),
# "losses" (built-in keras losses), "keras" (other keras API), "layers".


@dataclass(frozen=True)
class Op:
    namespace: str
    name: str

    @property
    def is_tensor_op(self) -> bool:
        return self.namespace in ("tf", "ops", "K")


_KERAS_ROOTS = ("tensorflow.keras.", "keras.src.", "keras.", "tf_keras.src.", "tf_keras.")
_TF_SUBMODULES = ("math.", "nn.", "linalg.", "raw_ops.", "debugging.", "experimental.numpy.")


def classify(path: str) -> Op | None:
    """Map a fully qualified dotted path to an Op, or None if it is not a library name."""
    if path.startswith("numpy."):
        return Op("np", path[len("numpy."):])
    for root in _KERAS_ROOTS:
        if path.startswith(root):
            return _classify_keras(path[len(root):])
    if path.startswith("tensorflow."):
        rest = path[len("tensorflow."):]
        for compat in ("compat.v1.", "compat.v2."):  # tf.compat.v1.log is tf.log: TF1 names resolve like TF2
            if rest.startswith(compat):
                rest = rest[len(compat):]
        if rest.startswith("keras."):
            return _classify_keras(rest[len("keras."):])
        for sub in _TF_SUBMODULES:
            if rest.startswith(sub):
                return Op("tf", rest[len(sub):])
        return Op("tf", rest)
    if path.startswith("functools."):
        return Op("functools", path[len("functools."):])
    return None


def _classify_keras(rest: str) -> Op:
    for prefix, namespace in (
        ("ops.numpy.", "ops"),
        ("ops.nn.", "ops"),
        ("ops.math.", "ops"),
        ("ops.", "ops"),
        ("backend.", "K"),
        ("activations.", "ops"),
        ("losses.", "losses"),
        ("layers.", "layers"),
    ):
        if rest.startswith(prefix):
            return Op(namespace, rest[len(prefix):])
    return Op("keras", rest)


# --- what the ops do to gradients and values -------------------------------------------------

COMPARISONS = {
    "greater", "less", "equal", "not_equal", "greater_equal", "less_equal",
    "logical_and", "logical_or", "logical_not", "logical_xor", "is_nan", "isnan", "is_finite",
    "isfinite", "is_inf", "isinf",
}
# Outputs with no gradient at all (tape returns None): fit fails with "No gradients provided".
NO_GRADIENT = {"round", "floor", "ceil", "argmax", "argmin", "rint", "top_k", "unique", "searchsorted"} | COMPARISONS
# Outputs whose gradient is defined but identically zero: training runs and learns nothing.
ZERO_GRADIENT = {"sign"}
DETACHING = {"stop_gradient", "py_function", "numpy_function", "py_func"}
LOG = {"log", "log2", "log10"}
SQRT = {"sqrt", "norm", "euclidean_norm", "l2_norm"}
DIVIDE = {"divide", "truediv", "div", "true_divide", "realdiv", "reciprocal"}
SAFE_DIVIDE = {"divide_no_nan", "div_no_nan"}
CLIP = {"clip_by_value", "clip"}
NON_VALUE = {"shape", "size", "rank", "ndim", "shape_n", "zeros_like", "ones_like", "int_shape",
             "epsilon", "floatx", "dtype"}
REDUCTIONS = {"reduce_mean", "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "mean", "sum",
              "max", "min", "prod", "reduce_logsumexp", "logsumexp", "amax", "amin", "reduce_std",
              "reduce_variance", "std", "var"}
INT_DTYPES = {"int8", "int16", "int32", "int64", "uint8", "bool"}

# NumPy -> TensorFlow spelling, for the LL101 quick fix (``tf.`` prefix added by the fix).
NUMPY_TO_TF = {
    "mean": "reduce_mean", "sum": "reduce_sum", "max": "reduce_max", "min": "reduce_min",
    "amax": "reduce_max", "amin": "reduce_min", "prod": "reduce_prod", "std": "math.reduce_std",
    "var": "math.reduce_variance", "square": "square", "sqrt": "sqrt", "log": "math.log",
    "exp": "exp", "abs": "abs", "where": "where", "clip": "clip_by_value", "maximum": "maximum",
    "minimum": "minimum", "power": "pow", "tanh": "tanh", "log1p": "math.log1p", "matmul": "linalg.matmul",
    "dot": "tensordot", "transpose": "transpose", "reshape": "reshape", "concatenate": "concat",
    "stack": "stack", "expand_dims": "expand_dims", "squeeze": "squeeze", "multiply": "multiply",
    "add": "add", "subtract": "subtract", "divide": "divide", "negative": "negative", "cumsum": "cumsum",
    "einsum": "einsum", "linalg.norm": "norm", "logaddexp": "math.reduce_logsumexp",
}
# NumPy -> keras.ops spelling (keras.ops mirrors NumPy names).
NUMPY_TO_OPS = {name: name for name in NUMPY_TO_TF} | {"linalg.norm": "norm", "amax": "max", "amin": "min"}

# tf.* -> keras.ops spelling, for LL410.
TF_TO_OPS = {
    "reduce_mean": "mean", "reduce_sum": "sum", "reduce_max": "max", "reduce_min": "min",
    "reduce_prod": "prod", "square": "square", "sqrt": "sqrt", "log": "log", "exp": "exp", "abs": "abs",
    "where": "where", "clip_by_value": "clip", "maximum": "maximum", "minimum": "minimum", "pow": "power",
    "sigmoid": "sigmoid", "softmax": "softmax", "tanh": "tanh", "log1p": "log1p", "cast": "cast",
    "squeeze": "squeeze", "expand_dims": "expand_dims", "reshape": "reshape", "softplus": "softplus",
    "log_sigmoid": "log_sigmoid", "log_softmax": "log_softmax", "multiply": "multiply", "add": "add",
    "subtract": "subtract", "divide": "divide", "stop_gradient": "stop_gradient", "ones_like": "ones_like",
    "zeros_like": "zeros_like", "equal": "equal", "greater": "greater", "less": "less",
    "reduce_logsumexp": "logsumexp", "one_hot": "one_hot", "argmax": "argmax", "concat": "concatenate",
    "stack": "stack", "transpose": "transpose", "matmul": "matmul", "norm": "norm", "sign": "sign",
    "round": "round", "floor": "floor", "ceil": "ceil", "divide_no_nan": "divide_no_nan",
}
