"""An internal error (an engine bug) stays with the loss or the file it happened in: the other losses
and files still get their findings. Faults are injected in-process with monkeypatch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loss_lsp.checker import analyze
from loss_lsp.engine import pipeline, workspace
from loss_lsp.engine.workspace import Workspace
from tests.expectations import FIXTURES

TWO_LOSSES = ("import numpy as np\nimport tensorflow as tf\n\n\ndef first(y_true, y_pred):\n"
              "    return np.mean(y_pred)\n\n\ndef second(y_true, y_pred):\n"
              "    return tf.reduce_mean(tf.math.log(y_pred))\n")


def test_an_engine_error_on_one_loss_keeps_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    real = pipeline._shapes_for

    def broken(module, loss, settings):  # type: ignore[no-untyped-def]
        if loss.name == "first":
            raise RuntimeError("injected fault")
        return real(module, loss, settings)

    monkeypatch.setattr(pipeline, "_shapes_for", broken)
    analysis = analyze(TWO_LOSSES, "/tmp/two_losses.py")
    assert [(f.code, f.loss) for f in analysis.findings] == [("LL201", "second")]
    assert [e.message for e in analysis.errors] == ["internal error analysing first: RuntimeError('injected fault')"]
    assert [info.name for info in analysis.losses] == ["second"]


def test_an_engine_error_indexing_one_file_keeps_the_workspace_index(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "crossfile", tmp_path, dirs_exist_ok=True)
    (tmp_path / "a_broken.py").write_text("model.compile(loss=None)\n", encoding="utf-8")  # indexed first
    real = workspace.build_module

    def broken(path, lines, blocks):  # type: ignore[no-untyped-def]
        if path.endswith("a_broken.py"):
            raise RuntimeError("injected fault")
        return real(path, lines, blocks)

    monkeypatch.setattr(workspace, "build_module", broken)
    index = Workspace(tmp_path)
    assert index.index() == 3
    losses = tmp_path / "losses.py"
    found = analyze(losses.read_text(encoding="utf-8"), str(losses), workspace=index).findings
    assert sorted(f.code for f in found) == ["LL201", "LL203"]  # compiled in train.py, so still checked
