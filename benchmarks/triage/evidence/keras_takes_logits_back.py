"""Evidence for LL304/LL308 staying quiet on `from_logits=True` after a Keras softmax/sigmoid.

The classic "activation applied twice" bug: a model ending in `activation="softmax"` (or sigmoid)
compiled with `CategoricalCrossentropy(from_logits=True)`. Keras's cross-entropies look for the logits
behind such an output (a Keras activation keeps them on its result; inside a tf.function any
Softmax/Sigmoid op's input is used) and only warn. This trains the same small model with
`from_logits=True` and `False`, in graph mode (fit's default) and eagerly, from the same seed, and prints
the first and last epoch's loss: identical numbers mean the "double activation" never happens.
A `tf.nn.softmax_cross_entropy_with_logits` given the softmax output is not rescued (LL308 still fires).

Run: python benchmarks/triage/evidence/keras_takes_logits_back.py
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def train(activation: str, units: int, loss_class: type, from_logits: bool, eager: bool) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 4)) * 10).astype("float32")
    ids = rng.integers(0, max(units, 2), 64)
    y = keras.utils.to_categorical(ids, units) if units > 1 else ids.reshape(-1, 1).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(units, activation=activation)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss_class(from_logits=from_logits),
                  run_eagerly=eager)
    history = model.fit(x, y, epochs=20, verbose=0).history["loss"]
    return history[0], history[-1]


def main() -> None:
    warnings.simplefilter("ignore")  # Keras warns that from_logits=True met a softmax output: that is the point
    for activation, units, loss_class in (("softmax", 3, keras.losses.CategoricalCrossentropy),
                                          ("sigmoid", 1, keras.losses.BinaryCrossentropy)):
        for eager in (False, True):
            runs = {flag: train(activation, units, loss_class, flag, eager) for flag in (True, False)}
            same = np.allclose(runs[True], runs[False])
            print(f"{activation:8s} {'eager' if eager else 'graph'}  from_logits=True {runs[True][0]:.4f} -> "
                  f"{runs[True][1]:.4f}   from_logits=False {runs[False][0]:.4f} -> {runs[False][1]:.4f}   "
                  f"{'identical' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
