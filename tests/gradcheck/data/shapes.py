"""Shapes: the (B,) vs (B, 1) broadcast, reduction axes, integer labels, exceptions."""

import keras
import numpy as np
import tensorflow as tf

features = np.random.rand(64, 4).astype("float32")
targets = np.random.rand(64).astype("float32")  # labels of shape (B,)


class PlainMSE(keras.losses.Loss):  # gc-confirms: LL301
    def call(self, y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


class SqueezedMSE(keras.losses.Loss):  # gc-clean
    def call(self, y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true - tf.squeeze(y_pred, axis=-1)))


def squeezed_in_compile(y_true, y_pred):  # gc-confirms: LL301
    y_pred = tf.squeeze(y_pred, axis=-1)
    return tf.reduce_mean(tf.square(y_true - y_pred))


def plain_in_compile(y_true, y_pred):  # gc-clean
    return tf.reduce_mean(tf.square(y_true - y_pred))


def build() -> keras.Model:
    inputs = keras.Input(shape=(4,))
    return keras.Model(inputs, keras.layers.Dense(1)(inputs))


model = build()
model.compile(optimizer="adam", loss=PlainMSE())
model.fit(features, targets, epochs=1, verbose=0)
model = build()
model.compile(optimizer="adam", loss=SqueezedMSE())
model.fit(features, targets, epochs=1, verbose=0)
model = build()
model.compile(optimizer="adam", loss=squeezed_in_compile)
model.fit(features, targets, epochs=1, verbose=0)
model = build()
model.compile(optimizer="adam", loss=plain_in_compile)
model.fit(features, targets, epochs=1, verbose=0)


# loss-lsp: shapes y_true=(8,) y_pred=(8, 1)
def outer_difference(y_true, y_pred):  # gc-confirms: LL301
    pairs = tf.expand_dims(y_true, -1) - tf.reshape(y_pred, [-1])
    return tf.reduce_mean(tf.square(pairs))


# loss-lsp: shapes y_true=(8, 1) y_pred=(8, 1)
def transposed(y_true, y_pred):  # gc-finds: LL904
    return tf.reduce_mean(tf.square(tf.subtract(y_true, tf.transpose(y_pred))))


# loss-lsp: shapes y_true=(8, 3) y_pred=(8, 3)
def per_channel(y_true, y_pred):  # gc-confirms: LL302
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=2)


# loss-lsp: shapes y_true=(8, 3) y_pred=(8, 3)
def wrong_reshape(y_true, y_pred):  # gc-finds: LL905
    return tf.reduce_mean(tf.reshape(y_pred, [5, -1]) - tf.reshape(y_true, [5, -1]))


labels = np.random.randint(0, 2, size=(64, 1))
head = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1, activation="sigmoid")])


def int_labels_direct(y_true, y_pred):  # gc-confirms: LL303
    return tf.reduce_mean(tf.square(y_true - y_pred))


def int_labels_cast(y_true, y_pred):  # gc-clean
    return tf.reduce_mean(tf.square(tf.cast(y_true, y_pred.dtype) - y_pred))


def train_step(start):
    with tf.GradientTape() as tape:
        preds = head(features[start:start + 8])
        loss = int_labels_direct(labels[start:start + 8], preds) + int_labels_cast(labels[start:start + 8], preds)
    return tape.gradient(loss, head.trainable_variables)
