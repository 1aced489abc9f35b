"""loss-lsp.checkGradients through the server: real TensorFlow in the checker's worker, never in the server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from loss_lsp.server.gradients import availability
from tests.server.helpers import (
    CONFIG,
    RecordingClient,
    capabilities,
    copy_data,
    heavy_module,
    initialize,
    open_document,
    wait_diagnostics,
)

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not availability()[0], reason=f"gradient check not installed: {availability()[1]}"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_data(tmp_path_factory.mktemp("gradients"), "broken_losses.py")
    (root / "many_losses.py").write_text(heavy_module(60))
    return root


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: RecordingClient, workspace: Path):
    await initialize(lsp_client, workspace, capabilities(progress=True))
    yield
    await lsp_client.shutdown_session()


async def _info(client: RecordingClient) -> dict:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="loss-lsp.serverInfo"))


async def test_check_confirms_and_republishes(client: RecordingClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "broken_losses.py")
    await wait_diagnostics(client, uri, version=1)
    since = len(client.published)
    client.progress_reports.setdefault("check-1", [])  # a client-made token (no create request)
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="loss-lsp.checkGradients", arguments=[uri], work_done_token="check-1"))
    verdicts = {f["code"]: f["verdict"] for file in result["files"] for f in file["findings"]}
    assert verdicts == {"LL101": "confirmed", "LL102": "confirmed", "LL201": "confirmed"}
    assert "3 confirmed" in result["summary"]
    published = await wait_diagnostics(client, uri, since=since,
                                       where=lambda d: all(x.data.get("verdict") for x in d) and bool(d))
    for diagnostic in published.diagnostics:
        assert diagnostic.data["verdict"] == "confirmed" and diagnostic.data["evidence"]
        assert diagnostic.message.startswith("[confirmed] ")
    reports = client.progress_reports["check-1"]
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and isinstance(reports[-1], types.WorkDoneProgressEnd)
    target = next(d for d in published.diagnostics if d.code == "LL201")
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=target.range.start))
    assert hover is not None and "Gradient check: confirmed" in hover.contents.value  # type: ignore[union-attr]
    info = await _info(client)
    assert info["tensorflowImported"] is False and info["progressTokens"] == 0


async def test_verdicts_survive_an_edit_elsewhere(client: RecordingClient, workspace: Path) -> None:
    uri = (workspace / "broken_losses.py").as_uri()
    text = "# a comment above everything\n" + (workspace / "broken_losses.py").read_text()
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))
    published = await wait_diagnostics(client, uri, version=2)
    assert {d.code: d.data.get("verdict") for d in published.diagnostics} == {
        "LL101": "confirmed", "LL102": "confirmed", "LL201": "confirmed"}


async def test_check_on_save(client: RecordingClient, workspace: Path) -> None:
    path = workspace / "on_save.py"
    path.write_text("import tensorflow as tf\n\n\ndef hinge_log(y_true, y_pred):\n"
                    "    return tf.reduce_mean(tf.math.log(y_pred) * y_true)\n")
    uri = open_document(client, path)
    first = await wait_diagnostics(client, uri, version=1)
    assert [d.code for d in first.diagnostics] == ["LL201"] and "verdict" not in first.diagnostics[0].data
    # This client cannot answer workspace/configuration: the settings come with the notification.
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"lossLsp": {"checkGradientsOnSave": True}}))
    since = len(client.published)
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    published = await wait_diagnostics(client, uri, since=since,
                                       where=lambda d: bool(d) and d[0].data.get("verdict") is not None)
    assert published.diagnostics[0].data["verdict"] == "confirmed"
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"lossLsp": {}}))


async def test_cancel_stops_the_running_check(client: RecordingClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "many_losses.py")
    await wait_diagnostics(client, uri, version=1)
    client.progress_reports.setdefault("check-2", [])
    request = client.protocol.send_request(types.WORKSPACE_EXECUTE_COMMAND, types.ExecuteCommandParams(
        command="loss-lsp.checkGradients", arguments=[uri], work_done_token="check-2"), msg_id="check-to-cancel")
    for _ in range(600):  # until the check is under way
        if any(isinstance(r, types.WorkDoneProgressReport) and "checking" in (r.message or "")
               for r in client.progress_reports["check-2"]):
            break
        await asyncio.sleep(0.05)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="check-to-cancel"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wrap_future(request)
    for _ in range(600):  # pygls alone would let the command run through all 240 losses
        info = await _info(client)
        if info["gradientCheck"]["running"] == 0:
            break
        await asyncio.sleep(0.05)
    assert info["gradientCheck"]["running"] == 0
    assert info["gradientCheck"]["lastLosses"].get("cancelled", 0) > 0
    assert info["tensorflowImported"] is False
