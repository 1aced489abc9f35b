"""A training script with three broken custom losses (fixture of the editor tests)."""
import numpy as np
import tensorflow as tf
from tensorflow import keras


def mean_error(y_true, y_pred):
    return np.mean(tf.abs(y_true - y_pred))


def log_loss(y_true, y_pred):
    return -tf.reduce_mean(y_true * tf.math.log(y_pred))


def eager_loss(y_true, y_pred):
    values = y_pred.numpy()
    return tf.reduce_mean(tf.square(y_true - values))


model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss=log_loss)
