"""A TF2 training script: the loss of a custom loop at module level, inside `for epoch` and `for batch` loops."""

import numpy as np
import tensorflow as tf

x_train = np.random.rand(64, 4).astype("float32")
y_train = tf.one_hot(np.random.randint(0, 3, 64), 3)
dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train)).batch(8)
model = tf.keras.Sequential([tf.keras.layers.Dense(16, activation="relu"), tf.keras.layers.Dense(3, activation="softmax")])
optimizer = tf.keras.optimizers.Adam()
train_loss = tf.keras.metrics.Mean()

for epoch in range(5):
    for images, labels in dataset:
        with tf.GradientTape() as tape:
            predictions = model(images, training=True)
            loss = -tf.reduce_mean(tf.reduce_sum(labels * tf.math.log(predictions), axis=1))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        train_loss(loss)
    print(epoch, train_loss.result())
