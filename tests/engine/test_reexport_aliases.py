"""Namespaces given another name by assignment or by a lazy module ``__getattr__`` resolve like imports."""

from __future__ import annotations

from pathlib import Path

from loss_lsp.checker import analyze


def lines_of(path: Path, code: str = "LL201") -> list[int]:
    source = path.read_text(encoding="utf-8")
    return [f.span.start_line + 1 for f in analyze(source, str(path)).findings if f.code == code]


def test_a_namespace_assigned_to_a_name_in_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "losses.py"
    path.write_text('''import keras
import tensorflow as tf

ops = keras.ops
tfm = tf.math
kb = tf.keras.backend


def with_ops(y_true, y_pred):
    return ops.mean(ops.log(y_pred))


def with_math(y_true, y_pred):
    return tf.reduce_mean(tfm.log(y_pred))


def with_backend(y_true, y_pred):
    return kb.mean(kb.log(y_pred + kb.epsilon()))
''', encoding="utf-8")
    assert lines_of(path) == [10, 14]


def test_names_another_module_aliases_or_forwards_lazily(tmp_path: Path) -> None:
    (tmp_path / "mylib").mkdir()
    (tmp_path / "mylib" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "mylib" / "backend.py").write_text("import keras\n\nops = keras.ops\n", encoding="utf-8")
    (tmp_path / "mylib" / "lazy.py").write_text(
        "import keras\n\n\ndef __getattr__(name):\n    return getattr(keras.ops, name)\n", encoding="utf-8")
    (tmp_path / "mylib" / "other.py").write_text(  # forwards to something it computes: not followed
        "import keras\n\n\ndef __getattr__(name):\n    return registry[name]\n", encoding="utf-8")
    path = tmp_path / "train.py"
    path.write_text('''from mylib import lazy as L
from mylib import other
from mylib.backend import ops


def aliased(y_true, y_pred):
    return ops.mean(ops.log(y_pred))


def lazy(y_true, y_pred):
    return L.mean(L.log(y_pred))


def unknown(y_true, y_pred):
    return other.mean(other.log(y_pred))
''', encoding="utf-8")
    assert lines_of(path) == [7, 11]


def test_a_namespace_assigned_inside_the_loss(tmp_path: Path) -> None:
    path = tmp_path / "losses.py"
    path.write_text('''import keras


def with_local_alias(y_true, y_pred):
    ops = keras.ops
    return ops.mean(ops.log(y_pred))


def with_attribute_of_data(y_true, y_pred):
    ops = y_true.dtype
    return keras.ops.mean(y_pred)
''', encoding="utf-8")
    assert lines_of(path) == [6]
