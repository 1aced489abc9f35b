import numpy as np
import tensorflow as tf


def rmse(y_true, y_pred):
    return np.sqrt(np.mean(tf.square(y_true - y_pred)))
