"""Gradient flow: losses whose gradient is None, zero, or that only fail inside tf.function."""

import keras
import numpy as np
import tensorflow as tf


def numpy_mse(y_true, y_pred):  # gc-confirms: LL101
    return np.mean(np.square(y_true - y_pred))


def numpy_detached(y_true, y_pred):  # gc-confirms: LL102
    p = y_pred.numpy()
    return tf.reduce_mean(tf.square(y_true - p))


def rounded(y_true, y_pred):  # gc-confirms: LL103
    return tf.reduce_mean(tf.abs(y_true - tf.round(y_pred)))


def signed(y_true, y_pred):  # gc-confirms: LL103
    return tf.reduce_mean(tf.abs(y_true - tf.sign(y_pred - 0.5)))


def confident_half(y_true, y_pred):  # gc-confirms: LL104
    err = tf.square(y_true - y_pred)
    return tf.reduce_mean(tf.where(y_pred > 0.5, err, err * 0.0))


def python_branch(y_true, y_pred):  # gc-refutes: LL105 (no compile(): a custom loop runs it eagerly or under autograph)
    if tf.reduce_max(y_pred) > 0.5:
        return tf.reduce_mean(tf.square(y_true - y_pred))
    return tf.reduce_mean(tf.abs(y_true - y_pred))


def python_branch_in_fit(y_true, y_pred):  # gc-confirms: LL105
    if tf.reduce_max(y_pred) > 0.5:
        return tf.reduce_mean(tf.square(y_true - y_pred))
    return tf.reduce_mean(tf.abs(y_true - y_pred))


model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss=python_branch_in_fit)  # fit runs it in a tf.function, autograph off


def raw_rounding(y_true, y_pred):  # gc-finds: LL901
    return tf.reduce_mean(tf.abs(y_true - tf.raw_ops.Round(x=y_pred)))


def margin_never_reached(y_true, y_pred):  # gc-finds: LL902
    return tf.reduce_mean(tf.nn.relu(y_pred - 2.0) + 0.1 * y_true)


# --- correct: nothing to confirm, nothing to find ---------------------------------------------
def mse(y_true, y_pred):  # gc-clean
    return tf.reduce_mean(tf.square(y_true - y_pred))


def masked_by_targets(y_true, y_pred):  # gc-clean
    # zero gradient wherever y_true == 0: by design, the targets explain it
    return -tf.reduce_mean(y_true * tf.math.log(tf.clip_by_value(y_pred, 1e-7, 1.0)))


def smooth_step(y_true, y_pred):  # gc-clean
    return 1.0 - tf.reduce_mean(tf.sigmoid((y_pred - 0.5) * 20.0) * y_true)


def branch_on_static_shape(y_true, y_pred):  # gc-clean
    if y_pred.shape[-1] == 1:
        return tf.reduce_mean(tf.square(y_true - y_pred))
    return tf.reduce_mean(tf.abs(y_true - y_pred))
