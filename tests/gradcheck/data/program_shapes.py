"""The gradient check runs at the shapes the program uses, or at the smallest the loss body allows."""

import keras
import numpy as np
import tensorflow as tf


# The newcomer's first try (issue 12): labels of shape (256,), a Dense(1) model, a Loss subclass.
# Until the program's shapes are inferred from `y = x.sum(axis=1)`, the hint states them.
class MyMSE(keras.losses.Loss):  # gc-confirms: LL301
    def call(self, y_true, y_pred):  # loss-lsp: shapes y_true=(256,) y_pred=(256, 1)
        return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


x = np.random.rand(256, 4).astype("float32")
y = x.sum(axis=1)
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss=MyMSE())
model.fit(x, y, epochs=2, batch_size=32)


# The corrected version: quiet.
class MySqueezedMSE(keras.losses.Loss):  # gc-clean
    def call(self, y_true, y_pred):  # loss-lsp: shapes y_true=(256,) y_pred=(256, 1)
        return tf.reduce_mean(tf.square(y_true - tf.squeeze(y_pred, axis=-1)))


# A squeezing Loss subclass with no shapes known: only (B,) labels make it right, (B, 1) labels
# make it broadcast; the check does not know which the program has, so it confirms nothing.
class SqueezeUnknown(keras.losses.Loss):  # gc-clean
    def call(self, y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true - tf.squeeze(y_pred, axis=-1)))


# Gaussian negative log-likelihood: y_pred holds (mean, log-variance), so it has two columns.
def gaussian_nll(y_true, y_pred):
    mu = y_pred[:, :1]
    log_var = y_pred[:, 1:]
    return tf.reduce_mean(0.5 * (log_var + tf.square(y_true - mu) * tf.exp(-log_var)))


# RankNet: all pairs of predictions on purpose.
# loss-lsp: shapes y_true=(8, 1) y_pred=(8, 1)
def ranknet(y_true, y_pred):  # gc-clean
    score_diff = y_pred - tf.transpose(y_pred)
    target = 0.5 * (1.0 + tf.sign(y_true - tf.transpose(y_true)))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=score_diff))


# Sparse labels one-hot encoded by the loss: integer class ids, as many classes as y_pred's columns.
def sparse_focal(y_true, y_pred):  # gc-clean
    onehot = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), 4)
    probs = tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7)
    return tf.reduce_mean(-tf.reduce_sum(onehot * (1.0 - probs) ** 2 * tf.math.log(probs), axis=-1))


# Batch-hard triplet mining: a same-label mask from the labels alone, distances between embeddings.
# loss-lsp: shapes y_true=(8,) y_pred=(8, 4)
def batch_hard_triplet(y_true, y_pred):  # gc-clean
    squared = tf.reduce_sum(tf.square(tf.expand_dims(y_pred, 1) - tf.expand_dims(y_pred, 0)), axis=-1)
    distances = tf.sqrt(squared + 1e-12)
    same = tf.cast(tf.equal(tf.expand_dims(y_true, 0), tf.expand_dims(y_true, 1)), tf.float32)
    hardest_positive = tf.reduce_max(distances * same, axis=1)
    hardest_negative = tf.reduce_min(distances + 1e6 * same, axis=1)
    return tf.reduce_mean(tf.maximum(hardest_positive - hardest_negative + 0.5, 0.0))
