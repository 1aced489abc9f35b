"""Evidence for LL204 on a VAE's KL term: does the unclipped `exp(z_log_var)` overflow in real training?

The Keras guide's VAE computes `kl = -0.5 * (1 + z_log_var - square(z_mean) - exp(z_log_var))` with
`z_log_var` straight out of a Dense layer, and samples with `exp(0.5 * z_log_var)`. float32 `exp`
overflows above ~88.7. This trains that VAE (the guide's architecture, on 8x8 digits that scikit-learn
ships, upsampled to 28x28) and records the largest `z_log_var` the encoder produces at initialisation and
during training, and whether any loss or gradient is not finite, in four settings: the guide's (inputs
in [0, 1], Adam 1e-3), raw pixel values (inputs up to 255: no normalisation), and each with Adam 1e-2.

Run: python benchmarks/triage/evidence/vae_kl_exp_log_var.py
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

LATENT = 2


def encoder() -> keras.Model:
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    return keras.Model(inputs, [layers.Dense(LATENT)(x), layers.Dense(LATENT)(x)])


def decoder() -> keras.Model:
    inputs = keras.Input(shape=(LATENT,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    return keras.Model(inputs, layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x))


def digits(scale: float) -> np.ndarray:
    images = load_digits().images / 16.0  # [0, 1]
    images = tf.image.resize(images[..., None], (28, 28)).numpy()
    return (images * scale).astype("float32")


def run(scale: float, learning_rate: float, epochs: int = 3, batch: int = 64) -> dict[str, float | bool]:
    keras.utils.set_random_seed(0)
    enc, dec = encoder(), decoder()
    optimizer = keras.optimizers.Adam(learning_rate)
    data = digits(scale)
    targets = np.clip(data, 0.0, 1.0)  # binary cross-entropy needs targets in [0, 1]
    variables = enc.trainable_variables + dec.trainable_variables
    first_max = float(ops.max(enc(data)[1]))
    highest, finite = first_max, True
    for _ in range(epochs):
        for start in range(0, len(data), batch):
            x, t = data[start:start + batch], targets[start:start + batch]
            with tf.GradientTape() as tape:
                z_mean, z_log_var = enc(x, training=True)
                z = z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean))
                reconstruction = dec(z, training=True)
                rec = ops.mean(ops.sum(keras.losses.binary_crossentropy(t, reconstruction), axis=(1, 2)))
                kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
                loss = rec + ops.mean(ops.sum(kl, axis=1))
            grads = tape.gradient(loss, variables)
            finite = finite and bool(np.isfinite(float(loss))) and all(
                bool(tf.reduce_all(tf.math.is_finite(g))) for g in grads if g is not None)
            highest = max(highest, float(ops.max(z_log_var)))
            optimizer.apply_gradients(zip(grads, variables))
    return {"max z_log_var at init": first_max, "max z_log_var in training": highest, "all finite": finite}


if __name__ == "__main__":
    for scale, lr in ((1.0, 1e-3), (1.0, 1e-2), (255.0, 1e-3), (255.0, 1e-2)):
        result = run(scale, lr)
        print(f"inputs in [0, {scale:g}], Adam {lr:g}: " + ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()))
