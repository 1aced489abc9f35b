"""Evidence for keras-unet-collection focal_tversky (miss): pow(1 - tversky, 1/gamma), 1/gamma = 0.75.

At a perfect prediction the base is 0 and d/dx x**0.75 = 0.75 * x**-0.25 is infinite; the chain rule
multiplies it by the (zero) gradient of the base and gives NaN. Written from scratch to show the op.
Run: python benchmarks/triage/evidence/pow_fractional_at_zero.py
"""

import tensorflow as tf

y_true = tf.constant([[1.0, 0.0, 1.0, 0.0]])
for name, y in (("perfect", [[1.0, 0.0, 1.0, 0.0]]), ("near", [[0.9, 0.1, 0.9, 0.1]])):
    y_pred = tf.Variable(y)
    with tf.GradientTape() as tape:
        tp = tf.reduce_sum(y_true * y_pred)
        fn = tf.reduce_sum(y_true * (1 - y_pred))
        fp = tf.reduce_sum((1 - y_true) * y_pred)
        tversky = (tp + 1e-7) / (tp + 0.5 * fn + 0.5 * fp + 1e-7)
        loss = tf.math.pow(1 - tversky, 0.75)
    print(name, "loss", float(loss), "gradient", tape.gradient(loss, y_pred).numpy().tolist())
