"""Imbalanced binary classification with focal losses."""

import keras
import numpy as np
import tensorflow as tf

x = np.random.rand(200, 5).astype("float32")
y = (np.random.rand(200, 1) > 0.9).astype("float32")


def binary_focal(gamma=2.0, alpha=0.25):
    def loss(y_true, y_pred):
        pt = tf.where(tf.equal(y_true, 1.0), y_pred, 1.0 - y_pred)
        weight = tf.where(tf.equal(y_true, 1.0), alpha, 1.0 - alpha)
        return -tf.reduce_mean(weight * tf.pow(1.0 - pt, gamma) * tf.math.log(pt))
    return loss


def clipped_focal(gamma=2.0):
    def loss(y_true, y_pred):
        p = tf.clip_by_value(y_pred, keras.backend.epsilon(), 1.0 - keras.backend.epsilon())
        pt = y_true * p + (1.0 - y_true) * (1.0 - p)
        return -tf.reduce_mean(tf.pow(1.0 - pt, gamma) * tf.math.log(pt))
    return loss


clf = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(8, activation="relu"),
                        keras.layers.Dense(1, activation="sigmoid")])
clf.compile(optimizer="adam", loss=binary_focal(gamma=2.0))
clf.fit(x, y, epochs=1, verbose=0)
clf.compile(optimizer="adam", loss=clipped_focal(2.0))
clf.fit(x, y, epochs=1, verbose=0)
