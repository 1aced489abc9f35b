"""Training code the gradient check lifts into a (y_true, y_pred) loss: the same unguarded log-loss
through each kind of sink (confirmed), its clipped version (clean), a guard TensorFlow handles
(refuted), and code that cannot be lifted (not run, with the reason)."""

import keras
import tensorflow as tf

model = keras.Sequential([keras.layers.Dense(3, activation="softmax")])
logits_model = keras.Sequential([keras.layers.Dense(3)])
optimizer = keras.optimizers.Adam()
xent = keras.losses.CategoricalCrossentropy(from_logits=True)


def tape_step(x, y):  # gc-confirms: LL201
    with tf.GradientTape() as tape:
        probs = model(x, training=True)
        loss = -tf.reduce_mean(tf.reduce_sum(y * tf.math.log(probs), axis=-1))
    return tape.gradient(loss, model.trainable_variables)


@tf.function
def compiled_step(x, y):  # gc-confirms: LL201
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(y * tf.math.log(model(x)))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


def minimize_step(x, y):
    def loss_fn():  # gc-confirms: LL201
        return -tf.reduce_mean(y * tf.math.log(model(x)))

    optimizer.minimize(loss_fn, model.trainable_variables)


def dataset_loop(dataset):  # gc-confirms: LL201
    for features, labels in dataset:
        with tf.GradientTape() as tape:
            probs = model(features)
            loss = -tf.reduce_mean(labels * tf.math.log(probs))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))


class TrainStepModel(keras.Model):  # gc-confirms: LL201
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = -tf.reduce_mean(y * tf.math.log(y_pred))
        self.optimizer.apply_gradients(zip(tape.gradient(loss, self.trainable_variables), self.trainable_variables))
        return {"loss": loss}


class ComputeLossModel(keras.Model):  # gc-confirms: LL201
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return -tf.reduce_mean(y * tf.math.log(y_pred))


class AddLossModel(keras.Model):  # gc-confirms: LL201
    def __init__(self):
        super().__init__()
        self.head = keras.layers.Dense(3, activation="softmax")

    def call(self, x, y):
        probs = self.head(x)
        self.add_loss(-tf.reduce_mean(y * tf.math.log(probs)))
        return probs


# --- fixed: the same losses with the log guarded -------------------------------------------------------
def clipped_tape_step(x, y):  # gc-clean
    with tf.GradientTape() as tape:
        probs = tf.clip_by_value(model(x, training=True), 1e-7, 1.0 - 1e-7)
        loss = -tf.reduce_mean(tf.reduce_sum(y * tf.math.log(probs), axis=-1))
    return tape.gradient(loss, model.trainable_variables)


class ClippedComputeLossModel(keras.Model):  # gc-clean
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return -tf.reduce_mean(y * tf.math.log(tf.clip_by_value(y_pred, 1e-7, 1.0)))


def logits_step(x, y):  # gc-clean
    with tf.GradientTape() as tape:
        loss = xent(y, logits_model(x, training=True))
    return tape.gradient(loss, logits_model.trainable_variables)


def guarded_distance_step(x, y):  # gc-refutes: LL206 (TensorFlow 2.21 gives 0, not NaN, through this guard)
    with tf.GradientTape() as tape:
        pred = logits_model(x)
        sq = tf.reduce_sum(tf.square(y - pred), axis=-1)
        loss = tf.reduce_mean(tf.where(sq > 0.0, tf.sqrt(sq), tf.zeros_like(sq)))
    return tape.gradient(loss, logits_model.trainable_variables)


# --- cannot be lifted ----------------------------------------------------------------------------------
def accumulated_step(x, y):  # gc-not-run: inside a `for` loop
    with tf.GradientTape() as tape:
        loss = 0.0
        for head in range(3):
            loss += -tf.reduce_mean(y * tf.math.log(model(x)[:, head]))
    return tape.gradient(loss, model.trainable_variables)


def branchy_step(x, y, hard):  # gc-not-run: control flow
    with tf.GradientTape() as tape:
        if hard:
            loss = -tf.reduce_mean(y * tf.math.log(model(x)))
        else:
            loss = tf.reduce_mean(tf.square(y - model(x)))
    return tape.gradient(loss, model.trainable_variables)


def two_models_step(x, y):  # gc-not-run: several model outputs
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(model(x) * tf.math.log(logits_model(x)))
    return tape.gradient(loss, model.trainable_variables)
