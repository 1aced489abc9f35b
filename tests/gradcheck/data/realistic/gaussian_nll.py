"""Heteroscedastic regression: the model predicts a mean and a log-variance per sample."""

import keras
import numpy as np
import tensorflow as tf

features = np.random.rand(128, 6).astype("float32")
targets = np.random.rand(128, 1).astype("float32")


def gaussian_nll(y_true, y_pred):
    mean = y_pred[:, :1]
    log_var = y_pred[:, 1:]
    return tf.reduce_mean(0.5 * log_var + 0.5 * tf.square(y_true - mean) / tf.exp(log_var))


def gaussian_nll_softplus(y_true, y_pred):
    mean = y_pred[:, 0:1]
    var = tf.nn.softplus(y_pred[:, 1:2]) + 1e-6
    return tf.reduce_mean(0.5 * tf.math.log(var) + 0.5 * tf.square(y_true - mean) / var)


model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(2)])
model.compile(optimizer="adam", loss=gaussian_nll)
model.fit(features, targets, epochs=1, batch_size=32, verbose=0)
model.compile(optimizer="adam", loss=gaussian_nll_softplus)
model.fit(features, targets, epochs=1, batch_size=32, verbose=0)
