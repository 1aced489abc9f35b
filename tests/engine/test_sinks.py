"""Computations found from their sinks: what is reported about them, and what is not analysed."""

from __future__ import annotations

from loss_lsp.checker import analyze

TRAIN_STEP = '''
import tensorflow as tf
import keras

class Classifier(keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            probs = self(x, training=True)
            loss = -tf.reduce_mean(y * tf.math.log(probs))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss, "hits": tf.reduce_mean(tf.cast(tf.argmax(probs, -1) == tf.argmax(y, -1), tf.float32))}
'''


def test_a_train_step_is_a_computation_with_its_sink_described() -> None:
    analysis = analyze(TRAIN_STEP, "step.py")
    [info] = analysis.losses
    assert (info.name, info.kind, info.call_path) == ("Classifier.train_step", "computation", "direct")
    assert info.sink == "differentiated by `tape.gradient` at line 11"
    [finding] = analysis.findings  # the log; not the argmax of the metric it returns, not LL402 for the dict
    assert (finding.code, finding.span.start_line + 1) == ("LL201", 10)
    assert finding.sink == info.sink and finding.loss == "Classifier.train_step"


def test_module_level_graph_code_is_one_computation_from_its_minimize() -> None:
    source = (
        "import tensorflow as tf\n"
        "x = tf.placeholder(tf.float32, [None, 4])\n"
        "y = tf.placeholder(tf.float32, [None, 2])\n"
        "W = tf.Variable(tf.zeros([4, 2]))\n"
        "p = tf.sigmoid(tf.matmul(x, W))\n"
        "label_log = tf.log(y)\n"  # a log of the labels: no gradient, and never reaches the loss
        "loss = -tf.reduce_sum(y * tf.log(p))\n"
        "train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)\n"
    )
    analysis = analyze(source, "graph.py")
    [info] = analysis.losses
    assert (info.name, info.sink) == ("<module>", "differentiated by `minimize` at line 8")
    assert [(f.code, f.span.start_line + 1) for f in analysis.findings] == [("LL205", 7)]


def test_an_unknown_callable_is_not_a_source() -> None:
    source = (
        "import tensorflow as tf\n"
        "from pipeline import featurize\n"
        "def step(model, x, y):\n"
        "    with tf.GradientTape() as tape:\n"
        "        loss = tf.reduce_mean(tf.math.log(featurize(x)) * model(x))\n"
        "    return tape.gradient(loss, model.trainable_variables)\n"
    )
    assert analyze(source, "step.py").findings == []


def test_metrics_wrapped_by_mean_metric_wrapper_are_not_losses() -> None:
    source = (
        "import tensorflow as tf\n"
        "import keras\n"
        "def above_half(y_true, y_pred):\n"
        "    return tf.reduce_mean(tf.cast(y_pred > 0.5, tf.float32))\n"
        "metric = keras.metrics.MeanMetricWrapper(above_half)\n"
    )
    analysis = analyze(source, "m.py")
    assert analysis.losses == [] and analysis.findings == []
