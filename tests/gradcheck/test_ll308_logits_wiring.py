"""The LL308 probe (logits-wiring) with the real worker: each form of the rule is confirmed where
TensorFlow shows it and not reproduced where the run is healthy, through compile() and through
training code the check lifts into a loss."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.expectations import FIXTURES
from tests.gradcheck.conftest import Checked, run_check

COMPILED = '''
import keras
import tensorflow as tf

model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])


def sigmoid_twice(y_true, y_pred):
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=tf.sigmoid(y_pred))


def keras_undoes_its_sigmoid(y_true, y_pred):
    probs = keras.activations.sigmoid(y_pred)
    return keras.losses.binary_crossentropy(y_true, probs, from_logits=True)


def prediction_first(y_true, y_pred):
    return tf.nn.sigmoid_cross_entropy_with_logits(y_pred, y_true)


model.compile(optimizer="adam", loss=sigmoid_twice)
model.compile(optimizer="adam", loss=keras_undoes_its_sigmoid)
model.compile(optimizer="adam", loss=prediction_first)
'''

LIFTED = '''
import keras
import tensorflow as tf

model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(5)])
optimizer = keras.optimizers.SGD()


def softmax_twice(features, one_hot):
    with tf.GradientTape() as tape:
        probs = tf.nn.softmax(model(features, training=True))
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=one_hot, logits=probs))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))


def keras_softmax_undone(features, one_hot):
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        probs = keras.activations.softmax(model(features, training=True))
        loss = loss_fn(one_hot, probs)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))


def keywords_reversed(features, one_hot):
    with tf.GradientTape() as tape:
        scores = model(features, training=True)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=scores, logits=one_hot))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
'''

# The model ends in a softmax: the walk moves the scores before it, so y_pred stays a probability row.
MODEL_SOFTMAX = '''
import keras
import tensorflow as tf

classifier = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(3, activation="softmax")])
optimizer = keras.optimizers.SGD()


def model_ending_in_softmax(features, one_hot):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=one_hot, logits=classifier(features, training=True)))
    grads = tape.gradient(loss, classifier.trainable_variables)
    optimizer.apply_gradients(zip(grads, classifier.trainable_variables))


def keras_loss_after_softmax(features, one_hot):
    with tf.GradientTape() as tape:
        loss = keras.losses.categorical_crossentropy(one_hot, classifier(features, training=True), from_logits=True)
    grads = tape.gradient(loss, classifier.trainable_variables)
    optimizer.apply_gradients(zip(grads, classifier.trainable_variables))
'''


@pytest.fixture(scope="module")
def model_softmax(checker, tmp_path_factory) -> Checked:
    path: Path = tmp_path_factory.mktemp("ll308") / "model_softmax.py"
    path.write_text(MODEL_SOFTMAX)
    return run_check(checker, path)


@pytest.fixture(scope="module")
def compiled(checker, tmp_path_factory) -> Checked:
    path: Path = tmp_path_factory.mktemp("ll308") / "compiled.py"
    path.write_text(COMPILED)
    return run_check(checker, path)


@pytest.fixture(scope="module")
def lifted(checker, tmp_path_factory) -> Checked:
    path: Path = tmp_path_factory.mktemp("ll308") / "lifted.py"
    path.write_text(LIFTED)
    return run_check(checker, path)


def ll308(checked: Checked, loss: str):
    found = [f for f in checked.findings_of(loss) if f.code == "LL308"]
    assert len(found) == 1, [(f.code, f.loss, f.message) for f in checked.result.findings]
    return found[0]


def test_compiled_double_sigmoid_is_confirmed_with_the_saturation_in_numbers(compiled: Checked) -> None:
    finding = ll308(compiled, "sigmoid_twice")
    assert finding.verdict == "confirmed", finding.evidence
    assert finding.probe == "logits-wiring"
    assert "stops growing" in finding.evidence and "max |dL/dy_pred|" in finding.evidence


def test_compiled_swapped_arguments_are_confirmed_by_a_constant_gradient(compiled: Checked) -> None:
    finding = ll308(compiled, "prediction_first")
    assert finding.verdict == "confirmed", finding.evidence
    assert "does not depend on y_pred" in finding.evidence


def test_lifted_double_softmax_is_confirmed(lifted: Checked) -> None:
    finding = ll308(lifted, "softmax_twice")
    assert finding.verdict == "confirmed", finding.evidence
    assert "lifted" in finding.evidence


def test_lifted_reversed_keywords_are_confirmed(lifted: Checked) -> None:
    finding = ll308(lifted, "keywords_reversed")
    assert finding.verdict == "confirmed", finding.evidence


@pytest.fixture(scope="module")
def tf1(checker) -> Checked:
    return run_check(checker, FIXTURES / "sinks" / "tf1_logits_wiring.py")


def test_lifted_one_hot_labels_to_the_sparse_loss_quote_tensorflows_error(tf1: Checked) -> None:
    # the program's placeholders give one-hot labels (N, 10) against logits (N, 10)
    finding = ll308(tf1, "train_sparse_with_one_hot")
    assert finding.verdict == "confirmed", finding.evidence
    assert "`labels.shape.rank` must equal `logits.shape.rank - 1`" in finding.evidence


def test_lifted_tf1_swap_whose_predictions_get_no_gradient_is_confirmed(tf1: Checked) -> None:
    # tf1's softmax_cross_entropy_with_logits stops the gradient at its labels: the swapped network never learns
    finding = ll308(tf1, "train_positional")
    assert finding.verdict == "confirmed", finding.evidence
    assert "None" in finding.evidence


def test_tf_loss_after_the_models_softmax_is_confirmed_on_the_scores_before_it(model_softmax: Checked) -> None:
    finding = ll308(model_softmax, "model_ending_in_softmax")
    assert finding.verdict == "confirmed", finding.evidence
    assert "before the model's softmax" in finding.evidence and "max |dL/dz|" in finding.evidence


@pytest.mark.parametrize(("fixture", "loss"), [("compiled", "keras_undoes_its_sigmoid"),
                                             ("lifted", "keras_softmax_undone"),
                                             ("model_softmax", "keras_loss_after_softmax")])
def test_a_keras_loss_after_a_softmax_or_sigmoid_is_not_reported(fixture: str, loss: str,
                                                                  request: pytest.FixtureRequest) -> None:
    # The probe measured it: Keras's cross-entropies take the logits back from the activation's output
    # (fit trains the same with from_logits=True or False), so the rule says nothing there.
    checked: Checked = request.getfixturevalue(fixture)
    assert not [f for f in checked.findings_of(loss) if f.code == "LL308"]
