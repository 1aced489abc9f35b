"""An engine bug on one loss, or on a whole file, through the real server: the other findings are still
published, the error reaches the client as window/logMessage, and no request answers -32603.

The faults are injected into the server process by tests/server/faults/sitecustomize.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types

from tests.server.helpers import (
    RecordingClient,
    capabilities,
    change_document,
    codes,
    copy_data,
    faulty_config,
    initialize,
    open_document,
    wait_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

MARKER = "BREAK_THE_ENGINE"
CONFIG = faulty_config(LOSS_LSP_TEST_BROKEN_LOSS="detached_mae", LOSS_LSP_TEST_BROKEN_FILE=MARKER)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_data(tmp_path_factory.mktemp("engine-faults"), "broken_losses.py")


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: RecordingClient, workspace: Path):
    await initialize(lsp_client, workspace, capabilities())
    yield
    await lsp_client.shutdown_session()


def errors_logged(client: RecordingClient) -> list[str]:
    return [m.message for m in client.log_messages if m.type == types.MessageType.Error]


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.split("\n")) if needle in line)


async def test_an_engine_error_on_one_loss_keeps_the_other_losses_findings(client: RecordingClient,
                                                                           workspace: Path) -> None:
    path = workspace / "broken_losses.py"
    uri = open_document(client, path)
    published = await wait_diagnostics(client, uri, version=1)
    # detached_mae (LL102) could not be analysed; numpy_mse (LL101) and cross_entropy (LL201) still are.
    assert codes(list(published.diagnostics)) == ["LL101", "LL201"]
    assert any("internal error" in m and "detached_mae" in m for m in errors_logged(client)), errors_logged(client)
    text = path.read_text()
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line_of(text, "np.mean("), character=12)))
    assert hover is not None and "LL101" in str(hover.contents)


async def test_an_engine_error_on_the_whole_file_is_logged_and_requests_still_answer(
        client: RecordingClient, workspace: Path) -> None:
    path = workspace / "whole_file.py"
    good = (workspace / "broken_losses.py").read_text()
    path.write_text(good)
    uri = open_document(client, path, text=good + f"# {MARKER}\n")
    published = await wait_diagnostics(client, uri, version=1)
    assert list(published.diagnostics) == []  # nothing the engine could stand behind
    assert any("internal error" in m and "whole_file.py" in m for m in errors_logged(client))
    at = types.Position(line=line_of(good, "np.mean("), character=12)
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=at))  # not -32603
    assert hover is None
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=types.Range(start=at, end=at),
        context=types.CodeActionContext(diagnostics=[])))
    assert not [a for a in actions or [] if getattr(a, "kind", None) == types.CodeActionKind.QuickFix]
    change_document(client, uri, 2, good)  # the fault is gone with the marker: findings come back
    after = await wait_diagnostics(client, uri, version=2)
    assert codes(list(after.diagnostics)) == ["LL101", "LL201"]
