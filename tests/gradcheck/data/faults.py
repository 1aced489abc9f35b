"""Losses that attack the worker: each must end as `not_run` (or run cleanly) and leave a
working worker behind. Checked with a short gradient_timeout."""

import os
import sys

import tensorflow as tf

CHILD_MARKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forked-child-ran.txt")


def loops_forever(y_true, y_pred):
    while True: pass  # noqa: E701 - one line, so the reported line is stable


def allocates_50_gb(y_true, y_pred):
    big = tf.zeros([50 * 1024 ** 3 // 4], dtype=tf.float32)
    return tf.reduce_mean(y_pred) + tf.reduce_sum(big)


def numpy_allocates_50_gb(y_true, y_pred):
    import numpy as np

    big = np.ones(50 * 1024 ** 3 // 8)
    return tf.reduce_mean(y_pred) + float(big[0])


def exits_process(y_true, y_pred):
    os._exit(3)


def raises_system_exit(y_true, y_pred):
    sys.exit(4)


def segfaults(y_true, y_pred):
    import ctypes

    ctypes.string_at(0)
    return tf.reduce_mean(y_pred)


def prints_megabytes(y_true, y_pred):
    print("x" * (4 * 1024 * 1024))
    sys.stdout.write("{" * 1_000_000 + "\n")
    os.write(1, b"}\n" * 500_000)
    os.write(2, b"noise on stderr\n" * 10_000)
    return tf.reduce_mean(tf.square(y_true - y_pred))


def forks(y_true, y_pred):
    pid = os.fork()
    if pid == 0:
        with open(CHILD_MARKER, "w") as handle:
            handle.write("the child ran the loss")
    else:
        os.waitpid(pid, 0)
    return tf.reduce_mean(tf.square(y_true - y_pred))


def raises(y_true, y_pred):
    raise ValueError("bad input")


def fine(y_true, y_pred):
    return tf.reduce_mean(tf.square(y_true - y_pred))
