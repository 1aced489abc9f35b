"""NaN and Inf at the edges: y_pred at 0 and 1, empty masks, a perfect fit, large logits."""

import tensorflow as tf


def plain_bce(y_true, y_pred):  # gc-confirms: LL201
    return -tf.reduce_mean(y_true * tf.math.log(y_pred) + (1.0 - y_true) * tf.math.log(1.0 - y_pred))


def dice(y_true, y_pred):  # gc-confirms: LL202
    overlap = tf.reduce_sum(y_true * y_pred)
    return 1.0 - 2.0 * overlap / (tf.reduce_sum(y_true) + tf.reduce_sum(y_pred))


def rmse(y_true, y_pred):  # gc-confirms: LL203
    return tf.sqrt(tf.reduce_mean(tf.square(y_true - y_pred)))


def exp_penalty(y_true, y_pred):  # gc-confirms: LL204
    return tf.reduce_mean(tf.exp(y_pred) * tf.square(y_true - y_pred))


def log_of_sigmoid(y_true, y_pred):  # gc-confirms: LL205
    return -tf.reduce_mean(y_true * tf.math.log(tf.sigmoid(y_pred)))


def guarded_log(y_true, y_pred):  # gc-confirms: LL206
    return -tf.reduce_mean(y_true * tf.where(y_pred > 0.0, tf.math.log(y_pred), 0.0))


def guarded_sqrt(y_true, y_pred):  # gc-refutes: LL206 (TensorFlow 2.21 gives 0, not NaN, through this guard)
    sq = tf.reduce_sum(tf.square(y_true - y_pred), axis=-1)
    return tf.reduce_mean(tf.where(sq > 0.0, tf.sqrt(sq), tf.zeros_like(sq)))


def log_gamma(y_true, y_pred):  # gc-finds: LL903
    return tf.reduce_mean(tf.math.lgamma(y_pred) * y_true)


# --- correct --------------------------------------------------------------------------------
def clipped_bce(y_true, y_pred):  # gc-clean
    p = tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7)
    return -tf.reduce_mean(y_true * tf.math.log(p) + (1.0 - y_true) * tf.math.log(1.0 - p))


def smoothed_dice(y_true, y_pred):  # gc-clean
    overlap = tf.reduce_sum(y_true * y_pred)
    return 1.0 - (2.0 * overlap + 1.0) / (tf.reduce_sum(y_true) + tf.reduce_sum(y_pred) + 1.0)


def rmse_with_epsilon(y_true, y_pred):  # gc-clean
    return tf.sqrt(tf.reduce_mean(tf.square(y_true - y_pred)) + 1e-7)


def double_where(y_true, y_pred):  # gc-clean
    safe = tf.where(y_pred > 0.0, y_pred, 1.0)
    return -tf.reduce_mean(y_true * tf.where(y_pred > 0.0, tf.math.log(safe), 0.0))


def stable_logits(y_true, y_pred):  # gc-clean
    return -tf.reduce_mean(y_true * tf.math.log_sigmoid(y_pred))
