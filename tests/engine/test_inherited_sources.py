"""A sub-model stored by a base class of the same module is a model where a subclass calls it."""

from __future__ import annotations

from loss_lsp.checker import analyze

BASE = '''import tensorflow as tf
import keras


class Base(keras.Model):
    def __init__(self):
        super().__init__()
        self.classifier = keras.layers.Dense(3, activation="softmax")


class Middle(Base):
    pass
'''
STEP = '''

class Trainer(Middle):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            probs = {probs}
            loss = -tf.reduce_mean(y * tf.math.log(probs))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {{"loss": loss}}
'''


def _codes(probs: str) -> list[tuple[int, str]]:
    source = BASE + STEP.format(probs=probs)
    return [(f.span.start_line, f.code) for f in analyze(source, "trainer.py").findings]


def test_a_sub_model_of_a_base_class_carries_the_gradient() -> None:
    log_line = (BASE + STEP).split("\n").index("            loss = -tf.reduce_mean(y * tf.math.log(probs))")
    assert _codes("self.classifier(x)") == [(log_line, "LL201")]


def test_the_same_step_with_clipped_probabilities_stays_quiet() -> None:
    assert _codes("tf.clip_by_value(self.classifier(x), 1e-7, 1.0)") == []


def test_an_attribute_no_constructor_sets_stays_unknown_and_quiet() -> None:
    assert _codes("self.head(x)") == []
