"""Issue 12's example exactly as a newcomer writes it (no hint): the labels' shape comes only from
`y = x.sum(axis=1)`, so the check needs the program's shapes inferred."""

import keras
import numpy as np
import tensorflow as tf


class MyMSE(keras.losses.Loss):
    def call(self, y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


x = np.random.rand(256, 4).astype("float32")
y = x.sum(axis=1)                       # (256,)
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss=MyMSE())
model.fit(x, y, epochs=2, batch_size=32)


class FixedMSE(keras.losses.Loss):
    def call(self, y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


y_column = x.sum(axis=1).reshape(-1, 1)  # (256, 1): the corrected labels
fixed = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
fixed.compile(optimizer="adam", loss=FixedMSE())
fixed.fit(x, y_column, epochs=2, batch_size=32)
