"""Runs editors/ci-setup.sh once per test session (quick when everything is installed), so that
`python -m pytest` alone installs the editors on first use and always tests the current
extension code (the .vsix is rebuilt when its sources changed). LOSS_LSP_EDITOR_SETUP=0 skips
the script; the tests then use what is there and fail, saying why, when something is missing."""

from __future__ import annotations

import os
import subprocess

import pytest

from .editor_tools import ROOT, TOOLS


@pytest.fixture(scope="session", autouse=True)
def editor_setup() -> None:
    if os.environ.get("LOSS_LSP_EDITOR_SETUP") == "0":
        return
    TOOLS.mkdir(parents=True, exist_ok=True)
    with open(TOOLS / "pytest-setup.log", "w") as log:
        # Never raises: a failed step is recorded in setup-errors.txt and the tests report it.
        subprocess.run(["bash", str(ROOT / "editors" / "ci-setup.sh")], stdout=log, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=1800, check=False)
