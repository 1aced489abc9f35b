"""The VS Code extension in the real VS Code workbench: code-server driven by playwright-core
in Debian's headless Chromium, against the real server and a real TensorFlow gradient check.

vscode_e2e.mjs does what a user does (open the file, read the Problems panel, take the
quick fix from the lightbulb, run the gradient check from the palette, point the extension
at a Python without loss_lsp) and reports what it saw; screenshots land in
artifacts/editors/vscode/ (or $LOSS_LSP_ARTIFACTS/vscode).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .editor_tools import ROOT, TOOLS, artifacts_dir, copy_workspace, require, tool_env

DRIVER = Path(__file__).resolve().parent / "vscode_e2e.mjs"
FIXED_LINE = "return tf.reduce_mean(tf.abs(y_true - y_pred))"

USER_SETTINGS = {
    "files.hotExit": "off",  # else a previous run's edited buffer comes back and the fix "passes"
    "security.workspace.trust.enabled": False,  # trusted: the gradient check may run
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "workbench.welcomePage.walkthroughs.openOnInstall": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoUpdate": False,
    "extensions.autoCheckUpdates": False,
    "extensions.ignoreRecommendations": True,
    "git.enabled": False,
    "chat.commandCenter.enabled": False,
    "editor.lightbulb.enabled": "on",
    "window.restoreWindows": "none",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"code-server exited with {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"code-server did not answer {url} within {seconds} s")


def session_processes(sid: int) -> list[int]:
    """Every process of a session: code-server, its extension host, our server, the TF worker."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 of stat, the session id
            pids.append(int(entry.name))
    return pids


def stop_session(proc: subprocess.Popen) -> None:
    """Stops code-server and all its children (extension host, our server, the TF worker)."""
    sid = proc.pid  # start_new_session=True: the session id is code-server's pid
    for pid in session_processes(sid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and session_processes(sid):
        proc.poll()
        time.sleep(0.2)
    stubborn = session_processes(sid)
    for pid in stubborn:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


@pytest.fixture
def vscode_tools() -> dict[str, Path]:
    modules = TOOLS / "node_modules"
    return {
        "code_server": require(modules / ".bin" / "code-server", "code-server (npm)"),
        "playwright": require(modules / "playwright-core", "playwright-core (npm)"),
        "chromium": require(Path("/usr/bin/chromium"), "Debian's chromium (apt)"),
        "vsix": require(ROOT / "editors" / "vscode" / "loss-lsp.vsix", "the extension's .vsix (npm run package)"),
    }


def run_scenario(tmp_path: Path, tools: dict[str, Path], scenario: str, settings: dict,
                 env_changes: dict[str, str | None] | None = None) -> tuple[dict, Path]:
    """Installs the .vsix into a fresh code-server, runs the playwright driver, stops everything.

    ``settings`` go over USER_SETTINGS (``lossLsp.interpreter: None`` leaves it unset);
    ``env_changes`` over code-server's environment (None removes a variable)."""
    workspace = copy_workspace(tmp_path)
    shots = artifacts_dir(f"vscode-{scenario}")
    env = tool_env(tmp_path)
    for name, value in (env_changes or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    user_data, extensions = tmp_path / "user-data", tmp_path / "extensions"
    settings_file = user_data / "User" / "settings.json"
    settings_file.parent.mkdir(parents=True)
    chosen = {**USER_SETTINGS, "lossLsp.interpreter": sys.executable, **settings}
    settings_file.write_text(json.dumps({k: v for k, v in chosen.items() if v is not None}))
    # An interpreter that does not exist, for the "cannot start" notification.
    broken = tmp_path / "no-such-venv"
    config = tmp_path / "code-server.yaml"
    config.write_text("")

    code_server = str(tools["code_server"])
    common = ["--config", str(config), "--user-data-dir", str(user_data), "--extensions-dir", str(extensions)]
    install = subprocess.run([code_server, *common, "--install-extension", str(tools["vsix"])],
                             env=env, capture_output=True, text=True, timeout=120)
    assert install.returncode == 0 and "successfully installed" in install.stdout, install.stdout + install.stderr

    port = free_port()
    report_path = tmp_path / "vscode-report.json"
    with open(shots / "code-server.log", "w") as log:
        proc = subprocess.Popen(
            [code_server, *common, "--bind-addr", f"127.0.0.1:{port}", "--auth", "none", "--disable-telemetry",
             "--disable-update-check", "--disable-getting-started-override", "--ignore-last-opened", str(workspace)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", proc, 60)
            driver = subprocess.run(
                ["node", str(DRIVER)],
                env={
                    **env,
                    "SCENARIO": scenario,
                    "URL": f"http://127.0.0.1:{port}/?folder={workspace}",
                    "PLAYWRIGHT": str(tools["playwright"]),
                    "CHROMIUM": str(tools["chromium"]),
                    "BROWSER_PROFILE": str(tmp_path / "chromium-profile"),
                    "SCREENSHOTS": str(shots),
                    "REPORT": str(report_path),
                    "BROKEN_PYTHON": str(broken / "bin" / "python"),
                },
                capture_output=True, text=True, timeout=480, stdin=subprocess.DEVNULL)
        finally:
            stop_session(proc)
    assert not session_processes(proc.pid), "code-server left processes behind"
    (shots / "driver-output.txt").write_text(driver.stdout + driver.stderr)
    # The extension's output channel as code-server wrote it (what "Loss LSP: Show output" shows).
    logs = sorted(user_data.glob("logs/*/exthost*/loss-lsp.loss-lsp/Loss LSP.log"))
    output_log = "".join(log.read_text() for log in logs)
    (shots / "loss-lsp-output.log").write_text(output_log)
    if not report_path.is_file():
        pytest.fail(f"the playwright driver exited {driver.returncode} without a report:\n{driver.stderr[-4000:]}")
    report = json.loads(report_path.read_text())
    (shots / "report.json").write_text(json.dumps(report, indent=1))
    failed = [s for s in report["steps"] if not s["ok"]]
    assert report["ok"] and driver.returncode == 0, json.dumps(
        {"error": report.get("error"), "failed": failed, "seen": report["seen"]}, indent=1)[:6000]
    report["broken_python"] = str(broken / "bin" / "python")  # what BROKEN_PYTHON named
    report["output_log"] = output_log
    return report, workspace


def assert_initial_problems(report: dict) -> None:
    # The Problems panel lists the three findings at their lines ("... loss-lspLL101[Ln 8, Col 12]").
    rows = report["problems_initial"]
    for code, line in (("LL101", 8), ("LL201", 12), ("LL102", 16)):
        assert any(f"{code}[Ln {line}," in row for row in rows), (code, line, rows)
    assert report["squiggles"] >= 3


def test_vscode_extension_in_code_server(tmp_path: Path, vscode_tools: dict[str, Path]) -> None:
    report, workspace = run_scenario(tmp_path, vscode_tools, "trusted", {})
    assert_initial_problems(report)
    assert "Loss LSP" in report["seen"]["status"][-1]["value"]

    # The lightbulb's quick fix rewrote the line and cleared its diagnostic, leaving the others.
    assert "tf.reduce_mean" in report["quickfix_chosen"], report["quickfix_menu"]
    assert FIXED_LINE in report["editor_after_fix"]
    after_fix = " ".join(report["problems_after_fix"])
    assert "LL101" not in after_fix and "LL201" in after_fix and "LL102" in after_fix

    # The gradient check showed its progress (notification and status bar) and its verdicts.
    progress = [p["value"] for p in report["seen"]["progress"]]
    assert any("checking gradients in this file" in p for p in progress), progress
    status = [s["value"] for s in report["seen"]["status"]]
    assert any("gradient check" in s and "%" in s for s in status), status
    assert report["gradient_summary"].startswith("Loss LSP: gradient check: 2 confirmed"), report["gradient_summary"]
    for code in ("LL201", "LL102"):
        assert any(code in row and "[confirmed] " in row
                   for row in report["problems_after_check"]), (code, report["problems_after_check"])
    assert FIXED_LINE in (workspace / "train.py").read_text()  # the command saved the file first

    assert report["cursor_summary"] == "Loss LSP: gradient check: 1 confirmed in 1 file(s)"

    # lossLsp.interpreter set to a Python that does not exist, in the Settings editor: a notification
    # names it, where it came from and why it failed (and no install command for a package that is
    # not on PyPI); the status bar shows the error.
    python = report["broken_python"]
    notification = report["missing_server_notification"]
    assert f"{python} (from lossLsp.interpreter): not found" in notification, notification
    assert "pip install" not in notification
    # ... and nothing else: the restart does not surface the old client's failed notification.
    others = report["notifications_after_missing"]
    assert not [n for n in others if "failed" in n], others
    assert "error" in report["status_after_missing"]

    # The hover over a confirmed finding shows the check's evidence.
    hover = report["hover"]
    assert "LL102" in hover and "Why it breaks training" in hover, hover
    assert "Gradient check: confirmed" in hover and "gradient is None" in hover, hover


def test_vscode_bare_virtual_env_and_notebook(tmp_path: Path, vscode_tools: dict[str, Path]) -> None:
    """A newcomer's setup: no settings, a virtual environment named only by $VIRTUAL_ENV, without
    loss_lsp or any of its dependencies in it: the server bundled in the .vsix runs with it. Then a
    Jupyter notebook in the built-in notebook editor (no kernel): the loss is defined in one cell and
    its imports are in another; the squiggle is in the cell and the quick fix rewrites the cell."""
    venv = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    lacks = subprocess.run([str(venv / "bin" / "python"), "-c", "import loss_lsp"], capture_output=True,
                           cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert lacks.returncode != 0  # the venv really has no loss_lsp
    # No lossLsp.interpreter; the protocol trace goes to the log kept in the artifacts.
    settings = {"lossLsp.interpreter": None, "lossLsp.trace.server": "messages"}
    report, _ = run_scenario(tmp_path, vscode_tools, "venv", settings, {"VIRTUAL_ENV": str(venv), "PYTHONPATH": None})
    assert_initial_problems(report)
    output = report["output_log"]
    assert f"(from $VIRTUAL_ENV): {venv / 'bin' / 'python'}" in output, output
    assert "/bundled/libs" in output and "no TensorFlow there" in output, output

    assert any("LL101" in row for row in report["notebook_problems"]), report["notebook_problems"]
    assert report["notebook_squiggles"] >= 1
    # The gradient check run from the cell judged the notebook's loss (not run: no TensorFlow in the venv).
    summary = report["notebook_gradient_summary"]
    assert summary.startswith("Loss LSP: gradient check: 1 not run"), summary
    assert any("LL101" in row and row.startswith("[check not run]") for row in report["notebook_problems_after_check"])
    assert "tf.reduce_mean" in report["notebook_quickfix_chosen"], report["notebook_quickfix_menu"]
    assert any(FIXED_LINE in cell for cell in report["notebook_cells_after_fix"]), report["notebook_cells_after_fix"]
    assert not any("LL101" in row for row in report["notebook_problems_after_fix"])


def test_vscode_untrusted_workspace_is_restricted(tmp_path: Path, vscode_tools: dict[str, Path]) -> None:
    """Workspace trust on, and "No, I don't trust the authors" in its dialog."""
    report, _ = run_scenario(tmp_path, vscode_tools, "untrusted", {"security.workspace.trust.enabled": True})
    assert_initial_problems(report)  # the static checks work in restricted mode
    assert "restricted" in report["status_untrusted"]
    palette = report["palette_untrusted"]
    assert any("Restart server" in row for row in palette), palette
    assert not any("Check gradients" in row for row in palette), palette
    # What the server itself reports (loss-lsp.serverInfo, logged in the output channel).
    assert "trusted: false" in report["output_untrusted"] and "trusted: true" not in report["output_untrusted"]

    # "Trust" in Manage Workspace Trust: a new server, told trusted: true.
    assert "restricted" not in report["status_after_trust"]
    assert "trusted: true" in report["output_after_trust"]
