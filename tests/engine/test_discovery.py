"""What the engine reports about each loss: kind, call path, how to build it, shapes."""

from __future__ import annotations

from pathlib import Path

from loss_lsp.checker import analyze

from loss_lsp.engine import LossInfo, Workspace
from tests.expectations import FIXTURES


def losses_of(path: Path, workspace: Workspace | None = None) -> dict[str, LossInfo]:
    return {loss.name: loss for loss in analyze(path.read_text(), str(path), workspace=workspace).losses}


def test_compile_forms_are_all_found_with_their_call_path_and_constructor() -> None:
    losses = losses_of(FIXTURES / "discovery" / "compile_forms.py")
    assert losses["focal.<locals>.loss"].kind == "closure"
    assert losses["focal.<locals>.loss"].construct == "focal(gamma=2.0)"
    assert losses["weighted"].construct == "functools.partial(weighted, weight=0.5)"
    assert losses["Scaled.call"].call_path == "loss_class" and losses["Scaled.call"].construct == "Scaled()"
    assert losses["ScaledTwice.call"].kind == "loss_class"
    assert losses["first_head"].call_path == "compile" and losses["third_head"].call_path == "compile"
    lambdas = [loss for loss in losses.values() if loss.kind == "lambda"]
    assert len(lambdas) == 1 and lambdas[0].call_path == "compile"
    # Dense(1, activation="sigmoid") is the model's last layer
    assert losses["first_head"].y_pred_shape == (-1, 1)


def test_shapes_and_dtypes_from_the_training_context(tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    path.write_text(
        "import keras\nimport numpy as np\nimport tensorflow as tf\n\n"
        "def loss(y_true, y_pred):\n    return tf.reduce_mean(tf.square(y_true - y_pred))\n\n"
        "labels = np.random.randint(0, 3, size=(100,))\n"
        "model = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(3, activation='softmax')])\n"
        "model.compile(optimizer='adam', loss=loss)\n"
        "model.fit(np.random.rand(100, 5), labels)\n")
    [info] = analyze(path.read_text(), str(path)).losses
    assert info.y_true_shape == (-1,) and info.y_pred_shape == (-1, 3) and info.y_true_dtype == "int64"  # NumPy's
    assert info.y_true_domain == "integer:3" and info.y_pred_range == "softmax"
    assert info.compile_sites[0].span.start_line == 9


def test_shape_hint_wins_over_context(tmp_path: Path) -> None:
    source = ("import tensorflow as tf\n\n"
              "def loss(y_true, y_pred):  # loss-lsp: shapes y_true=(4, 2) y_pred=(4, 2, 1)\n"
              "    return tf.reduce_mean(tf.square(y_true - y_pred))\n")
    [info] = analyze(source, "x.py").losses
    assert info.y_true_shape == (4, 2) and info.y_pred_shape == (4, 2, 1)


def test_functions_without_the_signature_are_not_losses_unless_compiled() -> None:
    source = ("import tensorflow as tf\n\n"
              "def helper(a, b):\n    return tf.math.log(b)\n\n"
              "def loss(y_true, y_pred):\n    return tf.reduce_mean(y_pred)\n")
    analysis = analyze(source, "x.py")
    assert [loss.name for loss in analysis.losses] == ["loss"]
    assert analysis.findings == []  # helper's log is not on any loss's path


def test_helper_called_from_a_loss_is_analysed_in_context() -> None:
    source = ("import tensorflow as tf\n\n"
              "def helper(a, b):\n    return tf.math.log(b)\n\n"
              "def loss(y_true, y_pred):\n    return tf.reduce_mean(helper(y_true, y_pred))\n")
    [finding] = analyze(source, "x.py").findings
    assert finding.code == "LL201" and finding.span.start_line == 3 and finding.loss == "loss"


def test_reexported_loss_resolves_through_jedi(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (tmp_path / "setup.py").write_text("")
    (package / "__init__.py").write_text("from .impl import odd_loss\n")
    (package / "impl.py").write_text("import tensorflow as tf\n\n\ndef odd_loss(t, p):\n"
                                     "    return tf.reduce_mean(tf.math.log(p))\n")
    (tmp_path / "train.py").write_text("import keras\nfrom pkg import odd_loss\n\n"
                                       "model = keras.Sequential([keras.layers.Dense(1)])\n"
                                       "model.compile(loss=odd_loss)\n")
    workspace = Workspace(tmp_path)
    workspace.index()
    analysis = analyze((package / "impl.py").read_text(), str(package / "impl.py"), workspace=workspace)
    [finding] = analysis.findings
    assert finding.code == "LL201"
    assert finding.related and finding.related[0].path == str((tmp_path / "train.py").resolve())


def test_workspace_follows_edits_of_the_importing_file(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "losses.py").write_text("import tensorflow as tf\n\n\ndef odd(t, p):\n"
                                        "    return tf.reduce_mean(tf.sqrt(p))\n")
    train = tmp_path / "train.py"
    train.write_text("from losses import odd\n\nmodel.compile(loss=odd)\n")
    workspace = Workspace(tmp_path)
    workspace.index()
    losses_py = tmp_path / "losses.py"
    assert [f.code for f in analyze(losses_py.read_text(), str(losses_py), workspace=workspace).findings] == ["LL203"]
    workspace.set_source(train, "from losses import odd\n")  # the compile call was deleted in the editor
    assert analyze(losses_py.read_text(), str(losses_py), workspace=workspace).findings == []
