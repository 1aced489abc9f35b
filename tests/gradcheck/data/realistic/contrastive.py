"""Metric learning: a contrastive loss on pair distances, and batch-hard triplet mining on embeddings."""

import keras
import numpy as np
import tensorflow as tf

pair_features = np.random.rand(64, 8).astype("float32")
same = np.random.randint(0, 2, size=(64, 1)).astype("float32")


def contrastive_loss(y_true, y_pred, margin=1.0):
    positive = y_true * tf.square(y_pred)
    negative = (1.0 - y_true) * tf.square(tf.maximum(margin - y_pred, 0.0))
    return tf.reduce_mean(positive + negative)


def batch_hard_triplet(labels, embeddings, margin=0.5):
    dot = tf.matmul(embeddings, embeddings, transpose_b=True)
    norms = tf.linalg.diag_part(dot)
    distances = tf.sqrt(tf.maximum(tf.expand_dims(norms, 0) - 2.0 * dot + tf.expand_dims(norms, 1), 0.0))
    labels = tf.reshape(labels, [-1])
    same_label = tf.cast(tf.equal(tf.expand_dims(labels, 0), tf.expand_dims(labels, 1)), tf.float32)
    hardest_positive = tf.reduce_max(distances * same_label, axis=1)
    hardest_negative = tf.reduce_min(distances + 1e6 * same_label, axis=1)
    return tf.reduce_mean(tf.maximum(hardest_positive - hardest_negative + margin, 0.0))


distance_model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(1, activation="relu")])
distance_model.compile(optimizer="adam", loss=contrastive_loss)
distance_model.fit(pair_features, same, epochs=1, verbose=0)

images = np.random.rand(64, 12).astype("float32")
identities = np.random.randint(0, 8, size=(64,))
embedder = keras.Sequential([keras.Input(shape=(12,)), keras.layers.Dense(16)])
embedder.compile(optimizer="adam", loss=batch_hard_triplet)
embedder.fit(images, identities, epochs=1, batch_size=32, verbose=0)
