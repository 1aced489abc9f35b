"""Helpers and Loss base classes across the modules of a workspace.

Each test writes a small workspace (packages with ``__init__.py``, relative imports, ``import a.b as c``),
indexes it like the server and the CLI do, and checks where the findings land: on the helper's own line
in the helper's module, with the calling line of the other module as related information.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loss_lsp.checker import analyze
from loss_lsp.engine import Analysis, Workspace

HELPER = '''import tensorflow as tf


def scaled_xent(probabilities, labels):
    return -tf.reduce_mean(tf.reduce_sum(labels * tf.math.log(probabilities), axis=-1))
'''
SAFE_HELPER = '''import tensorflow as tf


def scaled_xent(probabilities, labels):
    safe = tf.clip_by_value(probabilities, 1e-7, 1.0)
    return -tf.reduce_mean(tf.reduce_sum(labels * tf.math.log(safe), axis=-1))
'''
LOG_LINE = 4  # 0-based line of ``tf.math.log`` in HELPER


def _loop(imports: str, call: str) -> str:
    """A custom training loop whose loss is ``call`` (a helper of another module)."""
    return (f"import tensorflow as tf\n{imports}\n\n"
            "model = tf.keras.Sequential([tf.keras.layers.Dense(3, activation='softmax')])\n\n\n"
            "def step(x, y):\n"
            "    with tf.GradientTape() as tape:\n"
            f"        loss = {call}\n"
            "    return tape.gradient(loss, model.trainable_variables)\n")


def _write(root: Path, files: dict[str, str]) -> Workspace:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    workspace = Workspace(root)
    workspace.index()
    return workspace


def _analysis(workspace: Workspace, root: Path, name: str) -> Analysis:
    path = root / name
    analysis = analyze(path.read_text(encoding="utf-8"), str(path), workspace=workspace)
    assert not analysis.errors, analysis.errors
    return analysis


def _call_line(root: Path, name: str) -> int:
    return next(n for n, line in enumerate((root / name).read_text().split("\n")) if "loss = " in line)


@pytest.mark.parametrize(("caller", "imports", "call"), [
    ("train.py", "import pkg.helpers as h", "h.scaled_xent(model(x), y)"),
    ("train.py", "import pkg.helpers", "pkg.helpers.scaled_xent(model(x), y)"),
    ("train.py", "from pkg import helpers", "helpers.scaled_xent(model(x), y)"),
    ("pkg/train.py", "from . import helpers", "helpers.scaled_xent(model(x), y)"),
    ("pkg/train.py", "from .helpers import scaled_xent as xent", "xent(model(x), y)"),
    ("pkg/sub/train.py", "from .. import helpers", "helpers.scaled_xent(labels=y, probabilities=model(x))"),
    ("pkg/sub/train.py", "from ..helpers import scaled_xent", "scaled_xent(model(x), y)"),
], ids=["import-as", "import-dotted", "from-package-import-module", "relative-module", "relative-name",
        "two-dots-keywords", "two-dots-name"])
def test_a_helper_of_another_module_is_reported_in_its_module(tmp_path: Path, caller: str, imports: str,
                                                              call: str) -> None:
    workspace = _write(tmp_path, {"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/helpers.py": HELPER,
                                  caller: _loop(imports, call)})
    [finding] = _analysis(workspace, tmp_path, "pkg/helpers.py").findings
    assert (finding.code, finding.span.start_line) == ("LL201", LOG_LINE)
    [related] = finding.related
    assert Path(related.path) == (tmp_path / caller).resolve()
    assert related.span.start_line == _call_line(tmp_path, caller)
    assert "tape.gradient" in related.message and "tape.gradient" in finding.sink
    assert _analysis(workspace, tmp_path, caller).findings == []  # the caller's own line is not the bug


def test_a_helper_reexported_by_its_package_is_found_where_it_is_defined(tmp_path: Path) -> None:
    workspace = _write(tmp_path, {
        "pkg/__init__.py": "from .losses import *\n",
        "pkg/losses/__init__.py": "from .impl import scaled_xent as xent\n",
        "pkg/losses/impl.py": HELPER,
        "train.py": _loop("import pkg", "pkg.xent(model(x), y)"),
    })
    [finding] = _analysis(workspace, tmp_path, "pkg/losses/impl.py").findings
    assert (finding.code, finding.span.start_line) == ("LL201", LOG_LINE)
    assert [Path(r.path).name for r in finding.related] == ["train.py"]


def test_helpers_of_helpers_are_followed_across_modules(tmp_path: Path) -> None:
    workspace = _write(tmp_path, {
        "utils/__init__.py": "",
        "utils/numerics.py": "import tensorflow as tf\n\n\ndef log_of(p):\n    return tf.math.log(p)\n",
        "losses.py": ("import tensorflow as tf\nfrom utils import numerics\n\n\n"
                      "def xent(labels, probabilities):\n"
                      "    return -tf.reduce_mean(labels * numerics.log_of(probabilities))\n"),
        "train.py": _loop("import losses", "losses.xent(y, model(x))"),
    })
    [finding] = _analysis(workspace, tmp_path, "utils/numerics.py").findings
    assert (finding.code, finding.span.start_line) == ("LL201", 4)
    [related] = finding.related
    assert Path(related.path).name == "losses.py" and related.span.start_line == 5  # the call in losses.py
    assert "train.py" in related.message  # the sink that differentiates it
    assert _analysis(workspace, tmp_path, "losses.py").findings == []


def test_a_same_named_function_in_another_module_is_not_confused(tmp_path: Path) -> None:
    workspace = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/helpers.py": HELPER,  # buggy, but nothing differentiates it
        "pkg/safe.py": SAFE_HELPER,
        "train.py": _loop("from pkg import safe", "safe.scaled_xent(model(x), y)"),
        "other.py": _loop("from pkg.safe import scaled_xent", "scaled_xent(model(x), y)"),
    })
    assert _analysis(workspace, tmp_path, "pkg/helpers.py").findings == []
    assert _analysis(workspace, tmp_path, "pkg/safe.py").findings == []


def test_data_passed_to_a_helper_of_another_module_is_not_differentiated(tmp_path: Path) -> None:
    workspace = _write(tmp_path, {
        "stats.py": HELPER,
        "train.py": _loop("import stats", "tf.reduce_mean(model(x))\n        weight = stats.scaled_xent(y, y)"),
    })
    assert _analysis(workspace, tmp_path, "stats.py").findings == []


def test_modules_that_shadow_library_names_do_not_break_resolution(tmp_path: Path) -> None:
    """A workspace ``math.py``, ``tf.py`` and ``losses.py`` next to the training script: ``tf.math.log`` is still
    TensorFlow's, ``keras.losses`` is still Keras's, and the workspace's own ``losses`` module still resolves."""
    workspace = _write(tmp_path, {
        "math.py": "def log(x):\n    return x\n",
        "tf.py": "def reduce_mean(x):\n    return x\n",
        "project/__init__.py": "",
        "project/losses.py": HELPER,
        "project/train.py": _loop("import math\nfrom keras import losses as keras_losses\nfrom . import losses",
                                  "losses.scaled_xent(model(x), y) + keras_losses.mean_squared_error(y, model(x))"
                                  " + math.log(2.0)"),
        "script.py": _loop("", "-tf.reduce_mean(y * tf.math.log(model(x)))"),
    })
    [finding] = _analysis(workspace, tmp_path, "project/losses.py").findings
    assert (finding.code, finding.span.start_line) == ("LL201", LOG_LINE)
    assert _analysis(workspace, tmp_path, "math.py").findings == []
    assert [f.code for f in _analysis(workspace, tmp_path, "script.py").findings] == ["LL201"]


@pytest.mark.parametrize(("imports", "base"), [
    ("from pkg import base", "base.WeightedLoss"),
    ("import pkg.base", "pkg.base.WeightedLoss"),
    ("import pkg.base as b", "b.SmoothedLoss"),
    ("from .base import SmoothedLoss", "SmoothedLoss"),
    ("from . import base", "base.SmoothedLoss"),
])
def test_a_loss_through_a_base_class_of_another_module(tmp_path: Path, imports: str, base: str) -> None:
    workspace = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/base.py": ("import keras\n\n\nclass WeightedLoss(keras.losses.Loss):\n    pass\n\n\n"
                        "class SmoothedLoss(WeightedLoss):\n    pass\n\n\nclass Plain:\n    pass\n"),
        "pkg/custom.py": (f"import tensorflow as tf\n{imports}\n\n\n"
                          f"class LogLoss({base}):\n"
                          "    def call(self, y_true, y_pred):\n"
                          "        return -tf.reduce_mean(y_true * tf.math.log(y_pred), axis=-1)\n"),
        "pkg/not_a_loss.py": ("import tensorflow as tf\nfrom pkg import base\n\n\n"
                              "class Scorer(base.Plain):\n"
                              "    def call(self, a, b):\n"
                              "        return tf.math.log(b)\n"),
    })
    analysis = _analysis(workspace, tmp_path, "pkg/custom.py")
    assert [(f.code, f.span.start_line, f.loss) for f in analysis.findings] == [("LL201", 6, "LogLoss.call")]
    assert _analysis(workspace, tmp_path, "pkg/not_a_loss.py").findings == []


def test_a_loss_compiled_through_a_dotted_module_path(tmp_path: Path) -> None:
    workspace = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/losses.py": ("import tensorflow as tf\n\n\ndef make_focal(gamma):\n"
                          "    def focal(t, p):\n"
                          "        return -tf.reduce_mean(t * (1.0 - p) ** gamma * tf.math.log(p))\n\n"
                          "    return focal\n"),
        "train.py": ("import keras\nimport pkg.losses\n\n"
                     "model = keras.Sequential([keras.layers.Dense(1, activation='sigmoid')])\n"
                     "model.compile(optimizer='adam', loss=pkg.losses.make_focal(2.0))\n"),
    })
    analysis = _analysis(workspace, tmp_path, "pkg/losses.py")
    [finding] = analysis.findings
    assert (finding.code, finding.span.start_line) == ("LL201", 5)
    assert [r.span.start_line for r in finding.related] == [4] and "compiled here" in finding.related[0].message
    [loss] = analysis.losses
    assert loss.construct == "make_focal(2.0)"  # how the gradient check builds it in the defining module


def test_editing_the_caller_updates_the_helper_module(tmp_path: Path) -> None:
    workspace = _write(tmp_path, {"pkg/__init__.py": "", "pkg/helpers.py": HELPER,
                                  "train.py": _loop("import pkg.helpers as h", "h.scaled_xent(model(x), y)")})
    assert [f.code for f in _analysis(workspace, tmp_path, "pkg/helpers.py").findings] == ["LL201"]
    workspace.set_source(tmp_path / "train.py", _loop("import pkg.helpers as h", "tf.reduce_mean(model(x))"))
    assert _analysis(workspace, tmp_path, "pkg/helpers.py").findings == []


def test_a_helper_of_another_module_called_inside_a_loss(tmp_path: Path) -> None:
    workspace = _write(tmp_path, {
        "numerics.py": ("import tensorflow as tf\n\n\ndef log_of(p):\n    return tf.math.log(p)\n\n\n"
                        "def weights_of(t):\n    return tf.math.log(t + 1.0)\n"),
        "losses.py": ("import tensorflow as tf\nimport numerics as nm\n\n\n"
                      "def xent(y_true, y_pred):\n"
                      "    return -tf.reduce_mean(nm.weights_of(y_true) * y_true * nm.log_of(y_pred))\n"),
    })
    [finding] = _analysis(workspace, tmp_path, "numerics.py").findings
    assert (finding.code, finding.span.start_line) == ("LL201", 4)  # log_of(y_pred); weights_of gets only targets
    [related] = finding.related
    assert (Path(related.path).name, related.span.start_line) == ("losses.py", 5)
    assert "`xent`" in related.message


def test_a_tuple_passed_to_a_helper_of_another_module_is_not_a_tensor(tmp_path: Path) -> None:
    workspace = _write(tmp_path, {
        "checks.py": ("import tensorflow as tf\n\n\ndef first_of(args=None):\n"
                      "    args = args or ()\n    return args[0]\n"),
        "train.py": _loop("import checks", "tf.reduce_mean(checks.first_of((model(x), y)))"),
    })
    analysis = _analysis(workspace, tmp_path, "checks.py")
    assert [info.name for info in analysis.losses] == ["first_of"]  # reached, and analysed
    assert analysis.findings == []


def test_a_cycle_of_reexports_or_too_many_dots_resolves_to_nothing(tmp_path: Path) -> None:
    workspace = _write(tmp_path, {
        "a.py": "from b import scaled_xent\n",
        "b.py": "from a import scaled_xent\n",
        "pkg/__init__.py": "",
        "pkg/train.py": _loop("from .... import helpers", "helpers.scaled_xent(model(x), y)"),
        "train.py": _loop("import a", "a.scaled_xent(model(x), y)"),
    })
    assert workspace.symbols.definition(tmp_path / "train.py", "a.scaled_xent") is None
    assert workspace.symbols.definition(tmp_path / "pkg" / "train.py", "....helpers.scaled_xent") is None
    assert _analysis(workspace, tmp_path, "train.py").findings == []


def test_a_norm_whose_order_comes_from_the_caller_is_not_claimed_a_sqrt(tmp_path: Path) -> None:
    """kgcnn: ``norm(sigmoid(mask), ord=self.norm_ord)`` reaches ``tf.norm(x, ord=ord)`` two modules away; with
    ``ord=1`` there is no square root, and the engine cannot know the order, so it says nothing there."""
    backend = ("import tensorflow as tf\n\n\ndef p_norm(x, ord='fro'):\n    return tf.norm(x, ord=ord)\n\n\n"
               "def l2(x):\n    return tf.norm(x)\n")
    workspace = _write(tmp_path, {
        "backend.py": backend,
        "train.py": _loop("import backend", "backend.p_norm(model(x), ord=p_order) + backend.l2(model(x) - y)"),
    })
    [finding] = _analysis(workspace, tmp_path, "backend.py").findings
    assert (finding.code, finding.span.start_line, finding.loss) == ("LL203", 8, "l2")


def test_a_function_of_another_module_wrapped_by_loss_function_wrapper_is_a_loss(tmp_path: Path) -> None:
    workspace = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/fns.py": ("import tensorflow as tf\n\n\ndef odd(t, p):\n    return tf.reduce_mean(tf.math.log(p))\n\n\n"
                       "def never_wrapped(t, p):\n    return tf.reduce_mean(tf.math.log(p))\n"),
        "pkg/wrapped.py": ("from keras.losses import LossFunctionWrapper\nfrom . import fns\n\n"
                           "loss = LossFunctionWrapper(fns.odd, name='odd')\n"),
    })
    analysis = _analysis(workspace, tmp_path, "pkg/fns.py")
    [finding] = analysis.findings
    assert (finding.code, finding.span.start_line, finding.loss) == ("LL201", 4, "odd")
    assert [(Path(r.path).name, r.span.start_line) for r in finding.related] == [("wrapped.py", 3)]
    assert [(info.name, info.call_path) for info in analysis.losses] == [("odd", "compile")]


def test_a_helper_returning_a_tuple_or_an_unreached_branch_stays_quiet(tmp_path: Path) -> None:
    """tensorflow-similarity: ``masked_max`` returns the max and its argmax, and only the max is differentiated;
    keras-cv: ``compute_iou(..., use_masking=False)`` returns before its masked branch unless asked for it."""
    workspace = _write(tmp_path, {
        "algebra.py": ("import tensorflow as tf\n\n\ndef masked_max(d, mask):\n"
                       "    return tf.reduce_max(d * mask, 1), tf.math.argmax(d * mask, 1)\n"),
        "iou.py": ("import tensorflow as tf\n\n\ndef compute_iou(a, b, use_masking=False):\n"
                   "    res = tf.reduce_sum(a * b, -1)\n"
                   "    if not use_masking:\n        return res\n"
                   "    return tf.where(b < 0.0, -1.0 * tf.ones_like(res), res)\n"),
        "train.py": _loop("import algebra\nimport iou",
                          "algebra.masked_max(model(x), y)[0] + iou.compute_iou(y, model(x))"),
    })
    assert _analysis(workspace, tmp_path, "algebra.py").findings == []
    iou = _analysis(workspace, tmp_path, "iou.py")
    assert [info.name for info in iou.losses] == ["compute_iou"] and iou.findings == []
