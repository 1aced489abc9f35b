"""Checking a loss never runs its module's script: a top level that writes files, opens a
socket or trains a model stays unexecuted, in the loss's module and in the workspace modules
it imports; and nothing runs at all unless the workspace is trusted."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from loss_lsp.gradcheck import GradientChecker
from loss_lsp.settings import Settings
from tests.gradcheck.conftest import run_check


@pytest.fixture(scope="module")
def checker():
    instance = GradientChecker(Settings())
    yield instance
    instance.close()


@pytest.fixture
def listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    yield server
    server.close()


def assert_no_connection(server: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        connection, _ = server.accept()
        connection.close()


def write_workspace(root: Path, port: int) -> Path:
    (root / "pyproject.toml").write_text("[project]\nname = 'victim'\n")
    package = root / "helpers"
    package.mkdir()
    (package / "__init__.py").write_text(
        f"open({str(root / 'package-init-ran.txt')!r}, 'w').write('x')\n")
    (package / "numeric.py").write_text(
        "import socket\n"
        "import tensorflow as tf\n\n"
        "EPS = 1e-7\n"
        f"socket.create_connection(('127.0.0.1', {port}))\n"
        f"open({str(root / 'helper-top-level-ran.txt')!r}, 'w').write('x')\n\n\n"
        "def safe_log(x):\n"
        "    return tf.math.log(tf.clip_by_value(x, EPS, 1.0))\n"
    )
    script = root / "train.py"
    script.write_text(
        "import socket\n"
        "import numpy as np\n"
        "import tensorflow as tf\n"
        "from tensorflow import keras\n"
        "from helpers.numeric import safe_log, EPS\n\n"
        f"OUT = {str(root / 'script-top-level-ran.txt')!r}\n"
        "open(OUT, 'w').write('the script ran')\n"
        f"sock = socket.create_connection(('127.0.0.1', {port}))\n"
        "data = np.load('train.npy')\n\n\n"
        "def weighted_bce(y_true, y_pred):\n"
        "    return -tf.reduce_mean(y_true * safe_log(y_pred) + (1.0 - y_true) * tf.math.log(1.0 - y_pred))\n\n\n"
        "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation='sigmoid')])\n"
        "model.compile(optimizer='adam', loss=weighted_bce)\n"
        "model.fit(data, data)\n"
        "model.save('model.keras')\n\n"
        "if __name__ == '__main__':\n"
        "    open(OUT + '.main', 'w').write('main ran')\n"
    )
    return script


def test_checking_a_loss_does_not_run_the_script(tmp_path: Path, listener: socket.socket,
                                                  checker: GradientChecker) -> None:
    script = write_workspace(tmp_path, listener.getsockname()[1])
    run = run_check(checker, script)
    [report] = run.result.losses
    assert report.status == "checked", report
    # The loss really ran, with its workspace helper: the unguarded log(1 - y_pred) is confirmed.
    [finding] = [f for f in run.result.findings if f.code == "LL201"]
    assert finding.verdict == "confirmed" and "y_pred=1" in finding.evidence
    assert sorted(p.name for p in tmp_path.iterdir()) == ["helpers", "pyproject.toml", "train.py"]
    assert sorted(p.name for p in (tmp_path / "helpers").iterdir()) == ["__init__.py", "numeric.py"]
    assert_no_connection(listener)


def test_untrusted_workspace_never_starts_a_worker(tmp_path: Path, listener: socket.socket) -> None:
    script = write_workspace(tmp_path, listener.getsockname()[1])
    untrusted = GradientChecker(Settings(trusted=False))
    try:
        run = run_check(untrusted, script)
        assert untrusted.client.starts == 0
        assert [r.reason for r in run.result.losses] == ["workspace not trusted"]
        assert all(f.verdict == "not_run" for f in run.result.findings)
    finally:
        untrusted.close()
    assert_no_connection(listener)


def test_a_loss_needing_an_unsliced_value_is_not_run_with_the_reason(tmp_path: Path,
                                                                      checker: GradientChecker) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    script = tmp_path / "uses_data.py"
    script.write_text(
        "import numpy as np\n"
        "import tensorflow as tf\n\n"
        "weights = np.load('class_weights.npy')\n\n\n"
        "def weighted(y_true, y_pred):\n"
        "    return tf.reduce_mean(weights[0] * tf.square(y_true - y_pred))\n"
    )
    [report] = run_check(checker, script).result.losses
    assert report.status == "not_run"
    assert "`weights` (line 4) calls `numpy.load`" in report.reason


def test_a_syntax_error_elsewhere_is_named_when_the_loss_needs_what_it_hides(tmp_path: Path,
                                                                          checker: GradientChecker) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    script = tmp_path / "half_typed.py"
    script.write_text(
        "import tensorflow as tf\n\n\n"
        "def helper(x)\n    return x * 2.0\n\n\n"
        "def uses_helper(y_true, y_pred):\n    return tf.reduce_mean(helper(y_true - y_pred))\n\n\n"
        "def standalone(y_true, y_pred):\n    return tf.reduce_mean(tf.square(y_true - y_pred))\n"
    )
    reports = {r.name: r for r in run_check(checker, script).result.losses}
    assert reports["standalone"].status == "checked"
    assert reports["uses_helper"].status == "not_run"
    assert "syntax error at line 4" in reports["uses_helper"].reason
