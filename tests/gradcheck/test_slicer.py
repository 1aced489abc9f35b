"""The slice of a module for one loss: what it keeps, what it leaves out, and why.
Pure Python (no TensorFlow, no worker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loss_lsp.checker import analyze
from loss_lsp.gradcheck.slicer import SliceError, slice_loss

SCRIPT = '''"""A training script."""
import os, sys
import numpy as np
import tensorflow as tf
from tensorflow import keras
from functools import partial

EPS = 1e-7
SCALE = EPS * 10
data = np.load("train.npy")
print("loading")
UNUSED = 3


def clip(x):
    return tf.clip_by_value(x, EPS, 1 - EPS)


def focal(gamma):
    def loss(y_true, y_pred):
        p = clip(y_pred)
        return -tf.reduce_mean(y_true * (1 - p) ** gamma * tf.math.log(p)) * SCALE
    return loss


def other(y_true, y_pred):
    return tf.reduce_mean(data)


model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss=focal(2.0))
history = model.fit(data, data)
for epoch in range(3):
    HIDDEN = epoch
if __name__ == "__main__":
    model.save("m.keras")
'''


def slice_of(tmp_path: Path, source: str, loss_name: str, name: str = "train.py"):
    (tmp_path / "pyproject.toml").write_text("")
    path = tmp_path / name
    path.write_text(source)
    analysis = analyze(source, str(path))
    loss = next(loss for loss in analysis.losses if loss.name == loss_name)
    return slice_loss(source, str(path), loss, tmp_path)


def kept_lines(code: str) -> list[str]:
    return [line for line in code.splitlines() if line.strip()]


def test_keeps_imports_constants_helpers_and_the_loss_only(tmp_path: Path) -> None:
    result = slice_of(tmp_path, SCRIPT, "focal.<locals>.loss")
    assert result.construct == "focal(2.0)"
    [main] = result.modules
    assert kept_lines(main.code) == [
        "import tensorflow as tf",
        "EPS = 1e-7",
        "SCALE = EPS * 10",
        "def clip(x):",
        "    return tf.clip_by_value(x, EPS, 1 - EPS)",
        "def focal(gamma):",
        "    def loss(y_true, y_pred):",
        "        p = clip(y_pred)",
        "        return -tf.reduce_mean(y_true * (1 - p) ** gamma * tf.math.log(p)) * SCALE",
        "    return loss",
    ]


def test_kept_lines_stay_on_their_line_numbers(tmp_path: Path) -> None:
    result = slice_of(tmp_path, SCRIPT, "focal.<locals>.loss")
    original = SCRIPT.splitlines()
    for number, line in enumerate(result.modules[0].code.splitlines()):
        if line.strip() and not line.startswith("import"):
            assert original[number] == line


def test_data_loading_is_left_out_with_the_reason(tmp_path: Path) -> None:
    result = slice_of(tmp_path, SCRIPT, "other")
    assert "np.load" not in result.modules[0].code
    assert result.omitted("data") == "`data` (line 10) calls `numpy.load`; the check does not run that"


@pytest.mark.parametrize(("statement", "reason"), [
    ("W = open('w.txt').read()", "calls `open"),
    ("W = requests.get('http://x').json()", "calls `requests.get"),
    ("W = model.predict(data)", "calls `model.predict`"),
    ("W = keras.applications.VGG16()", "calls `tensorflow.keras.applications.VGG16`"),
    ("W = compute()", "calls `compute()`, which calls `open`"),
    ("W = parser.parse_args().weight", "calls into `argparse`"),
])
def test_module_level_values_that_act_are_never_run(tmp_path: Path, statement: str, reason: str) -> None:
    source = (
        "import argparse\nimport requests\nimport tensorflow as tf\nfrom tensorflow import keras\n"
        "parser = argparse.ArgumentParser()\n"
        "def compute():\n    return float(open('w.txt').read())\n"
        f"{statement}\n\n"
        "def weighted(y_true, y_pred):\n    return W * tf.reduce_mean(tf.square(y_true - y_pred))\n"
    )
    result = slice_of(tmp_path, source, "weighted")
    assert statement not in result.modules[0].code
    assert reason in (result.omitted("W") or "") + (result.omitted("parser") or "")


def test_methods_of_plain_module_values_run(tmp_path: Path) -> None:
    source = (
        "import numpy as np\nimport tensorflow as tf\n"
        "RAW = np.array([1.0, 3.0])\nW = RAW.astype(np.float32).sum()\n\n"
        "def weighted(y_true, y_pred):\n    return W * tf.reduce_mean(tf.square(y_true - y_pred))\n"
    )
    result = slice_of(tmp_path, source, "weighted")
    assert "W = RAW.astype(np.float32).sum()" in result.modules[0].code
    assert "RAW = np.array([1.0, 3.0])" in result.modules[0].code


def test_main_guard_and_loops_are_reasons_too(tmp_path: Path) -> None:
    source = (
        "import tensorflow as tf\n"
        "for i in range(2):\n    K = i\n"
        "if __name__ == '__main__':\n    GAMMA = 2.0\n\n"
        "def loss(y_true, y_pred):\n    return K * GAMMA * tf.reduce_mean(y_pred)\n"
    )
    result = slice_of(tmp_path, source, "loss")
    assert "top-level loop" in (result.omitted("K") or "")
    assert "__main__" in (result.omitted("GAMMA") or "")
    assert kept_lines(result.modules[0].code)[-1].strip().startswith("return K")


def test_optional_import_blocks_are_kept(tmp_path: Path) -> None:
    source = (
        "try:\n    import tensorflow as tf\nexcept ImportError:\n    tf = None\n\n"
        "def loss(y_true, y_pred):\n    return tf.reduce_mean(y_pred)\n"
    )
    result = slice_of(tmp_path, source, "loss")
    assert "    import tensorflow as tf" in result.modules[0].code


def test_workspace_modules_are_sliced_too(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "__init__.py").write_text("print('package init')\nfrom .maths import *\n")
    (tmp_path / "lib" / "maths.py").write_text(
        "import tensorflow as tf\nimport socket\nSMOOTH = 1.0\nconn = socket.create_connection(('x', 1))\n"
        "def smooth_div(a, b):\n    return a / (b + SMOOTH)\n"
    )
    source = (
        "import tensorflow as tf\nfrom lib.maths import smooth_div\n\n"
        "def dice(y_true, y_pred):\n    return 1 - smooth_div(tf.reduce_sum(y_true * y_pred), tf.reduce_sum(y_pred))\n"
    )
    result = slice_of(tmp_path, source, "dice")
    by_name = {m.name: m for m in result.modules}
    assert set(by_name) == {"train", "lib", "lib.maths"}
    assert kept_lines(by_name["lib"].code) == []  # nothing of the package's own top level is needed
    assert kept_lines(by_name["lib.maths"].code) == ["SMOOTH = 1.0", "def smooth_div(a, b):",
                                                      "    return a / (b + SMOOTH)"]
    assert by_name["lib"].is_package and result.main == "train"


def test_lambda_given_to_compile_is_built_from_its_source(tmp_path: Path) -> None:
    source = (
        "import tensorflow as tf\nfrom tensorflow import keras\nW = 2.0\n"
        "model = keras.Sequential([keras.layers.Dense(1)])\n"
        "model.compile(loss=lambda y_true, y_pred: W * tf.reduce_mean(tf.abs(y_true - y_pred)))\n"
    )
    analysis = analyze(source, str(tmp_path / "lam.py"))
    [loss] = analysis.losses
    (tmp_path / "lam.py").write_text(source)
    result = slice_loss(source, str(tmp_path / "lam.py"), loss, tmp_path)
    assert result.construct.startswith("(lambda y_true, y_pred:")
    assert "W = 2.0" in result.modules[0].code


def test_a_closure_without_a_call_site_cannot_be_built(tmp_path: Path) -> None:
    source = "def make(alpha):\n    def loss(y_true, y_pred):\n        return alpha * y_pred\n    return loss\n"
    with pytest.raises(SliceError, match="no call site"):
        slice_of(tmp_path, source, "make.<locals>.loss")


def test_digest_ignores_lines_added_below_and_follows_the_loss(tmp_path: Path) -> None:
    base = slice_of(tmp_path, SCRIPT, "focal.<locals>.loss").digest()
    assert slice_of(tmp_path, SCRIPT + "\nprint('more training')\n", "focal.<locals>.loss").digest() == base
    changed = SCRIPT.replace("(1 - p) ** gamma", "(1 - p) ** (gamma + 1)")
    assert slice_of(tmp_path, changed, "focal.<locals>.loss").digest() != base


def test_future_imports_stay(tmp_path: Path) -> None:
    source = (
        "from __future__ import annotations\n"
        "import tensorflow as tf\n\n"
        "def loss(y_true: Tensor, y_pred: Tensor) -> Tensor:\n    return tf.reduce_mean(y_pred)\n"
    )
    result = slice_of(tmp_path, source, "loss")
    assert result.modules[0].code.startswith("from __future__ import annotations\n")
