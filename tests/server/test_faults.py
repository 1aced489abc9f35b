"""A rule that raises and a missing gradient check: the server logs, keeps the rest, stays up."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.server.helpers import (
    RecordingClient,
    capabilities,
    codes,
    copy_data,
    faulty_config,
    initialize,
    open_document,
    wait_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

FAULTY = faulty_config(LOSS_LSP_TEST_BROKEN_RULE="LL102", LOSS_LSP_TEST_NO_GRADCHECK="1")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_data(tmp_path_factory.mktemp("faults"), "broken_losses.py")


@pytest_lsp.fixture(config=FAULTY, scope="module")
async def client(lsp_client: RecordingClient, workspace: Path):
    await initialize(lsp_client, workspace, capabilities())
    yield
    await lsp_client.shutdown_session()


async def test_a_failing_rule_is_logged_and_the_others_still_report(client: RecordingClient,
                                                                    workspace: Path) -> None:
    uri = open_document(client, workspace / "broken_losses.py")
    published = await wait_diagnostics(client, uri, version=1)
    assert codes(list(published.diagnostics)) == ["LL101", "LL201"]  # LL102 crashed, the rest is there
    errors = [m.message for m in client.log_messages if m.type == types.MessageType.Error]
    assert any("LL102" in m and "injected fault" in m for m in errors), errors
    text = (workspace / "broken_losses.py").read_text().replace("np.mean(", "tf.reduce_mean(")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))
    after = await wait_diagnostics(client, uri, version=2)
    assert codes(list(after.diagnostics)) == ["LL201"]


async def test_check_gradients_without_the_checker_is_a_clear_error(client: RecordingClient,
                                                                    workspace: Path) -> None:
    info = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="loss-lsp.serverInfo"))
    assert info["gradientCheck"]["available"] is False
    with pytest.raises(JsonRpcException) as raised:
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="loss-lsp.checkGradients", arguments=[(workspace / "broken_losses.py").as_uri()]))
    assert raised.value.code == -32803
    assert "unavailable" in raised.value.message and "not installed" in raised.value.message
