"""Binary segmentation with Dice losses."""

import keras
import numpy as np
import tensorflow as tf

images = np.random.rand(16, 16, 16, 1).astype("float32")
masks = (np.random.rand(16, 16, 16, 1) > 0.7).astype("float32")


def dice_loss(y_true, y_pred):
    intersection = tf.reduce_sum(y_true * y_pred, axis=[1, 2, 3])
    total = tf.reduce_sum(y_true, axis=[1, 2, 3]) + tf.reduce_sum(y_pred, axis=[1, 2, 3])
    return 1.0 - 2.0 * intersection / total


def smooth_dice_loss(y_true, y_pred, smooth=1.0):
    intersection = tf.reduce_sum(y_true * y_pred, axis=[1, 2, 3])
    total = tf.reduce_sum(y_true, axis=[1, 2, 3]) + tf.reduce_sum(y_pred, axis=[1, 2, 3])
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


net = keras.Sequential([keras.Input(shape=(16, 16, 1)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                        keras.layers.Conv2D(1, 1, activation="sigmoid")])
net.compile(optimizer="adam", loss=dice_loss)
net.fit(images, masks, epochs=1, batch_size=8, verbose=0)
net.compile(optimizer="adam", loss=smooth_dice_loss)
net.fit(images, masks, epochs=1, batch_size=8, verbose=0)
