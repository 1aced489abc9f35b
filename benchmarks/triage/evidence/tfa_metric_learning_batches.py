"""Evidence for tensorflow-addons 0.23 lifted_struct_loss / triplet_semihard_loss (LL201, LL202).

Both divide by the number of positive pairs in the batch, and lifted-struct takes the log of a sum over
each row's negatives. This runs the package's own functions (loaded from the unpacked corpus wheel, with
its typing-only imports stubbed) on a batch whose labels are all different (no positive pair) and on one
whose labels are all the same (no negative), and prints the loss and whether the gradient is finite.

Run: python benchmarks/triage/evidence/tfa_metric_learning_batches.py
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

CORPUS = Path(os.environ.get("LOSS_LSP_CORPUS", Path.home() / ".cache" / "loss-lsp" / "corpus"))
ROOT = CORPUS / "unpacked" / "tensorflow-addons-0.23.0" / "tensorflow_addons"


def _stub(name: str, **attrs: object) -> None:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


_stub("typeguard", typechecked=lambda f: f)
_stub("tensorflow_addons")
_stub("tensorflow_addons.utils")
_stub("tensorflow_addons.utils.types", TensorLike=object, FloatTensorLike=object)
_stub("tensorflow_addons.utils.keras_utils", LossFunctionWrapper=tf.keras.losses.Loss)
_stub("tensorflow_addons.losses")
sys.modules["tensorflow_addons.losses"].metric_learning = _load(
    "tensorflow_addons.losses.metric_learning", ROOT / "losses" / "metric_learning.py")
lifted = _load("tensorflow_addons.losses.lifted", ROOT / "losses" / "lifted.py")
triplet = _load("tensorflow_addons.losses.triplet", ROOT / "losses" / "triplet.py")

embeddings = tf.Variable(tf.math.l2_normalize(tf.random.stateless_normal((8, 4), seed=(1, 2)), axis=1))
for labels_name, labels in (("all labels different", tf.range(8)), ("all labels the same", tf.zeros(8, tf.int32))):
    for loss_name, fn in (("lifted_struct_loss", lifted.lifted_struct_loss),
                          ("triplet_semihard_loss", triplet.triplet_semihard_loss)):
        with tf.GradientTape() as tape:
            loss = fn(labels, embeddings)
        grad = tape.gradient(loss, embeddings)
        print(f"{loss_name}, {labels_name}: loss {float(loss):.4g}, "
              f"gradient finite {bool(tf.reduce_all(tf.math.is_finite(grad)))}")
