"""The worker's life: started on the first check, reused, shut down when idle, restarted when
it dies; results cached by slice, shapes and TensorFlow version; untrusted workspaces never
run anything; progress and cancellation."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from loss_lsp.gradcheck import GradientChecker
from loss_lsp.settings import Settings
from tests.gradcheck.conftest import DATA, run_check

LOSSES = (
    "import tensorflow as tf\n\n\n"
    "def mse(y_true, y_pred):\n"
    "    return tf.reduce_mean(tf.square(y_true - y_pred))\n\n\n"
    "def bce(y_true, y_pred):\n"
    "    return -tf.reduce_mean(y_true * tf.math.log(y_pred))\n\n\n"
    "def mae(y_true, y_pred):\n"
    "    return tf.reduce_mean(tf.abs(y_true - y_pred))\n"
)


@pytest.fixture(scope="module")
def checker():
    instance = GradientChecker(Settings(worker_idle_timeout=600))
    yield instance
    instance.close()


@pytest.fixture
def losses_file(tmp_path: Path) -> Path:
    path = tmp_path / "losses.py"
    path.write_text(LOSSES)
    return path


def requests_sent(checker: GradientChecker) -> int:
    return checker.client._next_id


def test_cache_reuses_unchanged_losses_and_reruns_changed_ones(checker: GradientChecker, losses_file: Path) -> None:
    first = run_check(checker, losses_file)
    assert [r.status for r in first.result.losses] == ["checked", "checked", "checked"]
    [bce] = first.result.findings
    assert bce.code == "LL201" and bce.verdict == "confirmed"
    sent, pid = requests_sent(checker), checker.client.pid

    again = run_check(checker, losses_file)
    assert [r.status for r in again.result.losses] == ["cached", "cached", "cached"]
    assert requests_sent(checker) == sent and checker.client.pid == pid
    assert again.result.findings == first.result.findings

    # Editing the training script below the losses does not change their slices.
    edited = LOSSES + "\nprint('training')\nmodel = None\n"
    third = run_check(checker, losses_file, source=edited)
    assert [r.status for r in third.result.losses] == ["cached", "cached", "cached"]

    # Changing one loss re-runs that loss only; its verdict follows the new code.
    fixed = LOSSES.replace("tf.math.log(y_pred)", "tf.math.log(y_pred + 1e-7)")
    fourth = run_check(checker, losses_file, source=fixed)
    assert [r.status for r in fourth.result.losses] == ["cached", "checked", "cached"]
    [bce] = fourth.result.findings if fourth.result.findings else [None]
    assert bce is None or bce.verdict != "confirmed"
    assert requests_sent(checker) == sent + 1


def test_cache_key_includes_the_shapes(checker: GradientChecker, losses_file: Path) -> None:
    run_check(checker, losses_file)
    hinted = LOSSES.replace("def mae(", "# loss-lsp: shapes y_true=(8, 3) y_pred=(8, 3)\ndef mae(")
    run = run_check(checker, losses_file, source=hinted)
    statuses = {r.name: r.status for r in run.result.losses}
    assert statuses["mae"] == "checked"
    assert statuses["mse"] == "cached"


def test_killed_worker_is_restarted_transparently(checker: GradientChecker, tmp_path: Path) -> None:
    path = tmp_path / "one.py"
    path.write_text(LOSSES.replace("tf.abs", "tf.square"))
    run_check(checker, path, loss_names=["mse"])
    starts, pid = checker.client.starts, checker.client.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    run = run_check(checker, path, loss_names=["mae"])
    assert [r.status for r in run.result.losses] == ["checked"]
    assert checker.client.starts == starts + 1 and checker.client.pid != pid


def test_progress_reports_each_loss_and_the_end(checker: GradientChecker, losses_file: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    run_check(checker, losses_file, on_progress=lambda message, done, total: seen.append((message, done, total)))
    assert [(d, t) for _, d, t in seen] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert "mse" in seen[0][0] and "bce" in seen[1][0]


def test_cancelled_check_marks_the_rest_not_run(checker: GradientChecker, tmp_path: Path) -> None:
    path = tmp_path / "cancel.py"
    path.write_text(LOSSES.replace("1e-7", "1e-6").replace("tf.abs", "tf.math.abs"))
    started: list[int] = []

    def progress(message: str, done: int, total: int) -> None:
        started.append(done)

    # The user cancels while the second loss runs: it is stopped, and the third never starts.
    run = run_check(checker, path, cancelled=lambda: len(started) >= 2, on_progress=progress)
    statuses = [r.status for r in run.result.losses]
    assert statuses == ["checked", "not_run", "not_run"]
    assert [r.reason for r in run.result.losses[1:]] == ["cancelled", "cancelled"]
    [bce] = run.result.findings
    assert bce.verdict == "not_run" and bce.evidence == "cancelled"
    assert run_check(checker, path, loss_names=["mae"]).result.losses[0].status == "checked"


def test_untrusted_workspace_runs_nothing(losses_file: Path) -> None:
    untrusted = GradientChecker(Settings(trusted=False))
    try:
        run = run_check(untrusted, losses_file)
        assert untrusted.client.starts == 0 and not untrusted.client.running
        assert [r.status for r in run.result.losses] == ["not_run"] * 3
        assert all(r.reason == "workspace not trusted" for r in run.result.losses)
        [bce] = run.result.findings
        assert bce.verdict == "not_run" and bce.evidence == "workspace not trusted"
    finally:
        untrusted.close()


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a process, so a reused pid is not taken for the same process."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, started: str | None) -> bool:
    """Running: not gone, not a zombie waiting to be reaped, not another process under a reused pid."""
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z" and (started is None or fields[19] == started)


def test_idle_worker_shuts_down_and_comes_back(tmp_path: Path) -> None:
    idle = GradientChecker(Settings(worker_idle_timeout=1.0))
    try:
        path = tmp_path / "idle.py"
        path.write_text(LOSSES)
        run_check(idle, path, loss_names=["mse"])
        pid = idle.client.pid
        assert pid is not None
        started = _start_time(pid)
        deadline = time.monotonic() + 10
        while _alive(pid, started) and time.monotonic() < deadline:  # the client forgets it, then kills it
            time.sleep(0.2)
        assert not _alive(pid, started)
        assert not idle.client.running
        run = run_check(idle, path, loss_names=["mae"])
        assert [r.status for r in run.result.losses] == ["checked"]
        assert idle.client.starts == 2
    finally:
        idle.close()


def test_worker_runs_in_a_temp_folder_without_secrets_and_close_stops_it(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOSS_LSP_TEST_SECRET_TOKEN", "s3cret")
    source = (
        "import os\nimport tensorflow as tf\n\n"
        f"WORKSPACE = {str(tmp_path)!r}\n\n\n"
        "# loss-lsp: shapes y_true=(8, 1) y_pred=(8, 1)\n"
        "def nosy(y_true, y_pred):\n"
        "    if 'LOSS_LSP_TEST_SECRET_TOKEN' in os.environ:\n"
        "        raise RuntimeError('the secret reached the worker')\n"
        "    if os.path.realpath(os.getcwd()).startswith(os.path.realpath(WORKSPACE)):\n"
        "        raise RuntimeError('the worker runs in the workspace')\n"
        "    return tf.reduce_mean(tf.square(y_true - y_pred))\n"
    )
    path = tmp_path / "nosy.py"
    path.write_text(source)
    own = GradientChecker(Settings())
    try:
        run = run_check(own, path)
        assert [r.status for r in run.result.losses] == ["checked"], run.result.losses
        assert not run.result.findings
        pid = own.client.pid
    finally:
        own.close()
    assert not own.client.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # close() stopped the worker


def test_data_files_are_not_modified(checker: GradientChecker) -> None:
    before = {p: p.stat().st_mtime_ns for p in DATA.glob("*.py")}
    run_check(checker, DATA / "flow.py", loss_names=["mse"])
    assert {p: p.stat().st_mtime_ns for p in DATA.glob("*.py")} == before


def test_an_interpreter_without_tensorflow_gives_the_reason(tmp_path: Path, losses_file: Path) -> None:
    wrapper = tmp_path / "python-without-site"
    wrapper.write_text(f"#!/bin/sh\nexec {os.path.realpath(sys.executable)} -S \"$@\"\n")
    wrapper.chmod(0o755)
    for interpreter, reason in ((str(wrapper), "cannot import TensorFlow"),
                                (str(tmp_path / "missing-python"), "cannot start the worker")):
        own = GradientChecker(Settings(interpreter=interpreter))
        try:
            run = run_check(own, losses_file, loss_names=["bce"])
            [report] = run.result.losses
            assert report.status == "not_run" and reason in report.reason, report
            [finding] = run.result.findings
            assert finding.verdict == "not_run" and reason in finding.evidence
        finally:
            own.close()


def test_close_from_another_thread_stops_a_running_check(tmp_path: Path) -> None:


    path = tmp_path / "slow.py"
    path.write_text("import time\nimport tensorflow as tf\n\n\ndef slow(y_true, y_pred):\n"
                    "    time.sleep(60)\n    return tf.reduce_mean(y_pred)\n")
    own = GradientChecker(Settings(gradient_timeout=120))
    own.client.start()
    timer = threading.Timer(1.0, own.close)
    timer.start()
    started = time.monotonic()
    run = run_check(own, path)
    timer.join()
    assert time.monotonic() - started < 30
    [report] = run.result.losses
    assert report.status == "not_run" and "closed" in report.reason
    assert not own.client.running


def test_settings_and_comments_silence_gradient_check_findings(checker: GradientChecker, tmp_path: Path) -> None:
    source = (
        "import tensorflow as tf\n\n\n"
        "def lgamma_loss(y_true, y_pred):{comment}\n"
        "    return tf.reduce_mean(tf.math.lgamma(y_pred) * y_true)\n"
    )
    path = tmp_path / "silenced.py"
    path.write_text(source.format(comment=""))
    assert [f.code for f in run_check(checker, path).result.findings] == ["LL903"]
    assert run_check(checker, path, source=source.format(comment="  # loss-lsp: ignore[LL903]")).result.findings == []
    original, pid = checker.settings, checker.client.pid
    checker.settings = replace(original, ignore=("LL903",))
    try:
        assert run_check(checker, path).result.findings == []
        assert checker.client.pid == pid  # a settings change that does not touch the process keeps the worker
    finally:
        checker.settings = original


def test_worker_exits_and_cleans_up_when_the_server_goes_away() -> None:
    own = GradientChecker(Settings())
    try:
        own.client.start()
        process = own.client._process
        assert process is not None and os.path.isdir(process.folder)
        process.popen.stdin.close()  # what the worker sees when the server dies
        assert process.popen.wait(timeout=30) == 0
        assert not os.path.exists(process.folder)
    finally:
        own.close()
