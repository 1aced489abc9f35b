"""``loss-lsp check`` on Jupyter notebooks: cell locations, JSON/SARIF, --fix round trips, bad notebooks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import loss_lsp.cli.check
from loss_lsp.cli import main

DEFINE = ["def bce(y_true, y_pred):\n", "    !nvidia-smi\n",
          "    return -tf.reduce_mean(y_true * tf.math.log(y_pred))"]
FLAGGED = "tf.math.log(y_pred)"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def notebook_data() -> dict:
    """A notebook as Jupyter writes it: markdown, magics, outputs (a stream and an image), metadata."""
    return {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Training a classifier\n", "With a custom loss."]},
            {"cell_type": "code", "execution_count": 1, "metadata": {"scrolled": True},
             "outputs": [{"name": "stdout", "output_type": "stream", "text": ["2.21.0\n"]}],
             "source": ["import tensorflow as tf\n", "%matplotlib inline\n", "print(tf.__version__)"]},
            {"cell_type": "code", "execution_count": 2, "metadata": {}, "outputs": [], "source": list(DEFINE)},
            {"cell_type": "code", "execution_count": 3, "metadata": {"tags": ["train"]},
             "outputs": [{"data": {"image/png": PNG, "text/plain": ["<Figure size 640x480>"]}, "metadata": {},
                          "output_type": "display_data"}],
             "source": ["model = tf.keras.Sequential([tf.keras.layers.Dense(1, activation='sigmoid')])\n",
                        "model.compile(optimizer='adam', loss=bce)"]},
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python", "version": "3.11.7"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


def write_notebook(path: Path, data: dict | None = None) -> Path:
    path.write_text(json.dumps(data or notebook_data(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def flagged_column() -> int:
    return DEFINE[2].index(FLAGGED) + 1


def test_a_loss_defined_in_one_cell_and_compiled_in_another_is_reported_at_its_cell(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_notebook(tmp_path / "train.ipynb")
    code, out, _ = run(["check", "train.ipynb"], capsys)
    assert code == 1
    # the markdown cell counts: the loss is in the notebook's third cell, on its third line
    assert f"train.ipynb:cell 3:3:{flagged_column()}: LL201 [*] [unguarded-log]" in out
    assert "Found 1 finding." in out


def test_json_names_the_cell_and_cell_relative_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_notebook(tmp_path / "train.ipynb")
    code, out, _ = run(["check", "--format", "json", str(path)], capsys)
    [item] = json.loads(out)
    assert code == 1 and item["code"] == "LL201" and item["cell"] == 3 and item["loss"] == "bce"
    assert item["location"] == {"row": 3, "column": flagged_column()}
    assert item["end_location"] == {"row": 3, "column": flagged_column() + len(FLAGGED)}
    [edit] = item["fix"]["edits"]
    assert edit["cell"] == 3 and DEFINE[2][edit["location"]["column"] - 1:].startswith("y_pred")


def test_sarif_region_points_into_the_notebook_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_notebook(tmp_path / "train.ipynb")
    _, out, _ = run(["check", "--format", "sarif", str(path)], capsys)
    [result] = json.loads(out)["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == path.resolve().as_uri()
    region = location["region"]
    line = path.read_text(encoding="utf-8").split("\n")[region["startLine"] - 1]
    assert line[region["startColumn"] - 1:region["endColumn"] - 1] == FLAGGED
    assert result["properties"] == {"cell": 3, "cellLine": 3, "cellColumn": flagged_column()}


def test_fix_rewrites_only_the_changed_cell_and_keeps_everything_else_byte_for_byte(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "train.ipynb"
    data = notebook_data()
    data["cells"][0]["source"][1] = "With a custom loss, café-style."
    # not Jupyter's own layout (indent 1, UTF-8): re-serialising the notebook could not keep it
    path.write_text(json.dumps(data, indent=4, ensure_ascii=True) + "\n", encoding="utf-8")
    before = path.read_bytes()
    code, out, _ = run(["check", "--fix", str(path)], capsys)
    assert code == 0
    assert "Fixed 1 finding (0 remaining)." in out and "All checks passed!" in out
    after = path.read_bytes()
    changed = [(old, new) for old, new in zip(before.split(b"\n"), after.split(b"\n")) if old != new]
    assert len(before.split(b"\n")) == len(after.split(b"\n")) and len(changed) == 1  # one line of one cell
    assert b"tf.math.log(tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7))" in changed[0][1]
    expected = data
    expected["cells"][2]["source"][2] = DEFINE[2].replace("log(y_pred)", "log(tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7))")
    assert json.loads(after) == expected  # outputs, metadata, the magic line and other cells unchanged
    assert after.endswith(b"}\n")


def test_fix_keeps_a_compact_notebook_compact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "compact.ipynb"
    data = notebook_data()
    data["cells"][2]["source"] = "".join(DEFINE)  # a single string, not a list of lines
    text = json.dumps(data, separators=(",", ":"))  # no indentation, no trailing newline
    path.write_text(text, encoding="utf-8")
    assert run(["check", "--fix", str(path)], capsys)[0] == 0
    fixed = path.read_text(encoding="utf-8")
    old_source = json.dumps("".join(DEFINE))
    new_source = json.dumps("".join(DEFINE).replace("log(y_pred)", "log(tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7))"))
    assert fixed == text.replace(old_source, new_source)


@pytest.mark.parametrize(("content", "message"), [
    ("{\"cells\": [", "not a notebook: invalid JSON at line 1"),
    (json.dumps({"nbformat": 3, "worksheets": []}), "unsupported nbformat 3"),
    (json.dumps({"nbformat": 4, "metadata": {}}), 'not a notebook: no "cells" list'),
])
def test_a_bad_notebook_gets_one_clear_line_and_the_other_files_are_checked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str) -> None:
    (tmp_path / "bad.ipynb").write_text(content, encoding="utf-8")
    write_notebook(tmp_path / "good.ipynb")
    code, out, err = run(["check", str(tmp_path)], capsys)
    assert code == 2
    [line] = [line for line in err.splitlines() if "bad.ipynb" in line]
    assert message in line and "Traceback" not in err
    assert "good.ipynb:cell 3:3:" in out
    assert "All checks passed!" not in out and "1 file could not be checked" in out


def test_a_folder_finds_notebooks_but_not_checkpoints(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src" / ".ipynb_checkpoints").mkdir(parents=True)
    write_notebook(tmp_path / "src" / "train.ipynb")
    write_notebook(tmp_path / "src" / ".ipynb_checkpoints" / "train-checkpoint.ipynb")
    (tmp_path / "src" / "clean.py").write_text("x = 1\n")
    code, out, _ = run(["check", "src"], capsys)
    assert code == 1
    assert [line.split(":")[0] for line in out.splitlines() if ": LL" in line] == ["src/train.ipynb"]


def test_no_success_message_when_a_file_could_not_be_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    (tmp_path / "clean.py").write_text("x = 1\n")
    (tmp_path / "binary.py").write_bytes(b"\x00\x01")
    code, out, _ = run(["check", str(tmp_path)], capsys)
    assert code == 2
    assert "All checks passed!" not in out
    assert out.splitlines()[-2:] == ["1 file could not be checked fully (errors above).",
                                     "No findings in the files that could be checked."]


def test_an_internal_error_in_one_file_is_one_line_and_the_others_are_checked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    write_notebook(tmp_path / "good.ipynb")
    (tmp_path / "explodes.py").write_text("x = 1\n")
    real = loss_lsp.cli.check.analyze

    def analyze(text: str, path: str, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if path.endswith("explodes.py"):
            raise RuntimeError("a bug in a rule")
        return real(text, path, *args, **kwargs)

    monkeypatch.setattr(loss_lsp.cli.check, "analyze", analyze)
    code, out, err = run(["check", str(tmp_path)], capsys)
    assert code == 2
    [line] = [line for line in err.splitlines() if "explodes.py" in line]
    assert "internal error" in line and "a bug in a rule" in line
    assert "Traceback" not in err and "good.ipynb:cell 3:3:" in out


def test_fix_counts_what_it_fixed_and_what_remains(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "two.py"
    path.write_text("import tensorflow as tf\n\n\ndef f(y_true, y_pred):\n"
                    "    return tf.reduce_mean(tf.cast(y_pred > 0.5, tf.float32) - tf.math.log(y_pred))\n")
    code, out, _ = run(["check", "--fix", str(path)], capsys)
    assert code == 1
    assert "Fixed 1 finding (1 remaining)." in out  # the log is clipped; the threshold's fix is unsafe


def test_gradients_run_on_a_notebooks_losses_with_a_tally(tmp_path: Path) -> None:
    data = notebook_data()
    data["cells"].insert(1, {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                             "source": ["raise SystemExit('the notebook itself must never run')"]})
    path = write_notebook(tmp_path / "train.ipynb", data)
    result = subprocess.run([sys.executable, "-m", "loss_lsp", "check", "--gradients", str(path)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    [line] = [line for line in result.stdout.splitlines() if ": LL201" in line]
    assert line.startswith("train.ipynb:cell 4:3:") and "[confirmed:" in line and "y_pred=0" in line
    assert "Gradient check: 1 confirmed, 0 not reproduced, 0 not run." in result.stdout


def test_a_syntax_error_is_named_by_cell_and_shell_cells_are_not_python(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = notebook_data()
    data["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                          "source": ["%%bash\n", "for f in *.csv; do wc -l $f; done"]})
    data["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                          "source": ["x = 1\n", "def half_typed(:\n", "    pass"]})
    write_notebook(tmp_path / "train.ipynb", data)
    code, out, err = run(["check", "train.ipynb"], capsys)
    assert code == 2
    [line] = err.splitlines()  # the %%bash cell is not reported: it is not Python
    assert line.startswith("train.ipynb:cell 6:2:") and "(cell 6, line 2)" in line
    assert f"train.ipynb:cell 3:3:{flagged_column()}: LL201" in out  # the rest is still checked


def test_a_loss_imported_into_a_notebook_is_reported_in_its_module(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_losses.py").write_text(
        "import tensorflow as tf\n\n\ndef my_loss(t, p):\n    return -tf.reduce_mean(t * tf.math.log(p))\n")
    data = notebook_data()
    data["cells"][2]["source"] = ["from my_losses import my_loss"]  # (t, p): a loss only through the compile cell
    data["cells"][3]["source"][1] = "model.compile(optimizer='adam', loss=my_loss)"
    write_notebook(tmp_path / "train.ipynb", data)
    code, out, _ = run(["check", "train.ipynb"], capsys)
    assert code == 1
    assert [line.split(" [")[0] for line in out.splitlines() if ": LL" in line] == ["my_losses.py:5:32: LL201"]
