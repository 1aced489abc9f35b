"""Ten-class classification with integer labels and hand-written cross-entropies."""

import keras
import numpy as np
import tensorflow as tf

x = np.random.rand(120, 20).astype("float32")
labels = np.random.randint(0, 10, size=(120,))


def manual_sparse_ce(y_true, y_pred):
    onehot = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), 10)
    return -tf.reduce_mean(tf.reduce_sum(onehot * tf.math.log(y_pred), axis=-1))


def safe_sparse_ce(y_true, y_pred):
    onehot = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), 10)
    return -tf.reduce_mean(tf.reduce_sum(onehot * tf.math.log(tf.clip_by_value(y_pred, 1e-7, 1.0)), axis=-1))


net = keras.Sequential([keras.Input(shape=(20,)), keras.layers.Dense(10, activation="softmax")])
net.compile(optimizer="adam", loss=manual_sparse_ce)
net.fit(x, labels, epochs=1, verbose=0)
net.compile(optimizer="adam", loss=safe_sparse_ce)
net.fit(x, labels, epochs=1, verbose=0)
