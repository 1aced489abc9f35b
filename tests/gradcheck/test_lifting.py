"""Training code (tape blocks, train_step, compute_loss, add_loss, minimize, TF1 graph code) is lifted
into a (y_true, y_pred) function and checked by a real TensorFlow run like a compiled loss: the same
buggy loss is confirmed through every sink, its fixed version is not, code that cannot be lifted is
not run (the reason says why), and the evidence names the original lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loss_lsp.checker import analyze
from loss_lsp.gradcheck.lifting import LIFTED, LiftError, lift
from loss_lsp.settings import Settings
from tests.expectations import FIXTURES
from tests.gradcheck.conftest import DATA, Checked, markers, run_check

SINKS = FIXTURES / "sinks"
NOT_RUN = re.compile(r"#\s*gc-not-run:\s*(.+)$")


@pytest.fixture(scope="module")
def checked(checker) -> dict[str, Checked]:
    files = [DATA / "training.py", DATA / "training_script.py", SINKS / "each_sink.py", SINKS / "tf1_graph_buggy.py", SINKS / "tf1_graph_fixed.py",
             SINKS / "tf1_graph_methods.py", SINKS / "custom_loops.py", SINKS / "tf1_class_graph.py"]
    return {path.name: run_check(checker, path) for path in files}


def _cases() -> list[tuple[int, str, str]]:
    source = (DATA / "training.py").read_text()
    out = [(line, kind, " ".join(sorted(codes))) for line, kind, codes in markers(source)]
    for number, text in enumerate(source.splitlines()):
        match = NOT_RUN.search(text)
        if match:
            out.append((number, "not-run", match.group(1).strip()))
    return out


@pytest.mark.parametrize(("line", "kind", "detail"), _cases(), ids=[f"{c[0] + 1}:{c[1]}" for c in _cases()])
def test_training_code_verdicts(checked: dict[str, Checked], line: int, kind: str, detail: str) -> None:
    run = checked["training.py"]
    loss = run.loss_at(line)
    findings = run.findings_of(loss)
    report = run.report(loss)
    if kind == "confirms":
        static = [f for f in findings if f.code in detail.split()]
        assert static, f"the static rules {detail} did not fire on {loss}"
        for finding in static:
            assert finding.verdict == "confirmed", (finding.code, finding.verdict, finding.evidence)
            assert "lifted line" in finding.evidence
    elif kind == "refutes":
        assert report.status == "checked", report
        static = [f for f in findings if f.code in detail.split()]
        assert static and all(f.verdict == "not_reproduced" for f in static), [(f.code, f.verdict) for f in static]
    elif kind == "clean":
        assert report.status == "checked", report  # it was lifted and ran
        assert not [f for f in findings if f.verdict == "confirmed"], [(f.code, f.evidence) for f in findings]
    else:
        assert report.status == "not_run" and detail in report.reason, report
        assert "cannot be lifted" in report.reason
        for finding in findings:
            assert finding.verdict == "not_run" and detail in finding.evidence


def test_the_same_bug_is_confirmed_through_every_sink(checked: dict[str, Checked]) -> None:
    run = checked["each_sink.py"]
    ll201 = [f for f in run.result.findings if f.code == "LL201"]
    assert len(ll201) == 10  # compile, tape.gradient, tape.jacobian, minimize, tf.gradients, add_loss,
    # compute_loss, train_step, compute_gradients, backend.gradients
    assert [(f.span.start_line + 1, f.verdict) for f in ll201 if f.verdict != "confirmed"] == []
    lifted = [f for f in ll201 if f.loss != "compiled"]
    assert all("lifted line" in f.evidence for f in lifted)


def test_evidence_names_the_original_lines(checked: dict[str, Checked]) -> None:
    [tape] = [f for f in checked["each_sink.py"].result.findings if f.loss == "by_tape"]
    assert "lifted lines 20-21 of each_sink.py (`tape.gradient` at line 21)" in tape.evidence
    assert "y_pred is `model(x)`, y_true is `y`" in tape.evidence
    assert "Log (line 20)" in tape.evidence  # the NaN's op, on the user's line
    [graph] = checked["tf1_graph_buggy.py"].result.findings
    assert graph.code == "LL205" and graph.verdict == "confirmed", graph.evidence
    assert "lifted lines 15-17 of tf1_graph_buggy.py (`minimize` at line 17)" in graph.evidence
    assert "y_pred is `tf.matmul(x, W) + b`, y_true is `y_`" in graph.evidence
    # the placeholders and the weight matrix state every shape; only the label values are the probe's own
    assert "assumed y_true's values (" in graph.evidence and "shape" not in graph.evidence.split("assumed")[1]


def test_fixed_graph_code_runs_and_stays_quiet(checked: dict[str, Checked]) -> None:
    run = checked["tf1_graph_fixed.py"]
    assert [(r.name, r.status) for r in run.result.losses] == [("<module>", "checked")]
    assert run.result.findings == []


def test_graph_classes_keep_their_tensors_on_self(checked: dict[str, Checked]) -> None:
    run = checked["tf1_graph_methods.py"]
    statuses = {r.name: r.status for r in run.result.losses}
    assert statuses["SoftmaxNet.__init__"] == statuses["CostNet.__init__"] == "checked"
    assert statuses["LogitsNet.__init__"] == "checked"  # the correct one runs too
    confirmed = {f.loss for f in run.result.findings if f.verdict == "confirmed"}
    assert {"SoftmaxNet.__init__", "SigmoidNet.build", "CostNet.__init__"} <= confirmed
    assert "LogitsNet.__init__" not in confirmed
    # minimize(build_graph(X, Y)) at module level: the graph-building function's return value is lifted
    [built] = [f for f in run.result.findings if f.span.start_line == 32]
    assert built.verdict == "confirmed" and "lifted lines 32-33" in built.evidence, built.evidence
    assert "y_pred is `tf.matmul(layer, weights['out'])`" in built.evidence  # the MLP's hidden layer is the model's


def test_data_besides_the_labels_is_not_guessed(checked: dict[str, Checked]) -> None:
    """log(counts) of a data statistic must never be confirmed as the model's NaN."""
    run = checked["custom_loops.py"]
    report = run.report("log_of_labels_only")
    assert report.status == "not_run" and "more data than one label tensor" in report.reason
    assert not [f for f in run.result.findings if f.loss == "log_of_labels_only" and f.verdict == "confirmed"]


# --- the lifted text, without TensorFlow -------------------------------------------------------------------
def _lifted(path: Path, name: str):
    source = path.read_text()
    analysis = analyze(source, str(path), Settings())
    loss = next(info for info in analysis.losses if info.name == name)
    return lift(source, str(path), loss)


def test_lifted_code_keeps_the_original_lines() -> None:
    [lifted], errors = _lifted(SINKS / "tf1_graph_buggy.py", "<module>")
    assert errors == []
    lines = lifted.source.split("\n")
    assert lines[13] == f"def {LIFTED}(y_true, y_pred):"
    assert lines[14] == "    y_conv = tf.compat.v1.nn.softmax(y_pred)"  # line 15: TF1 names through tf.compat.v1
    assert lines[15] == "    cross_entropy = -tf.compat.v1.reduce_sum(y_true * tf.compat.v1.log(y_conv))"
    assert lines[16] == "    return cross_entropy"
    assert lifted.y_true_shape == (None, 10) and lifted.y_pred_shape == (None, 10)
    assert lifted.y_pred_range == "linear"  # logits of matmul(x, W) + b: any value


def test_a_loss_set_in_a_loop_is_not_lifted() -> None:
    with pytest.raises(LiftError, match="inside a `for` loop"):
        _lifted(DATA / "training.py", "accumulated_step")


def test_the_cli_confirms_graph_code_with_the_lifted_lines(tmp_path: Path) -> None:
    """The form of most NaN-loss questions: a TF1 script, checked with `loss-lsp check --gradients`."""
    import json
    import shutil
    import subprocess
    import sys

    script = tmp_path / "mnist_softmax.py"
    shutil.copy(SINKS / "tf1_graph_buggy.py", script)
    result = subprocess.run([sys.executable, "-m", "loss_lsp", "check", "--gradients", "--format", "json", str(script)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    [item] = json.loads(result.stdout)
    assert item["code"] == "LL205" and item["verdict"] == "confirmed", item
    assert "lifted lines 15-17 of mnist_softmax.py (`minimize` at line 17)" in item["evidence"]


def test_a_scripts_loop_body_is_lifted_without_its_loops(checked: dict[str, Checked]) -> None:
    """The loss in `for epoch: for images, labels in dataset:` at module level: the loop variables are
    data, the batch's labels become y_true, and TF2 code keeps its TF2 names."""
    [finding] = checked["training_script.py"].result.findings
    assert finding.code == "LL201" and finding.verdict == "confirmed", finding.evidence
    assert "lifted lines 16-18 of training_script.py (`tape.gradient` at line 18)" in finding.evidence
    assert "y_pred is `model(images, training=True)`, y_true is `labels`" in finding.evidence
    [lifted], _ = _lifted(DATA / "training_script.py", "<module>")
    assert "compat" not in lifted.source.split("\n")[16]  # a tape is TF2 code: no tf.compat.v1 rewrite


TF1_SCRIPT = '''import tensorflow as tf

tf.set_random_seed(0)
x = tf.placeholder(tf.float32, [None, 784])
y = tf.placeholder(tf.float32, [None, 10])


def network(data):
    w = tf.Variable(tf.random_normal([784, 10]))
    return tf.nn.softmax(tf.matmul(data, w))


prediction = network(x)
cost = -tf.reduce_sum(y * tf.log(prediction))
train = tf.train.AdamOptimizer().minimize(cost)
'''


def test_a_network_built_by_a_function_is_the_prediction_with_its_activation(tmp_path: Path) -> None:
    """`network(x)` creates variables and returns the softmax of its output: that is y_pred, with the range
    the function states (never large logits a softmax cannot produce); tf.set_random_seed is no side effect."""
    path = tmp_path / "script.py"
    path.write_text(TF1_SCRIPT)
    [lifted], _ = _lifted(path, "<module>")
    assert lifted.prediction == "network(x)" and lifted.target == "y"
    assert lifted.y_pred_range == "softmax" and lifted.y_true_shape == (None, 10)


def test_tensors_a_class_keeps_on_self_are_followed_into_its_constructor(checked: dict[str, Checked]) -> None:
    run = checked["tf1_class_graph.py"]
    [log] = [f for f in run.result.findings if f.loss == "SoftmaxRegression.build_loss"]
    assert log.code == "LL205" and log.verdict == "confirmed", log.evidence
    assert "lifted lines 12-18 of tf1_class_graph.py" in log.evidence  # __init__'s self.probs, then build_loss
    assert "y_pred is `tf.matmul(self.features, self.weights)`, y_true is `self.labels`" in log.evidence
    assert run.report("StableRegression.build_loss").status == "checked"
    assert not [f for f in run.result.findings if f.loss == "StableRegression.build_loss"]
    scaled = run.report("ScaledLoss.train")  # self.scale = scale: a hyperparameter is not the labels
    assert scaled.status == "not_run" and "argument of the model's constructor" in scaled.reason


def test_a_function_argument_is_never_taken_for_the_labels(tmp_path: Path) -> None:
    """`fn(model(x))` with `fn` an argument: the one value left is called, so it is not the labels."""
    path = tmp_path / "quantize.py"
    path.write_text("import tensorflow as tf\n\nmodel = tf.keras.Sequential([tf.keras.layers.Dense(1)])\n\n\n"
                    "def step(x, fn):\n    with tf.GradientTape() as tape:\n        out = fn(model(x))\n"
                    "    return tape.gradient(out, model.trainable_variables)\n")
    with pytest.raises(LiftError, match="calls `fn`"):
        _lifted(path, "step")
