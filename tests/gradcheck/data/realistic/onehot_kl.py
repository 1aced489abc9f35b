"""Knowledge-distillation style KL divergence, trained against one-hot labels."""

import keras
import numpy as np
import tensorflow as tf

x = np.random.rand(90, 6).astype("float32")
y = keras.utils.to_categorical(np.random.randint(0, 3, size=(90,)), 3)


def kl_divergence(y_true, y_pred):
    return tf.reduce_sum(y_true * tf.math.log(y_true / y_pred), axis=-1)


def safe_kl_divergence(y_true, y_pred):
    y_true = tf.clip_by_value(y_true, 1e-7, 1.0)
    y_pred = tf.clip_by_value(y_pred, 1e-7, 1.0)
    return tf.reduce_sum(y_true * tf.math.log(y_true / y_pred), axis=-1)


student = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(3, activation="softmax")])
student.compile(optimizer="adam", loss=kl_divergence)
student.fit(x, y, epochs=1, verbose=0)
student.compile(optimizer="adam", loss=safe_kl_divergence)
student.fit(x, y, epochs=1, verbose=0)
