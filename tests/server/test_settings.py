"""Settings from pyproject.toml, initializationOptions, workspace/configuration and their changes."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types

from tests.server.helpers import (
    CONFIG,
    RecordingClient,
    capabilities,
    copy_data,
    initialize,
    open_document,
    wait_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

PYPROJECT = '[tool.loss-lsp]\nseverity = { LL102 = "hint" }\n'


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_data(tmp_path_factory.mktemp("settings"), "broken_losses.py")
    (root / "pyproject.toml").write_text(PYPROJECT)
    return root


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: RecordingClient, workspace: Path):
    lsp_client.set_configuration({}, section="lossLsp")
    await initialize(lsp_client, workspace, capabilities(configuration=True),
                     options={"lossLsp": {"ignore": ["LL201"]}})
    yield
    await lsp_client.shutdown_session()


def _severities(diagnostics: list[types.Diagnostic]) -> dict[str, types.DiagnosticSeverity | None]:
    return {str(d.code): d.severity for d in diagnostics}


def _settings_changed(client: RecordingClient, settings: dict) -> None:
    client.set_configuration(settings, section="lossLsp")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))


async def test_pyproject_and_initialization_options_apply(client: RecordingClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "broken_losses.py")
    published = await wait_diagnostics(client, uri, version=1)
    severities = _severities(list(published.diagnostics))
    assert "LL201" not in severities  # ignored by initializationOptions
    assert severities["LL102"] == types.DiagnosticSeverity.Hint  # pyproject.toml
    assert severities["LL101"] == types.DiagnosticSeverity.Error  # the rule's default
    info = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="loss-lsp.serverInfo"))
    assert info["settings"][str(workspace)]["ignore"] == ["LL201"]


async def test_configuration_change_changes_severity(client: RecordingClient, workspace: Path) -> None:
    uri = (workspace / "broken_losses.py").as_uri()
    since = len(client.published)
    _settings_changed(client, {"severity": {"LL101": "warning", "LL102": "hint"}})
    published = await wait_diagnostics(
        client, uri, since=since, where=lambda d: _severities(d).get("LL101") == types.DiagnosticSeverity.Warning)
    assert _severities(list(published.diagnostics))["LL102"] == types.DiagnosticSeverity.Hint


async def test_bad_values_are_reported_and_defaults_kept(client: RecordingClient, workspace: Path) -> None:
    uri = (workspace / "broken_losses.py").as_uri()
    logged, since = len(client.log_messages), len(client.published)
    _settings_changed(client, {"severity": {"LL101": "fatal"}, "gradientCheck": {"timeout": -3}, "colour": "red"})
    published = await wait_diagnostics(
        client, uri, since=since, where=lambda d: _severities(d).get("LL101") == types.DiagnosticSeverity.Error)
    # The bad severity table is dropped as a whole: pyproject's value is back for LL102.
    assert _severities(list(published.diagnostics))["LL102"] == types.DiagnosticSeverity.Hint
    warnings = [m.message for m in client.log_messages[logged:] if m.type == types.MessageType.Warning]
    assert any("severity" in m and "LL101" in m for m in warnings), warnings
    assert any("gradientCheck.timeout" in m and "positive" in m for m in warnings), warnings
    assert any("colour" in m for m in warnings), warnings
    info = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="loss-lsp.serverInfo"))
    assert info["settings"][str(workspace)]["gradient_timeout"] == 20.0


async def test_pyproject_change_is_picked_up(client: RecordingClient, workspace: Path) -> None:
    uri = (workspace / "broken_losses.py").as_uri()
    _settings_changed(client, {})
    await wait_diagnostics(client, uri, where=lambda d: _severities(d).get("LL102") == types.DiagnosticSeverity.Hint)
    since = len(client.published)
    pyproject = workspace / "pyproject.toml"
    pyproject.write_text('[tool.loss-lsp]\nseverity = { LL101 = "info", LL102 = "warning" }\n')
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=pyproject.as_uri(), type=types.FileChangeType.Changed)]))
    published = await wait_diagnostics(
        client, uri, since=since, where=lambda d: _severities(d).get("LL102") == types.DiagnosticSeverity.Warning)
    assert _severities(list(published.diagnostics)) == {"LL101": types.DiagnosticSeverity.Information,
                                                        "LL102": types.DiagnosticSeverity.Warning}


async def test_each_workspace_folder_has_its_own_settings(client: RecordingClient, workspace: Path,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    other = copy_data(tmp_path_factory.mktemp("second-folder"), "broken_losses.py")
    (other / "pyproject.toml").write_text('[tool.loss-lsp]\nseverity = { LL101 = "hint" }\n')
    client.workspace_did_change_workspace_folders(types.DidChangeWorkspaceFoldersParams(
        event=types.WorkspaceFoldersChangeEvent(added=[types.WorkspaceFolder(uri=other.as_uri(), name="second")],
                                                removed=[])))
    uri = open_document(client, other / "broken_losses.py")
    published = await wait_diagnostics(client, uri, version=1)
    assert _severities(list(published.diagnostics))["LL101"] == types.DiagnosticSeverity.Hint
    info = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="loss-lsp.serverInfo"))
    assert set(info["workspaceFolders"]) == {str(workspace), str(other)}
    assert info["settings"][str(other)]["severity"] == {"LL101": "hint"}
    assert info["settings"][str(workspace)]["severity"] == {"LL101": "info", "LL102": "warning"}
