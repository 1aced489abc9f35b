"""The command line on issue 12's newcomer example: flagged with the program's shapes; its fix passes."""

from __future__ import annotations

import subprocess
import sys

from tests.expectations import FIXTURES


def _check(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loss_lsp", "check", str(FIXTURES / "shapes" / name)],
                          capture_output=True, text=True, timeout=120)


def test_newcomer_example_fails_the_check_with_ll301() -> None:
    done = _check("newcomer.py")
    assert done.returncode == 1
    [line] = [line for line in done.stdout.splitlines() if "LL301" in line]
    assert "newcomer.py:10:" in line and "`y_true` is (batch,) and `y_pred` (batch, 1)" in line


def test_corrected_newcomer_example_passes() -> None:
    done = _check("newcomer_reshaped.py")
    assert done.returncode == 0, done.stdout
