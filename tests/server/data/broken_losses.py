"""Custom losses with the mistakes loss-lsp reports (test input for the server tests)."""
import numpy as np
import tensorflow as tf
from tensorflow import keras


def numpy_mse(y_true, y_pred):
    return np.mean(tf.square(y_true - y_pred))


def detached_mae(y_true, y_pred):
    values = y_pred.numpy()
    return tf.reduce_mean(tf.abs(y_true - values))


def cross_entropy(y_true, y_pred):
    return -tf.reduce_mean(y_true * tf.math.log(y_pred))


def plain_mse(y_true, y_pred):
    return tf.reduce_mean(tf.square(y_true - y_pred))


model = keras.Sequential([keras.layers.Dense(1)])
model.compile(optimizer="adam", loss=numpy_mse)
model.compile(optimizer="adam", loss=detached_mae)
model.compile(optimizer="adam", loss=cross_entropy)
model.compile(optimizer="adam", loss=plain_mse)
