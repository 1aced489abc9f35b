"""The shapes a loss body allows (pure AST), and the shape cases the gradient check runs at."""

from __future__ import annotations

import ast

import pytest

from loss_lsp.checker import analyze
from loss_lsp.engine.shape_constraints import constraints_of, module_helpers
from loss_lsp.gradcheck.cases import loss_constraints, shape_cases
from loss_lsp.settings import Settings


def constraints(source: str, name: str):
    tree = ast.parse(source)
    node = next(n for n in ast.walk(tree) if getattr(n, "name", None) == name)
    return constraints_of(node, module_helpers(tree))


@pytest.mark.parametrize(("body", "columns"), [
    ("return tf.reduce_mean(y_pred[:, 1:] - y_true)", [2, 3]),
    ("return tf.reduce_mean(y_pred[..., 2] - y_true)", [3, 4]),
    ("return tf.reduce_mean(y_pred[:, -1] - y_true)", [1, 3]),
    ("mu, s = tf.unstack(y_pred, axis=-1)\n    return mu + s", [2]),
    ("a, b = tf.split(y_pred, 2, axis=-1)\n    return a - b", [2, 4]),
    ("return tf.reduce_mean(tf.square(y_true - y_pred))", [1, 3]),
    ("p = tf.nn.softmax(y_pred)\n    return -tf.reduce_sum(y_true * tf.math.log(p), axis=-1)", [2, 3]),
])
def test_columns_the_body_allows(body: str, columns: list[int]) -> None:
    found = constraints(f"def loss(y_true, y_pred):\n    {body}\n", "loss")
    assert found.y_pred_columns() == columns


def test_names_followed_through_reassignments_and_helpers() -> None:
    source = (
        "def _nll(target, out):\n"
        "    scale = out[:, 1:]\n"
        "    return tf.reduce_mean(tf.math.log(scale))\n\n"
        "def loss(y_true, y_pred):\n"
        "    y_pred = tf.clip_by_value(y_pred, 1e-6, 1e6)\n"
        "    return _nll(y_true, y_pred)\n"
    )
    found = constraints(source, "loss")
    assert found.y_pred_min_columns == 2 and found.y_pred_split
    assert "out" not in found.describe() and "line 2" in found.describe()
    reshaped = constraints("def loss(y_true, y_pred):\n    y_pred = tf.reshape(y_pred, [-1])\n"
                           "    return y_pred[:, 1:]\n", "loss")
    assert reshaped.y_pred_min_columns == 1  # no longer the input after a reshape


def test_integer_labels_and_classes() -> None:
    found = constraints("def loss(y_true, y_pred):\n    t = tf.one_hot(tf.cast(y_true, tf.int32), 5)\n"
                        "    return -tf.reduce_sum(t * tf.math.log(y_pred), axis=-1)\n", "loss")
    assert found.integer_labels and found.classes == 5 and found.y_pred_columns() == [5]
    sparse = constraints("class L(Loss):\n    def call(self, labels, logits):\n"
                         "        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)\n",
                         "L")
    assert sparse.integer_labels
    columns = constraints("def loss(y_true, y_pred):\n    return y_true[:, 0] * y_pred[:, 0]\n", "loss")
    assert columns.y_true_needs_columns and not columns.integer_labels


def _cases(source: str, name: str):
    analysis = analyze(source, "/tmp/cases.py", Settings())
    loss = next(info for info in analysis.losses if info.name == name)
    return shape_cases(loss, Settings(), loss_constraints(source, loss))


def test_known_shapes_give_one_case_at_a_small_batch() -> None:
    source = ("import tensorflow as tf\n\n"
              "def mse(y_true, y_pred):  # loss-lsp: shapes y_true=(256,) y_pred=(256, 1)\n"
              "    return tf.reduce_mean(tf.square(y_true - y_pred))\n")
    [case] = _cases(source, "mse")
    assert case.stated and case.shapes["y_true"] == [8] and case.shapes["y_pred"] == [8, 1]
    assert "(256,)" in case.origin and "(256, 1)" in case.origin


def test_unknown_shapes_give_the_smallest_the_body_allows() -> None:
    source = ("import tensorflow as tf\n\n"
              "def nll(y_true, y_pred):\n"
              "    return tf.reduce_mean(y_pred[:, 1:] + tf.square(y_true - y_pred[:, :1]))\n")
    cases = _cases(source, "nll")
    assert {c.batch for c in cases} == {1, 8}
    assert all(c.shapes["y_pred"][1] >= 2 for c in cases) and not any(c.stated for c in cases)
    assert all(c.shapes["y_true"][-1] == 1 for c in cases)  # one target per (mean, variance) pair
    assert "y_pred[:, 1:] needs at least 2 columns" in cases[0].origin
    sparse = ("import tensorflow as tf\n\n"
              "def ce(y_true, y_pred):\n"
              "    return -tf.reduce_sum(tf.one_hot(y_true, 4) * tf.math.log(y_pred), axis=-1)\n")
    for case in _cases(sparse, "ce"):
        assert case.shapes["y_true"] == [case.batch] and case.shapes["y_pred"] == [case.batch, 4]
        assert case.shapes["y_true_domain"] == "integer:4" and case.shapes["y_true_dtype"] == "int32"
