"""Runs editors/ci-setup.sh once per test session (quick when everything is installed), so that
`python -m pytest` alone installs the editors on first use and always tests the current
extension code (the .vsix is rebuilt when its sources or the server changed). Its progress lines
go to the terminal as they come (a first install takes a minute or two), its whole output to
$LOSS_LSP_EDITOR_TOOLS/pytest-setup.log. LOSS_LSP_EDITOR_SETUP=0 skips the script; the tests then
use what is there and fail, saying why, when something is missing."""

from __future__ import annotations

import os
import subprocess

import pytest

from .editor_tools import ROOT, TOOLS

PROGRESS_PREFIX = "editors/ci-setup:"  # the script's own progress lines (the tools' output goes to its log)


@pytest.fixture(scope="session", autouse=True)
def editor_setup(pytestconfig: pytest.Config) -> None:
    if os.environ.get("LOSS_LSP_EDITOR_SETUP") == "0":
        return
    TOOLS.mkdir(parents=True, exist_ok=True)
    terminal = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    with open(TOOLS / "pytest-setup.log", "w") as log:
        # Never raises: a failed step is recorded in setup-errors.txt and the tests report it.
        with subprocess.Popen(["bash", str(ROOT / "editors" / "ci-setup.sh")], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True) as setup:
            assert setup.stdout is not None
            for line in setup.stdout:
                log.write(line)
                if terminal is not None and capture is not None and line.startswith(PROGRESS_PREFIX):
                    with capture.global_and_fixture_disabled():  # past pytest's capture of fd 1
                        terminal.write_line(line.rstrip())
            setup.wait(timeout=1800)
