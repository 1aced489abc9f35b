"""Class-weighted binary cross-entropy as Loss subclasses, labels of shape (N,)."""

import keras
import numpy as np
import tensorflow as tf

x = np.random.rand(128, 4).astype("float32")
y = (np.random.rand(128) > 0.8).astype("float32")


class WeightedBCE(keras.losses.Loss):
    def __init__(self, pos_weight=4.0, **kwargs):
        super().__init__(**kwargs)
        self.pos_weight = pos_weight

    def call(self, y_true, y_pred):
        p = tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7)
        return -tf.reduce_mean(self.pos_weight * y_true * tf.math.log(p) + (1.0 - y_true) * tf.math.log(1.0 - p),
                               axis=-1)

    def get_config(self):
        return {**super().get_config(), "pos_weight": self.pos_weight}


class SqueezedWeightedBCE(keras.losses.Loss):
    def __init__(self, pos_weight=4.0, **kwargs):
        super().__init__(**kwargs)
        self.pos_weight = pos_weight

    def call(self, y_true, y_pred):
        p = tf.clip_by_value(tf.squeeze(y_pred, axis=-1), 1e-7, 1.0 - 1e-7)
        return -(self.pos_weight * y_true * tf.math.log(p) + (1.0 - y_true) * tf.math.log(1.0 - p))

    def get_config(self):
        return {**super().get_config(), "pos_weight": self.pos_weight}


model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss=WeightedBCE(pos_weight=4.0))
model.fit(x, y, epochs=1, verbose=0)
model.compile(optimizer="adam", loss=SqueezedWeightedBCE(pos_weight=4.0))
model.fit(x, y, epochs=1, verbose=0)
