"""Loss objects: batch reductions, variables, return values, extra arguments, configs."""

import keras
import tensorflow as tf


class SumOverBatch(keras.losses.Loss):  # gc-confirms: LL305
    def call(self, y_true, y_pred):
        return tf.reduce_sum(tf.square(y_true - y_pred))


class PerSample(keras.losses.Loss):  # gc-clean
    def call(self, y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


class LearnedScale(keras.losses.Loss):  # gc-confirms: LL401
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scale = tf.Variable(1.0, trainable=True, name="scale")

    def call(self, y_true, y_pred):
        return self.scale * tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)


def two_terms(y_true, y_pred):  # gc-confirms: LL402
    return tf.reduce_mean(tf.square(y_true - y_pred)), tf.reduce_mean(tf.abs(y_true - y_pred))


def needs_weight(y_true, y_pred, weight):  # gc-confirms: LL404
    return weight * tf.reduce_mean(tf.square(y_true - y_pred))


class Focal(keras.losses.Loss):  # gc-confirms: LL409
    def __init__(self, gamma=2.0, **kwargs):
        super().__init__(**kwargs)
        self.gamma = gamma

    def call(self, y_true, y_pred):
        p = tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7)
        return -tf.reduce_mean(y_true * (1.0 - p) ** self.gamma * tf.math.log(p), axis=-1)


class FocalWithConfig(keras.losses.Loss):  # gc-clean
    def __init__(self, gamma=2.0, **kwargs):
        super().__init__(**kwargs)
        self.gamma = gamma

    def call(self, y_true, y_pred):
        p = tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7)
        return -tf.reduce_mean(y_true * (1.0 - p) ** self.gamma * tf.math.log(p), axis=-1)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma}


def focal_factory(gamma):
    def focal(y_true, y_pred):  # gc-confirms: LL201
        return -tf.reduce_mean(y_true * (1.0 - y_pred) ** gamma * tf.math.log(y_pred))
    return focal


def smooth_factory(smooth):
    def dice(y_true, y_pred):  # gc-refutes: LL202 (the factory's smooth=1.0 guards the division)
        overlap = tf.reduce_sum(y_true * y_pred)
        return 1.0 - (2.0 * overlap + smooth) / (tf.reduce_sum(y_true) + tf.reduce_sum(y_pred) + smooth)
    return dice


model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss=SumOverBatch())
model.compile(optimizer="adam", loss=PerSample())
model.compile(optimizer="adam", loss=LearnedScale())
model.compile(optimizer="adam", loss=two_terms)
model.compile(optimizer="adam", loss=needs_weight)
model.compile(optimizer="adam", loss=Focal(gamma=3.0))
model.compile(optimizer="adam", loss=FocalWithConfig(gamma=3.0))
model.compile(optimizer="adam", loss=focal_factory(2.0))
model.compile(optimizer="adam", loss=smooth_factory(1.0))
model.compile(optimizer="adam", loss=lambda y_true, y_pred: tf.reduce_mean(tf.abs(y_true - tf.round(y_pred))))  # gc-confirms: LL103
