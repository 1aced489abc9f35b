"""A custom training loop calling hand-written losses directly on (N,) targets."""

import keras
import numpy as np
import tensorflow as tf

x = np.random.rand(64, 4).astype("float32")
y = np.random.rand(64).astype("float32")
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
optimizer = keras.optimizers.Adam()


def mse_direct(y_true, y_pred):
    return tf.reduce_mean(tf.square(y_true - y_pred))


def mse_flat(y_true, y_pred):
    return tf.reduce_mean(tf.square(y_true - tf.reshape(y_pred, [-1])))


builtin = keras.losses.MeanSquaredError()

for start in range(0, 64, 16):
    with tf.GradientTape() as tape:
        preds = model(x[start:start + 16])
        loss = mse_direct(y[start:start + 16], preds) + mse_flat(y[start:start + 16], preds)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
