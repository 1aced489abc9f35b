"""Learning to rank: RankNet's pairwise loss over all pairs of a batch."""

import keras
import numpy as np
import tensorflow as tf

docs = np.random.rand(96, 10).astype("float32")
relevance = np.random.randint(0, 4, size=(96, 1)).astype("float32")


def ranknet_loss(y_true, y_pred):
    score_diff = y_pred - tf.transpose(y_pred)
    label_diff = y_true - tf.transpose(y_true)
    target = 0.5 * (1.0 + tf.sign(label_diff))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=score_diff))


def listnet_loss(y_true, y_pred):
    true_dist = tf.nn.softmax(tf.transpose(y_true))
    pred_log_dist = tf.nn.log_softmax(tf.transpose(y_pred))
    return -tf.reduce_sum(true_dist * pred_log_dist)


scorer = keras.Sequential([keras.Input(shape=(10,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
scorer.compile(optimizer="adam", loss=ranknet_loss)
scorer.fit(docs, relevance, epochs=1, batch_size=32, verbose=0)
scorer.compile(optimizer="adam", loss=listnet_loss)
scorer.fit(docs, relevance, epochs=1, batch_size=32, verbose=0)
