"""Training code whose model output and loss sit in other methods and functions of the program (lifted
by inlining them), and branches the program decides or does not (tests/gradcheck/test_inlining.py)."""
import keras
import tensorflow as tf

USE_LOGITS = False


class LogOfSoftmaxModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.head = keras.layers.Dense(3, activation="softmax")

    def call(self, x, training=False):
        return self.head(x)

    def predict_probs(self, x):
        probs = self(x, training=True)
        return probs

    def _compute_loss(self, labels, probs):
        per_example = -tf.reduce_sum(labels * tf.math.log(probs), axis=-1)
        return tf.reduce_mean(per_example)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            probs = self.predict_probs(x)
            loss = self._compute_loss(y, probs)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


class ClippedModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.head = keras.layers.Dense(3, activation="softmax")

    def call(self, x, training=False):
        return self.head(x)

    def predict_probs(self, x):
        probs = self(x, training=True)
        return probs

    def _compute_loss(self, labels, probs):
        per_example = -tf.reduce_sum(labels * tf.math.log(tf.clip_by_value(probs, 1e-7, 1.0)), axis=-1)
        return tf.reduce_mean(per_example)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            probs = self.predict_probs(x)
            loss = self._compute_loss(y, probs)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


model = keras.Sequential([keras.layers.Dense(3, activation="softmax")])
optimizer = keras.optimizers.SGD()


def batch_loss(x, y):
    probs = model(x, training=True)
    return -tf.reduce_mean(tf.reduce_sum(y * tf.math.log(probs), axis=-1))


def module_step(x, y):
    with tf.GradientTape() as tape:
        loss = batch_loss(x, y)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))


class FlagModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.head = keras.layers.Dense(3, activation="softmax")
        self._from_probs = True

    def call(self, x, training=False):
        return self.head(x)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            probs = self(x, training=True)
            if self._from_probs:
                loss = -tf.reduce_mean(tf.reduce_sum(y * tf.math.log(probs), axis=-1))
            else:
                loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y, probs))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


class ConfiguredModel(keras.Model):
    def __init__(self, from_probs=True):
        super().__init__()
        self.head = keras.layers.Dense(3, activation="softmax")
        self._from_probs = from_probs

    def call(self, x, training=False):
        return self.head(x)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            probs = self(x, training=True)
            if self._from_probs:
                loss = -tf.reduce_mean(tf.reduce_sum(y * tf.math.log(probs), axis=-1))
            else:
                loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y, probs))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


class DataBranchModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.head = keras.layers.Dense(3, activation="softmax")

    def call(self, x, training=False):
        return self.head(x)

    def _loss(self, labels, probs):
        if tf.reduce_max(probs) > 0.5:
            return -tf.reduce_mean(tf.reduce_sum(labels * tf.math.log(probs), axis=-1))
        return tf.reduce_mean(tf.square(labels - probs))

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self._loss(y, self(x, training=True))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


def flagged_step(x, y):
    with tf.GradientTape() as tape:
        probs = model(x, training=True)
        if USE_LOGITS:
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y, probs))
        else:
            loss = -tf.reduce_mean(tf.reduce_sum(y * tf.math.log(probs), axis=-1))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
