"""Which Keras a project targets, from what it declares nearest to the file (engine/project.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loss_lsp.engine.project import decide, installed_target, keras_target


@pytest.mark.parametrize(("requirements", "major"), [
    (["tensorflow<2.16"], 2),
    (["tensorflow>=2.4,<2.16"], 2),
    (["tensorflow==2.15.*"], 2),
    (["tensorflow~=2.15.0"], 2),
    (["tensorflow-cpu (>=2.4,<2.11)"], 2),
    (["tensorflow ~2.15"], 2),  # Poetry tilde
    (["tensorflow==2.15.1; python_version >= '3.9'"], 2),
    (["tf_keras>=2.16", "tensorflow>=2.16"], 2),  # Keras 2 kept on purpose
    (["keras<3", "tensorflow>=2.16"], 2),
    (["tensorflow>=2.16"], 3),
    (["tensorflow-macos>=2.16.1"], 3),
    (["keras>=3.0", "tensorflow"], 3),
    (["tensorflow"], None),  # both majors allowed: decides nothing
    (["tensorflow>=2.10"], None),
    (["tensorflow ^2.15"], None),  # Poetry caret: >=2.15,<3
])
def test_declarations_decide_the_major(requirements: list[str], major: int | None) -> None:
    target = decide(requirements, "requirements.txt")
    assert target is not None and target.major == major
    if major is not None:
        assert target.reason.startswith("requirements.txt declares ")


def test_no_keras_or_tensorflow_is_no_declaration() -> None:
    assert decide(["numpy>=1.20", "pandas"], "requirements.txt") is None


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(("files", "major"), [
    ({"pyproject.toml": '[project]\nname = "p"\ndependencies = ["tensorflow>=2.4,<2.16"]\n'}, 2),
    ({"pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.9"\ntensorflow = "~2.15"\n'}, 2),
    ({"setup.cfg": "[options]\ninstall_requires =\n    numpy\n    tensorflow<2.16\n"}, 2),
    ({"setup.py": "from setuptools import setup\nREQS = ['tensorflow>=2.16']\nsetup(install_requires=REQS)\n"}, 3),
    ({"requirements-gpu.txt": "-r base.txt\ntensorflow-gpu==2.10.0  # pinned\n"}, 2),
    ({"pyproject.toml": '[project]\nname = "p"\ndependencies = ["keras>=3"]\n'}, 3),
])
def test_project_files_next_to_the_code(tmp_path: Path, files: dict[str, str], major: int) -> None:
    write(tmp_path, {**files, "src/pkg/losses.py": ""})
    assert keras_target(str(tmp_path / "src" / "pkg" / "losses.py")).major == major


def test_nearest_declaration_wins_and_edits_are_seen(tmp_path: Path) -> None:
    write(tmp_path, {"requirements.txt": "tensorflow>=2.16\n", "legacy/requirements.txt": "tensorflow==2.12.0\n",
                     "legacy/losses.py": "", "modern/losses.py": ""})
    assert keras_target(str(tmp_path / "legacy" / "losses.py")).major == 2
    assert keras_target(str(tmp_path / "modern" / "losses.py")).major == 3
    (tmp_path / "legacy" / "requirements.txt").write_text("tensorflow>=2.16.1\nnumpy\n", encoding="utf-8")
    import os
    os.utime(tmp_path / "legacy" / "requirements.txt", (1, 1))  # a different mtime, however fast the edit
    assert keras_target(str(tmp_path / "legacy" / "losses.py")).major == 3


def test_an_installed_wheel_s_metadata(tmp_path: Path) -> None:
    write(tmp_path, {
        "site-packages/segloss/losses.py": "",
        "site-packages/segloss-1.0.dist-info/METADATA": "Name: segloss\nRequires-Dist: tensorflow (<2.16,>=2.8)\n"
                                                       "Requires-Dist: tensorflow>=2.16; extra == 'new'\n",
        "site-packages/other-2.0.dist-info/METADATA": "Name: other\nRequires-Dist: keras>=3\n",
    })
    assert keras_target(str(tmp_path / "site-packages" / "segloss" / "losses.py")).major == 2


def test_undecided_or_undeclared_falls_back_to_this_interpreter(tmp_path: Path) -> None:
    write(tmp_path, {"a/requirements.txt": "tensorflow\n", "a/losses.py": "", "b/losses.py": ""})
    installed = installed_target()
    assert installed.major == 3 and installed.reason.startswith("keras 3.")  # the test extras install Keras 3
    assert keras_target(str(tmp_path / "a" / "losses.py")) == installed
    assert keras_target(str(tmp_path / "b" / "losses.py")) == installed
    assert keras_target("untitled:Untitled-1") == installed


def test_ll406_follows_the_declared_target(tmp_path: Path) -> None:
    from loss_lsp.checker import analyze

    source = ("import keras\nfrom keras import backend as K\n\n\ndef loss(y_true, y_pred):\n"
              "    return K.mean(keras.losses.mse(y_true, y_pred))\n")
    path = write(tmp_path, {"requirements.txt": "tensorflow==2.15.1\n", "losses.py": source}) / "losses.py"
    assert [f for f in analyze(source, str(path)).findings if f.code == "LL406"] == []  # valid Keras 2
    (tmp_path / "requirements.txt").write_text("tensorflow>=2.16\n", encoding="utf-8")
    import os
    os.utime(tmp_path / "requirements.txt", (2, 2))
    found = [f for f in analyze(source, str(path)).findings if f.code == "LL406"]
    assert [f.span.start_col for f in found] == [11, 18]  # K.mean, keras.losses.mse
    assert all("requirements.txt declares tensorflow>=2.16" in f.message for f in found)


def test_a_relative_path_is_the_file_under_the_working_directory(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"setup.cfg": "[options]\ninstall_requires = tensorflow==2.13.1\n", "pkg/losses.py": ""})
    monkeypatch.chdir(tmp_path)
    assert keras_target("pkg/losses.py").major == 2
    assert keras_target("vscode-notebook-cell:/x.ipynb#W1") == installed_target()


@pytest.mark.parametrize(("files", "major"), [
    ({"pyproject.toml": '[project]\nname = "p"\ndependencies = ["numpy"]\n'
                        '[project.optional-dependencies]\ngpu = ["tensorflow<2.16"]\n'}, 2),
    ({"setup.py": "from setuptools import setup\nsetup(install_requires=['numpy'],\n"
                  "      extras_require={'cpu': ['tensorflow-cpu<2.16,>=1.13.1']})\n"}, 2),
    ({"setup.cfg": "[options]\ninstall_requires = numpy\n[options.extras_require]\ntf =\n    tensorflow>=2.16\n"}, 3),
    # tf_keras in extras (a test extra beside Keras 3) does not make the project Keras 2:
    ({"pyproject.toml": '[project]\nname = "p"\ndependencies = []\n'
                        '[project.optional-dependencies]\ntest = ["tensorflow-cpu>=2.16", "tf_keras"]\n'}, 3),
    # required dependencies win over extras:
    ({"pyproject.toml": '[project]\nname = "p"\ndependencies = ["tensorflow>=2.16"]\n'
                        '[project.optional-dependencies]\nold = ["tensorflow<2.16"]\n'}, 3),
])
def test_optional_dependencies_count_when_the_required_ones_say_nothing(tmp_path: Path, files: dict[str, str],
                                                                         major: int) -> None:
    write(tmp_path, {**files, "losses.py": ""})
    assert keras_target(str(tmp_path / "losses.py")).major == major


def test_ll406_ports_backend_arithmetic_to_keras_ops_where_the_arguments_match(tmp_path: Path) -> None:
    import subprocess
    import sys

    source = ("import keras\nfrom keras import backend as K\n\n\ndef loss(y_true, y_pred):\n"
              "    return K.mean(K.square(y_true - y_pred), axis=-1) + K.clip(y_pred, 0.0, 1.0) * K.epsilon()\n")
    path = write(tmp_path, {"requirements.txt": "keras>=3\n", "losses.py": source}) / "losses.py"
    subprocess.run([sys.executable, "-m", "loss_lsp", "check", str(path), "--fix", "--select", "LL406"],
                   capture_output=True, text=True, timeout=120, cwd=tmp_path)
    fixed = path.read_text(encoding="utf-8")
    assert "from keras import ops\n" in fixed
    assert "ops.mean(ops.square(y_true - y_pred), axis=-1) + K.clip(y_pred, 0.0, 1.0) * K.epsilon()" in fixed


@pytest.mark.parametrize(("requirements", "major"), [
    # Only the requirement whose environment marker holds for this interpreter counts:
    (['tensorflow<2.16; python_version < "3.0"', 'tensorflow>=2.16; python_version >= "3.0"'], 3),
    (['tensorflow>=2.16; python_version < "3.0"', 'tensorflow==2.15.1; python_version >= "3.0"'], 2),
    (['tensorflow<2.16; python_version < "3.0"'], None),  # nothing applies here: no declaration
])
def test_environment_markers_select_the_requirements_of_this_interpreter(requirements: list[str],
                                                                       major: int | None) -> None:
    target = decide(requirements, "requirements.txt")
    assert (target.major if target is not None else None) == major


def test_requirements_files_follow_their_includes_and_constraints(tmp_path: Path) -> None:
    write(tmp_path, {"requirements.txt": "-r requirements/base.txt\nnumpy\n",
                     "requirements/base.txt": "--requirement=ml.txt\n", "requirements/ml.txt": "tensorflow<2.16\n",
                     "service/requirements.txt": "-c ../constraints.txt\ntensorflow\n",
                     "constraints.txt": "tensorflow==2.15.1\n", "losses.py": "", "service/losses.py": ""})
    assert keras_target(str(tmp_path / "losses.py")).major == 2
    assert keras_target(str(tmp_path / "service" / "losses.py")).major == 2  # the constraint pins it
    # An edit of an included file is seen although the including file did not change.
    (tmp_path / "requirements" / "ml.txt").write_text("tensorflow>=2.16\n", encoding="utf-8")
    import os
    os.utime(tmp_path / "requirements" / "ml.txt", (3, 3))
    assert keras_target(str(tmp_path / "losses.py")).major == 3


def test_requirements_files_that_include_each_other_end(tmp_path: Path) -> None:
    write(tmp_path, {"requirements.txt": "-r other.txt\n", "other.txt": "-r requirements.txt\nkeras>=3\n",
                     "losses.py": ""})
    assert keras_target(str(tmp_path / "losses.py")).major == 3


def test_a_requirements_folder_declares_too(tmp_path: Path) -> None:
    write(tmp_path, {"requirements/base.txt": "numpy\ntensorflow==2.15.1\n", "requirements/docs.txt": "sphinx\n",
                     "src/losses.py": ""})
    assert keras_target(str(tmp_path / "src" / "losses.py")).major == 2
