"""Patterns from published loss code that were reported falsely, each beside a case that must still fire.

Each comes from a package of the widened real-code corpus (benchmarks/triage/real_code.toml names the line);
the code here is written for the test, not copied.
"""

from __future__ import annotations

from loss_lsp.checker import analyze


def codes(source: str) -> list[tuple[int, str]]:
    return sorted((f.span.start_line + 1, f.code) for f in analyze(source, "<stdin>").findings)


def test_a_function_a_metric_class_computes_is_not_a_loss() -> None:
    source = '''import tensorflow as tf
from tensorflow.keras.metrics import MeanMetricWrapper


def hamming_fn(y_true, y_pred):
    hits = tf.cast(y_pred > 0.5, tf.float32)
    return tf.reduce_mean(tf.abs(y_true - hits))


class Hamming(MeanMetricWrapper):
    def __init__(self, name="hamming"):
        super().__init__(hamming_fn, name=name)


def thresholded_loss(y_true, y_pred):
    hits = tf.cast(y_pred > 0.5, tf.float32)
    return tf.reduce_mean(tf.abs(y_true - hits))
'''
    assert codes(source) == [(16, "LL103")]  # the same body, not a metric's, is still a loss


def test_layers_called_in_compute_loss_encode_the_data_not_the_prediction() -> None:
    source = '''import keras
from keras import ops


class Detector(keras.Model):
    def __init__(self, label_encoder=None):
        super().__init__()
        self.label_encoder = label_encoder or LabelEncoder()
        self.head = keras.layers.Dense(4)

    def call(self, x):
        return self.head(x)

    def compute_loss(self, x, y, y_pred, sample_weight=None, **kwargs):
        boxes, classes = self.label_encoder(x, y)
        positive = ops.cast(ops.greater(classes, -1.0), "float32")
        hard = ops.cast(y_pred > 0.5, "float32")
        return ops.mean(positive * ops.square(boxes - y_pred)) + ops.mean(hard)
'''
    assert codes(source) == [(17, "LL103")]  # the threshold on y_pred itself still counts


def test_masks_combined_with_logical_and_still_select_inside_a_helper() -> None:
    source = '''import tensorflow as tf


def _masked_minimum(data, mask):
    top = tf.reduce_max(data, 1, keepdims=True)
    return tf.reduce_min((data - top) * mask, 1, keepdims=True) + top


def semi_hard(y_true, y_pred):
    d = tf.square(y_true - y_pred)
    mask = tf.cast(tf.logical_and(y_true > 0, tf.greater(d, tf.reduce_mean(d))), tf.float32)
    return tf.reduce_mean(_masked_minimum(d, mask))


def thresholded(y_true, y_pred):
    d = tf.square(y_true - y_pred)
    return tf.reduce_mean(d) + tf.reduce_mean(tf.cast(d > 0.1, tf.float32))
'''
    assert codes(source) == [(17, "LL103")]


def test_where_guards_joined_with_logical_or_and_and_are_guards() -> None:
    source = '''import tensorflow as tf


def sparsemax_like(y_true, y_pred):
    s = tf.nn.relu(y_pred)
    support = tf.where(tf.logical_or(s > 0, tf.math.is_nan(s)), s * (y_pred - 0.5 * s), tf.zeros_like(s))
    q = tf.where(tf.logical_and(tf.equal(y_true, 0), tf.math.is_inf(y_pred)), tf.zeros_like(y_pred), y_pred)
    return tf.reduce_sum(support - q, axis=-1)


def cut_region(y_true, y_pred):
    return tf.reduce_mean(tf.where(y_pred > 0.7, tf.zeros_like(y_pred), tf.square(y_true - y_pred)))
'''
    assert codes(source) == [(12, "LL104")]


def test_an_epsilon_attribute_set_as_param_or_backend_epsilon_guards_a_log() -> None:
    source = '''import tensorflow as tf


class Kappa(tf.keras.losses.Loss):
    def __init__(self, epsilon=1e-6, name="kappa"):
        super().__init__(name=name)
        self.epsilon = epsilon or tf.keras.backend.epsilon()
        self.offset = None or 0.0

    def call(self, y_true, y_pred):
        ratio = tf.reduce_sum(y_true * y_pred) / (tf.reduce_sum(y_pred) + 1.0)
        return tf.math.log(ratio + self.epsilon) + tf.math.log(ratio + self.offset)
'''
    found = [f for f in analyze(source, "<stdin>").findings if f.code == "LL201"]
    assert len(found) == 1 and "self.offset" in found[0].message  # `None or 0.0` is 0: still unguarded


def test_exp_of_a_callable_parameters_output_is_not_called_unbounded() -> None:
    source = '''import tensorflow as tf


def soft_neighbours(labels, embeddings, distance, temperature=1.0):
    d = distance(embeddings, embeddings) / temperature
    return -tf.reduce_mean(tf.math.log(1e-9 + tf.reduce_sum(tf.math.exp(-d), axis=1)))


def logistic(y_true, y_pred):
    return tf.reduce_mean(tf.math.log(1.0 + tf.math.exp(-y_true * y_pred)))


with tf.GradientTape() as tape:
    loss = soft_neighbours(labels, model(x), lambda a, b: 1.0 - tf.matmul(a, b, transpose_b=True))
grads = tape.gradient(loss, model.trainable_variables)
'''
    assert [code for _, code in codes(source)] == ["LL204"]  # logistic's exp(-y * logits) only


def test_a_vae_kl_term_with_an_unclipped_log_variance_is_not_an_overflow() -> None:
    source = '''import keras
import tensorflow as tf
from keras import ops


class VAE(keras.Model):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(data)
            z = z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean))
            reconstruction = self.decoder(z)
            rec = ops.mean(ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
            kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            scale = ops.exp(2.0 * z_log_var)
            total = rec + ops.mean(ops.sum(kl, axis=1)) + ops.mean(scale)
        grads = tape.gradient(total, self.trainable_weights)
        return {"loss": total}
'''
    # exp(v) and exp(0.5 * v) beside the KL term are safe; exp(2 * v) can still overflow (v > 44).
    assert codes(source) == [(19, "LL204")]


def test_ll406_does_not_report_a_name_assigned_onto_keras_backend(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "requirements.txt").write_text("keras>=3\n", encoding="utf-8")
    source = "import keras\n\nkeras.backend.name_scope = keras.name_scope\nx = keras.backend.sum([1.0])\n"
    path = tmp_path / "backend.py"
    path.write_text(source, encoding="utf-8")
    found = [f.span.start_line + 1 for f in analyze(source, str(path)).findings if f.code == "LL406"]
    assert found == [4]


def test_sqrt_of_one_minus_a_squared_cosine_clipped_inside_minus_one_one_is_guarded() -> None:
    source = '''import tensorflow as tf


def arcface_sin(y_true, y_pred, eps=1e-7):
    cos_t = tf.clip_by_value(y_pred, -1.0 + eps, 1.0 - eps)
    return tf.reduce_mean(tf.sqrt(1.0 - tf.square(cos_t)) + tf.sqrt(1.0 - cos_t ** 2))


def unclipped(y_true, y_pred):
    return tf.reduce_mean(tf.sqrt(1.0 - tf.square(y_pred)))


def clipped_on_one_side(y_true, y_pred):
    cos_t = tf.clip_by_value(y_pred, -1.0, 1.0 - 1e-7)
    return tf.reduce_mean(tf.sqrt(1.0 - tf.square(cos_t)))
'''
    assert codes(source) == [(10, "LL203"), (15, "LL203")]


def test_the_norm_of_a_gradient_penalty_is_not_an_unguarded_sqrt() -> None:
    source = '''import tensorflow as tf


def train_step(critic, real, fake, opt):
    with tf.GradientTape() as tape:
        alpha = tf.random.uniform([tf.shape(real)[0], 1])
        mixed = real + alpha * (fake - real)
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(mixed)
            score = critic(mixed)
        grads = gp_tape.gradient(score, [mixed])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1))
        distance = tf.sqrt(tf.reduce_sum(tf.square(critic(real) - critic(fake)), axis=1))
        loss = tf.reduce_mean(critic(fake)) - tf.reduce_mean(critic(real)) + 10.0 * tf.reduce_mean((norm - 1.0) ** 2)
        loss += tf.reduce_mean(distance)
    opt.apply_gradients(zip(tape.gradient(loss, critic.trainable_variables), critic.trainable_variables))
'''
    assert codes(source) == [(13, "LL203")]


def test_guards_written_into_a_denominator_and_batch_counts_are_taken_as_guards() -> None:
    source = '''import tensorflow as tf


def ciou_alpha(y_true, y_pred, epsilon=1e-9):
    iou = tf.reduce_sum(y_true * y_pred) / (tf.reduce_sum(y_true + y_pred) + epsilon)
    vv = tf.square(y_pred - y_true)
    return tf.reduce_mean(vv / (1 + epsilon - iou + vv))


def per_image(y_true, y_pred):
    valid = tf.maximum(tf.reduce_sum(y_pred), 1.0) / tf.cast(tf.shape(y_true)[0], tf.float32)
    return tf.reduce_sum(tf.square(y_true - y_pred)) / valid


def rescaled(y_true, y_pred):
    p = y_pred / y_pred.sum(axis=-1, keepdims=True)
    return -(y_true * p).sum(axis=-1).mean()


def smooth_zero(y_true, y_pred, smooth=0.0):
    inter = tf.reduce_sum(y_true * y_pred)
    return 1.0 - inter / (tf.reduce_sum(y_true) + tf.reduce_sum(y_pred) - inter + smooth)


def subtracted_eps(y_true, y_pred, eps=1e-7):
    return tf.reduce_sum(y_pred) / (tf.reduce_sum(y_true) - eps)
'''
    assert codes(source) == [(22, "LL202"), (26, "LL202")]
