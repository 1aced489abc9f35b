"""The dataflow through lists, tuples and dicts: an item taken by constant index is that item, not all of them;
mutating the container forgets what was known by index; a lambda mapped over a tensor sees its elements."""

from __future__ import annotations

import pytest

from loss_lsp.checker import analyze
from tests.engine.test_dataflow import flow_of


def returned(source: str):  # type: ignore[no-untyped-def]
    return flow_of(source).returned()


@pytest.mark.parametrize("body", [
    "pair = [y_true, y_pred]\n    return pair[0]",
    "pair = (y_pred, y_true)\n    return pair[-1]",
    "out = {'a': y_pred, 'b': y_true}\n    return out['b']",
    "nested = [[y_pred], [y_true]]\n    return nested[1]",
])
def test_an_item_taken_by_constant_index_is_that_item(body: str) -> None:
    assert not returned(f"def loss(y_true, y_pred):\n    {body}\n").pred


@pytest.mark.parametrize("body", [
    "pair = [y_true, y_true]\n    pair[0] = y_pred\n    return pair[0]",
    "terms = [y_true]\n    terms.append(y_pred)\n    return terms[1]",
    "terms = [y_true]\n    terms.insert(0, y_pred)\n    return terms[0]",
    "parts = [y_pred, y_true]\n    first, *rest = parts\n    return first",
])
def test_after_the_container_changes_its_items_may_be_anything_added(body: str) -> None:
    assert returned(f"def loss(y_true, y_pred):\n    {body}\n").pred


def lines_of(source: str, code: str) -> list[int]:
    return [f.span.start_line + 1 for f in analyze(source, "<stdin>").findings if f.code == code]


def test_a_threshold_in_an_item_the_loss_never_reads_is_not_reported() -> None:
    source = '''import tensorflow as tf


def unused_item(y_true, y_pred):
    pair = [tf.cast(y_pred > 0.5, tf.float32), tf.square(y_true - y_pred)]
    return tf.reduce_mean(pair[1])


def used_item(y_true, y_pred):
    pair = [tf.cast(y_pred > 0.5, tf.float32), tf.square(y_true - y_pred)]
    return tf.reduce_mean(pair[1]) + tf.reduce_mean(pair[0])
'''
    assert lines_of(source, "LL103") == [10]


def test_a_lambda_mapped_over_the_predictions_is_on_their_path() -> None:
    source = '''import tensorflow as tf


def per_row(y_true, y_pred):
    rounded = tf.map_fn(lambda row: tf.round(row), y_pred)
    return tf.reduce_mean(tf.square(y_true - rounded))


def per_label(y_true, y_pred):
    masks = tf.map_fn(lambda row: tf.round(row), y_true)
    return tf.reduce_mean(masks * tf.square(y_true - y_pred))
'''
    assert lines_of(source, "LL103") == [5]


def test_an_operation_in_an_item_the_loss_never_reads_is_dead_code() -> None:
    source = '''import tensorflow as tf


def unused_log(y_true, y_pred):
    pair = [tf.math.log(y_pred), tf.square(y_true - y_pred)]
    return tf.reduce_mean(pair[-1])


def unused_key(y_true, y_pred):
    parts = {"ce": tf.math.log(y_pred), "mse": tf.square(y_true - y_pred)}
    return tf.reduce_mean(parts["mse"])


def read_whole(y_true, y_pred):
    pair = [tf.math.log(y_pred), tf.square(y_true - y_pred)]
    first, second = pair
    return tf.reduce_mean(second)


def read_item(y_true, y_pred):
    pair = [tf.math.log(y_pred), tf.square(y_true - y_pred)]
    return tf.reduce_mean(pair[0])
'''
    # Unpacking reads every item (which one is used is not tracked through the names): reported.
    assert lines_of(source, "LL201") == [15, 21]
