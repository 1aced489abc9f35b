"""Training code that computes its model output or its loss in other methods of the class or in module
functions is lifted by inlining them, and an `if` is lifted only when the program says which branch runs:
the real gradient check confirms the buggy version, stays quiet on the fixed one, names the inlined
method's lines, and says `not_run` with the value a branch depends on when the program does not decide."""

from __future__ import annotations

from pathlib import Path

import pytest

from loss_lsp.checker import analyze
from loss_lsp.gradcheck.lifting import LiftError, lift
from loss_lsp.settings import Settings
from tests.gradcheck.conftest import DATA, Checked, run_check

INLINED = DATA / "inlined.py"


@pytest.fixture(scope="module")
def checked(checker) -> Checked:
    return run_check(checker, INLINED)


def _findings(run: Checked, loss: str, code: str = "LL201") -> list:
    return [f for f in run.result.findings if f.loss == loss and f.code == code]


def test_a_loss_computed_in_methods_is_confirmed_with_their_lines(checked: Checked) -> None:
    [log] = _findings(checked, "LogOfSoftmaxModel.train_step")
    assert log.span.start_line + 1 == 22  # the finding stays in the inlined method
    assert log.verdict == "confirmed", log.evidence
    assert "inlined `self._compute_loss` (lines 21-23)" in log.evidence
    assert "inlined `self.predict_probs` (lines 17-19)" in log.evidence
    assert "lifted lines 28-30 of inlined.py" in log.evidence
    assert "y_pred is `self(x, training=True)`, y_true is `y`" in log.evidence


def test_the_fixed_methods_run_and_stay_quiet(checked: Checked) -> None:
    report = checked.report("ClippedModel.train_step")
    assert report.status == "checked", report
    assert not [f for f in checked.findings_of("ClippedModel.train_step") if f.verdict == "confirmed"]


def test_a_loss_a_module_function_computes_is_confirmed(checked: Checked) -> None:
    [log] = _findings(checked, "module_step")
    assert log.verdict == "confirmed", log.evidence


@pytest.mark.parametrize("loss", ["FlagModel.train_step", "flagged_step"])
def test_a_branch_the_program_decides_is_lifted(checked: Checked, loss: str) -> None:
    [log] = _findings(checked, loss)
    assert log.verdict == "confirmed", log.evidence


def test_a_branch_a_constructor_argument_decides_is_not_run(checked: Checked) -> None:
    report = checked.report("ConfiguredModel.train_step")
    assert report.status == "not_run"
    assert "set from the argument `from_probs` of `__init__`" in report.reason
    assert all(f.verdict == "not_run" for f in checked.findings_of("ConfiguredModel.train_step"))


def test_a_method_returning_from_a_data_dependent_branch_is_not_run(checked: Checked) -> None:
    report = checked.report("DataBranchModel.train_step")
    assert report.status == "not_run"
    assert "`self._loss(...)` (line 137): it returns from inside an `if` (line 130)" in report.reason
    assert all(f.verdict == "not_run" for f in checked.findings_of("DataBranchModel.train_step"))


def _lift(source: str, name: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "train.py"
    path.write_text(source)
    analysis = analyze(source, str(path), Settings())
    return lift(source, str(path), next(i for i in analysis.losses if i.name == name))


HEADER = "import keras\nimport tensorflow as tf\n\n\nclass M(keras.Model):\n"
STEP = ("    def train_step(self, data):\n        x, y = data\n        with tf.GradientTape() as tape:\n"
        "            loss = self._loss(y, self(x))\n"
        "        return tape.gradient(loss, self.trainable_variables)\n")


def test_a_flag_set_in_two_places_is_not_guessed(tmp_path: Path) -> None:
    source = HEADER + ("    def __init__(self):\n        super().__init__()\n        self.hard = True\n\n"
                       "    def soften(self):\n        self.hard = False\n\n"
                       "    def _loss(self, labels, probs):\n        if self.hard:\n"
                       "            return -tf.reduce_mean(labels * tf.math.log(probs))\n"
                       "        return tf.reduce_mean(tf.square(labels - probs))\n\n") + STEP
    with pytest.raises(LiftError, match=r"`self.hard`, which the program sets in 2 places"):
        _lift(source, "M.train_step", tmp_path)


def test_a_recursive_method_is_not_entered(tmp_path: Path) -> None:
    source = HEADER + ("    def _loss(self, labels, probs):\n        return self._loss(labels, probs)\n\n") + STEP
    with pytest.raises(LiftError, match="calls itself"):
        _lift(source, "M.train_step", tmp_path)


def test_a_method_with_star_arguments_is_not_entered(tmp_path: Path) -> None:
    source = HEADER + ("    def _loss(self, *tensors):\n        return tf.reduce_mean(tensors[0] - tensors[1])\n\n") + STEP
    with pytest.raises(LiftError, match=r"`self._loss\(...\)` \(line \d+\), which takes \*args"):
        _lift(source, "M.train_step", tmp_path)


def test_the_training_flag_takes_the_training_branch(tmp_path: Path) -> None:
    """Keras calls the model with training=True while it trains: `if training:` runs its body."""
    source = HEADER + ("    def __init__(self):\n        super().__init__()\n"
                       "        self.head = keras.layers.Dense(3, activation='softmax')\n\n"
                       "    def call(self, x, training=None):\n        probs = self.head(x)\n"
                       "        penalty = tf.reduce_mean(tf.square(probs))\n        if training:\n"
                       "            penalty = -tf.reduce_mean(tf.math.log(probs))\n"
                       "        self.add_loss(penalty)\n        return probs\n")
    [lifted], _ = _lift(source, "M.call", tmp_path)
    assert "tf.math.log(probs)" in lifted.source and "tf.square" not in lifted.source


def test_a_default_argument_decides_the_callees_branch(tmp_path: Path) -> None:
    """`self._loss(y, p)` leaves `training=None`: the `if training:` inside it does not run."""
    source = HEADER + ("    def _loss(self, labels, probs, training=None):\n        loss = tf.square(labels - probs)\n"
                       "        if training:\n            loss = -labels * tf.math.log(probs)\n"
                       "        return tf.reduce_mean(loss)\n\n") + STEP
    [lifted], _ = _lift(source, "M.train_step", tmp_path)
    assert "tf.math.log" not in lifted.source and "tf.square" in lifted.source


def test_a_method_a_subclass_overrides_is_not_entered(tmp_path: Path) -> None:
    source = HEADER + ("    def _loss(self, labels, probs):\n        return tf.reduce_mean(tf.square(labels - probs))\n\n"
                       ) + STEP + ("\n\nclass Sharp(M):\n    def _loss(self, labels, probs):\n"
                                   "        return -tf.reduce_mean(labels * tf.math.log(probs))\n")
    with pytest.raises(LiftError, match=r"the subclass `Sharp` \(line \d+\) overrides"):
        _lift(source, "M.train_step", tmp_path)


def test_a_flag_a_subclass_sets_is_not_guessed(tmp_path: Path) -> None:
    source = HEADER + ("    def __init__(self):\n        super().__init__()\n        self.hard = True\n\n"
                       "    def _loss(self, labels, probs):\n        if self.hard:\n"
                       "            return -tf.reduce_mean(labels * tf.math.log(probs))\n"
                       "        return tf.reduce_mean(tf.square(labels - probs))\n\n") + STEP + (
        "\n\nclass Soft(M):\n    def __init__(self):\n        super().__init__()\n        self.hard = False\n")
    with pytest.raises(LiftError, match=r"`self.hard`, which the program sets in 2 places"):
        _lift(source, "M.train_step", tmp_path)


def test_a_compute_loss_returning_from_a_decided_branch_is_lifted(tmp_path: Path) -> None:
    source = HEADER + ("    def __init__(self):\n        super().__init__()\n        self.smooth = False\n\n"
                       "    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):\n"
                       "        if self.smooth:\n            return tf.reduce_mean(tf.square(y - y_pred))\n"
                       "        return -tf.reduce_mean(y * tf.math.log(y_pred))\n")
    [lifted], _ = _lift(source, "M.compute_loss", tmp_path)
    assert "tf.math.log(y_pred)" in lifted.source and "tf.square" not in lifted.source


def test_a_compute_loss_returning_from_a_data_branch_is_not_run(tmp_path: Path) -> None:
    source = HEADER + ("    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):\n"
                       "        if tf.reduce_max(y_pred) > 0.5:\n            return tf.reduce_mean(tf.square(y - y_pred))\n"
                       "        return -tf.reduce_mean(y * tf.math.log(y_pred))\n")
    with pytest.raises(LiftError, match=r"more than one place \(control flow\): it returns from inside an `if` \(line 7\)"):
        _lift(source, "M.compute_loss", tmp_path)


def test_a_flag_the_function_changes_is_not_guessed(tmp_path: Path) -> None:
    source = ("import tensorflow as tf\n\nmodel = tf.keras.Sequential([tf.keras.layers.Dense(3, activation='softmax')])\n\n\n"
              "def step(x, y, epochs):\n    hard = False\n    for _ in range(epochs):\n        hard |= True\n"
              "    with tf.GradientTape() as tape:\n        probs = model(x)\n        if hard:\n"
              "            loss = -tf.reduce_mean(y * tf.math.log(probs))\n        else:\n"
              "            loss = tf.reduce_mean(tf.square(y - probs))\n"
              "    return tape.gradient(loss, model.trainable_variables)\n")
    with pytest.raises(LiftError, match=r"depends on `hard`, which the program sets in 2 places"):
        _lift(source, "step", tmp_path)


def test_a_closure_in_a_method_inlines_the_class_methods(tmp_path: Path) -> None:
    source = HEADER + ("    def __init__(self):\n        super().__init__()\n"
                       "        self.head = keras.layers.Dense(3, activation='softmax')\n\n"
                       "    def _loss(self, labels, probs):\n        return -tf.reduce_mean(labels * tf.math.log(probs))\n\n"
                       "    def fit_step(self, x, y):\n        def step():\n"
                       "            with tf.GradientTape() as tape:\n                loss = self._loss(y, self.head(x))\n"
                       "            return tape.gradient(loss, self.trainable_variables)\n        return step()\n")
    [lifted], _ = _lift(source, "M.fit_step.<locals>.step", tmp_path)
    assert [i.label for i in lifted.inlined] == ["self._loss"]
    assert lifted.prediction == "self.head(x)" and lifted.target == "y"
