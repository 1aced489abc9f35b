"""Regression on (N,) targets: the same arithmetic on three call paths."""

import keras
import numpy as np
import tensorflow as tf

x = np.random.rand(160, 3).astype("float32")
y = np.random.rand(160).astype("float32")


class HuberLoss(keras.losses.Loss):
    def call(self, y_true, y_pred):
        err = tf.abs(y_true - y_pred)
        return tf.reduce_mean(tf.where(err < 1.0, 0.5 * tf.square(err), err - 0.5), axis=-1)


class SqueezedMAE(keras.losses.Loss):
    def call(self, y_true, y_pred):
        return tf.abs(y_true - tf.squeeze(y_pred, axis=-1))


def squeezed_log_cosh(y_true, y_pred):
    y_pred = tf.squeeze(y_pred, axis=-1)
    return tf.reduce_mean(tf.math.log(tf.cosh(y_pred - y_true)))


def log_cosh(y_true, y_pred):
    return tf.reduce_mean(tf.math.log(tf.cosh(y_pred - y_true)), axis=-1)


reg = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
reg.compile(optimizer="adam", loss=HuberLoss())
reg.fit(x, y, epochs=1, verbose=0)
reg.compile(optimizer="adam", loss=SqueezedMAE())
reg.fit(x, y, epochs=1, verbose=0)
reg.compile(optimizer="adam", loss=squeezed_log_cosh)
reg.fit(x, y, epochs=1, verbose=0)
reg.compile(optimizer="adam", loss=log_cosh)
reg.fit(x, y, epochs=1, verbose=0)
