"""Severities of the wiring rules follow what training hits: scores clipped as probabilities (LL304) or an
activation applied twice (LL308) train badly without raising (warning); a single-unit softmax trains
nothing, swapped labels train toward the data, one-hot labels to the sparse loss raise (error)."""

from __future__ import annotations

from loss_lsp.checker import analyze
from loss_lsp.settings import Settings

SOURCE = '''
import keras
import tensorflow as tf

one_unit = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(1, activation="softmax")])
one_unit.compile(optimizer="adam", loss="binary_crossentropy")

scores = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(3)])
scores.compile(optimizer="adam", loss="categorical_crossentropy")


def softmax_twice(y_true, y_pred):
    return tf.nn.softmax_cross_entropy_with_logits(labels=y_true, logits=tf.nn.softmax(y_pred))


def prediction_first(y_true, y_pred):
    return tf.nn.sigmoid_cross_entropy_with_logits(y_pred, y_true)
'''


def _severities(settings: Settings | None = None) -> dict[tuple[str, int], str]:
    analysis = analyze(SOURCE, "wiring.py", settings)
    return {(f.code, f.span.start_line + 1): f.severity for f in analysis.findings}


def test_each_wiring_finding_has_the_severity_of_what_training_hits() -> None:
    assert _severities() == {
        ("LL304", 6): "error",  # softmax over one unit: nothing trains
        ("LL304", 9): "warning",  # raw scores clipped as probabilities
        ("LL308", 13): "warning",  # softmax applied twice through *_with_logits
        ("LL308", 17): "error",  # labels and logits swapped
    }


def test_a_configured_severity_applies_to_every_finding_of_the_rule() -> None:
    quiet = Settings(severity={"LL304": "info", "LL308": "hint"})
    assert set(_severities(quiet).values()) == {"info", "hint"}
    assert {code for (code, _), level in _severities(quiet).items() if level == "info"} == {"LL304"}
