"""Generated training modules with many losses, for the benchmarks (deterministic)."""

from __future__ import annotations

_HEADER = '''"""A generated training module: many custom losses, some broken."""

import keras
import numpy as np
import tensorflow as tf
from tensorflow.keras import backend as K

EPS = 1e-7
x_train = np.random.rand(512, 16).astype("float32")
y_train = np.random.rand(512, 1).astype("float32")

'''

_TEMPLATES = [
    '''def focal_{i}(y_true, y_pred, gamma={g}):
    p = tf.clip_by_value(y_pred, EPS, 1.0 - EPS)
    weight = tf.pow(1.0 - p, gamma)
    ce = -y_true * tf.math.log(p) - (1.0 - y_true) * tf.math.log(1.0 - p)
    return tf.reduce_mean(weight * ce, axis=-1)


''',
    '''def dice_{i}(y_true, y_pred):
    inter = tf.reduce_sum(y_true * y_pred, axis=-1)
    union = tf.reduce_sum(y_true, axis=-1) + tf.reduce_sum(y_pred, axis=-1)
    score = 2.0 * inter / union
    return 1.0 - tf.reduce_mean(score)


''',
    '''class Weighted{i}(keras.losses.Loss):
    def __init__(self, weight={g}, name="weighted_{i}"):
        super().__init__(name=name)
        self.weight = weight

    def call(self, y_true, y_pred):
        err = tf.square(y_true - y_pred)
        hard = tf.cast(y_pred > 0.5, tf.float32)
        return tf.reduce_mean(err * self.weight + hard, axis=-1)


''',
    '''def make_loss_{i}(alpha={g}):
    def loss(y_true, y_pred):
        diff = y_true - y_pred
        terms = []
        for k in range(3):
            terms.append(tf.square(diff) * (k + 1))
        total = tf.add_n(terms) * alpha
        return tf.sqrt(tf.reduce_mean(total, axis=-1))
    return loss


''',
    '''def rmse_{i}(y_true, y_pred):
    value = np.mean(np.square(y_true - y_pred))
    if value > 10:
        value = value / 2
    return tf.sqrt(value + EPS)


''',
]


def training_module(lines: int) -> str:
    """About ``lines`` lines of losses, then a model that compiles a few of them."""
    parts = [_HEADER]
    count = 0
    i = 0
    while count < lines - 20:
        text = _TEMPLATES[i % len(_TEMPLATES)].format(i=i, g=1.0 + (i % 5) / 2)
        parts.append(text)
        count += text.count("\n")
        i += 1
    parts.append('''model = keras.Sequential([keras.Input(shape=(16,)), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss=focal_0)
model.compile(optimizer="adam", loss=Weighted2())
model.compile(optimizer="adam", loss=make_loss_3(0.5))
model.fit(x_train, y_train, epochs=1)
''')
    return "".join(parts)


def edit_line(source: str, index: int) -> tuple[str, int]:
    """The source with one line inside one loss changed (a constant), and that line's number."""
    lines = source.split("\n")
    candidates = [n for n, line in enumerate(lines) if "tf.square(y_true - y_pred)" in line]
    target = candidates[index % len(candidates)]
    lines[target] = lines[target].replace("tf.square(y_true - y_pred)", f"tf.square(y_true - y_pred) * {index % 7 + 1}.0")
    return "\n".join(lines), target
