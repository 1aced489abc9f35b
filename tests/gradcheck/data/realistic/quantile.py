"""Quantile regression: three quantiles per sample against one target."""

import keras
import numpy as np
import tensorflow as tf

QUANTILES = tf.constant([[0.1, 0.5, 0.9]])
x = np.random.rand(100, 7).astype("float32")
y = np.random.rand(100, 1).astype("float32")


def pinball(y_true, y_pred):
    err = y_true - y_pred
    return tf.reduce_mean(tf.maximum(QUANTILES * err, (QUANTILES - 1.0) * err), axis=-1)


def median_only(y_true, y_pred):
    return tf.reduce_mean(tf.abs(y_true[:, 0] - y_pred[:, 1]))


forecaster = keras.Sequential([keras.Input(shape=(7,)), keras.layers.Dense(3)])
forecaster.compile(optimizer="adam", loss=pinball)
forecaster.fit(x, y, epochs=1, verbose=0)
forecaster.compile(optimizer="adam", loss=median_only)
forecaster.fit(x, y, epochs=1, verbose=0)
