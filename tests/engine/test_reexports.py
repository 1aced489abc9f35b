"""Names re-exported through another module's imports resolve to the library (parsed, never imported)."""

from __future__ import annotations

from pathlib import Path

from loss_lsp.checker import analyze
from loss_lsp.engine import Workspace


def _check(root: Path, text: str) -> list[str]:
    path = root / "train_loss.py"
    path.write_text(text, encoding="utf-8")
    workspace = Workspace(root)
    workspace.index()
    return [f.code for f in analyze(text, str(path), workspace=workspace).findings]


def test_a_chain_of_reexports_reaches_keras_ops(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "__init__.py").write_text("from .backend import ops\n")
    (tmp_path / "lib" / "backend.py").write_text("try:\n    from keras import ops\nexcept ImportError:\n    ops = None\n")
    codes = _check(tmp_path, "from lib import ops\n\n\ndef loss(y_true, y_pred):\n"
                             "    return -ops.mean(y_true * ops.log(y_pred))\n")
    assert codes == ["LL201"]


def test_a_cycle_of_reexports_stays_unknown_and_quiet(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from b import ops\n")
    (tmp_path / "b.py").write_text("from a import ops\n")
    codes = _check(tmp_path, "from a import ops\n\n\ndef loss(y_true, y_pred):\n"
                             "    return -ops.mean(y_true * ops.log(y_pred))\n")
    assert codes == []


def test_a_module_that_defines_the_name_itself_is_not_the_library(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text("def log(x):\n    return x\n")
    codes = _check(tmp_path, "import mine\n\n\ndef loss(y_true, y_pred):\n"
                             "    return -(y_true * mine.log(y_pred))\n")
    assert codes == []


def test_a_backend_module_that_star_imports_keras_ops(tmp_path: Path) -> None:
    (tmp_path / "kit" / "backend").mkdir(parents=True)
    (tmp_path / "kit" / "__init__.py").write_text("")
    (tmp_path / "kit" / "backend" / "__init__.py").write_text("from kit.backend import ops\n")
    (tmp_path / "kit" / "backend" / "ops.py").write_text("from keras.ops import *  # noqa\n")
    codes = _check(tmp_path, "from kit.backend import ops\n\n\ndef loss(y_true, y_pred):\n"
                             "    err = ops.abs(y_true - y_pred)\n"
                             "    return ops.mean(ops.where(err < 1.0, 0.5 * err * err, err - 0.5)) + ops.mean(ops.log(y_pred))\n")
    assert codes == ["LL201"]  # ops.where is a selection (no LL103), ops.log is seen
