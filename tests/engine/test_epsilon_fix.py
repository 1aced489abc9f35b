"""Epsilon fixes insert the epsilon the file already uses (README, Configuration: ``epsilon``), applied
the way a user applies them: ``loss-lsp check --fix``. Each fix must also be final: the fixed file gets
no finding of the same rule, so a second ``--fix`` changes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

LOG = "    return tf.reduce_mean(tf.math.log(y_pred * 2.0))\n"
CASES = {
    "module constant": ("import tensorflow as tf\n\nEPS = 1e-6\n\n\ndef loss(y_true, y_pred):\n" + LOG, "EPS"),
    "backend alias": ("import tensorflow as tf\nfrom tensorflow.keras import backend as K\n\n\n"
                      "def loss(y_true, y_pred):\n" + LOG, "K.epsilon()"),
    "keras imported": ("import keras\nimport tensorflow as tf\n\n\ndef loss(y_true, y_pred):\n" + LOG,
                       "keras.config.epsilon()"),
    "spelled in the file": ("import tensorflow as tf\n\n\ndef other(y_true, y_pred):\n"
                            "    return tf.reduce_mean(y_pred) + tf.keras.backend.epsilon()\n\n\n"
                            "def loss(y_true, y_pred):\n" + LOG, "tf.keras.backend.epsilon()"),
    "local of the loss": ("import tensorflow as tf\n\n\ndef loss(y_true, y_pred):\n    eps = 1e-5\n" + LOG, "eps"),
    "attribute of the loss class": (
        "import tensorflow as tf\n\n\nclass Loss(tf.keras.losses.Loss):\n    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n        self.epsilon = 1e-6\n\n    def call(self, y_true, y_pred):\n"
        "    " + LOG, "self.epsilon"),
    "nothing to follow": ("import tensorflow as tf\n\n\ndef loss(y_true, y_pred):\n" + LOG, "1e-7"),
}


def fix(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loss_lsp", "check", str(path), "--fix", "--select", "LL201"],
                          capture_output=True, text=True, timeout=120, cwd=path.parent)


@pytest.mark.parametrize("case", CASES)
def test_the_epsilon_fix_follows_the_file(case: str, tmp_path: Path) -> None:
    source, epsilon = CASES[case]
    path = tmp_path / "losses.py"
    path.write_text(source, encoding="utf-8")
    fix(path)
    fixed = path.read_text(encoding="utf-8")
    [line] = [line for line in fixed.split("\n") if "tf.math.log(" in line]
    assert line.strip() == f"return tf.reduce_mean(tf.math.log((y_pred * 2.0) + {epsilon}))"
    compile(fixed, "losses.py", "exec")
    again = fix(path)
    assert again.returncode == 0 and path.read_text(encoding="utf-8") == fixed


def test_a_helper_does_not_get_the_loss_s_local_epsilon(tmp_path: Path) -> None:
    path = tmp_path / "losses.py"
    path.write_text("import tensorflow as tf\n\n\ndef helper(x):\n    return tf.math.log(x * 2.0)\n\n\n"
                    "def loss(y_true, y_pred):\n    eps = 1e-5\n    return tf.reduce_mean(helper(y_pred))\n",
                    encoding="utf-8")
    fix(path)
    assert "    return tf.math.log((x * 2.0) + 1e-7)\n" in path.read_text(encoding="utf-8")


def test_the_setting_wins(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.loss-lsp]\nepsilon = "1e-8"\n', encoding="utf-8")
    path = tmp_path / "losses.py"
    path.write_text(CASES["local of the loss"][0], encoding="utf-8")
    fix(path)
    assert "tf.math.log((y_pred * 2.0) + 1e-8)" in path.read_text(encoding="utf-8")
