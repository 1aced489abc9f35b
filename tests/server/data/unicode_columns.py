import numpy as np
import tensorflow as tf
from tensorflow import keras


def labelled_loss(y_true, y_pred):
    tag = "损失函数🔥"; return np.mean(tf.square(y_true - y_pred))


model = keras.Sequential([keras.layers.Dense(1)])
model.compile(optimizer="adam", loss=labelled_loss)
