"""A loss that loops, exhausts memory, ends or crashes the process, raises SystemExit, floods
stdout or forks ends as `not_run` with the reason; the worker is restarted and the next check
works. One worker (and its restarts) for the whole module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loss_lsp.gradcheck import GradientChecker
from loss_lsp.settings import Settings
from tests.gradcheck.conftest import DATA, run_check

FAULTS = DATA / "faults.py"
CHILD_MARKER = DATA / "forked-child-ran.txt"


@pytest.fixture(scope="module")
def checker():
    instance = GradientChecker(Settings(gradient_timeout=3.0, gradient_memory_mb=4096))
    yield instance
    instance.close()


def check_one(checker: GradientChecker, name: str):
    run = run_check(checker, FAULTS, loss_names=[name])
    [report] = run.result.losses
    return report


def check_fresh(checker: GradientChecker, tmp_path: Path):
    """A loss the cache has never seen, so the worker really runs it."""
    scale = len(list(tmp_path.iterdir())) + 1
    path = tmp_path / f"fresh_{scale}.py"
    path.write_text(f"import tensorflow as tf\n\n\ndef fresh(y_true, y_pred):\n"
                    f"    return {scale}.0 * tf.reduce_mean(tf.square(y_true - y_pred))\n")
    [report] = run_check(checker, path).result.losses
    return report


@pytest.mark.parametrize(("loss", "reason", "restarts"), [
    ("loops_forever", "timed out after 3 s (running line 13 of faults.py)", True),
    ("allocates_50_gb", "out of memory (limit 4096 MB)", True),
    ("numpy_allocates_50_gb", "out of memory (limit 4096 MB): MemoryError", True),
    ("exits_process", "the loss ended the worker process (exit status 3", True),
    ("segfaults", "the worker crashed (SIGSEGV at line 39 of faults.py)", True),
    ("forks", "the loss called os.fork()", True),
    ("raises_system_exit", "the loss raised SystemExit(4) (line 33)", False),
    ("raises", "the loss raised ValueError: bad input (line 62)", False),
])
def test_fault_is_not_run_and_the_next_check_works(checker: GradientChecker, tmp_path: Path, loss: str, reason: str,
                                                   restarts: bool) -> None:
    CHILD_MARKER.unlink(missing_ok=True)
    assert check_fresh(checker, tmp_path).status == "checked"  # a live worker before the fault
    starts, pid = checker.client.starts, checker.client.pid
    report = check_one(checker, loss)
    assert report.status == "not_run"
    assert reason in report.reason
    after = check_fresh(checker, tmp_path)
    assert after.status == "checked" and after.reason == ""
    if restarts:
        assert checker.client.starts == starts + 1
        assert checker.client.pid != pid
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the old worker is gone, not left running
    else:
        assert checker.client.starts == starts and checker.client.pid == pid
    assert not CHILD_MARKER.exists(), "a forked child ran the loss's code"


def test_megabytes_on_stdout_do_not_corrupt_the_protocol(checker: GradientChecker) -> None:
    run = run_check(checker, FAULTS, loss_names=["prints_megabytes", "fine"])
    assert [r.status for r in run.result.losses] == ["checked", "checked"]
    assert not run.result.findings


def test_a_finding_of_a_faulty_loss_is_not_run_with_the_reason(tmp_path: Path, checker: GradientChecker) -> None:
    source = (
        "import numpy as np\n"
        "import os\n\n"
        "def numpy_then_exit(y_true, y_pred):\n"
        "    if os.sep:\n"
        "        os._exit(5)\n"
        "    return np.mean(np.square(y_true - y_pred))\n"
    )
    path = tmp_path / "exit_loss.py"
    path.write_text(source)
    run = run_check(checker, path)
    assert {f.code for f in run.result.findings} == {"LL101"}
    for finding in run.result.findings:
        assert finding.verdict == "not_run"
        assert "exit status 5" in finding.evidence
