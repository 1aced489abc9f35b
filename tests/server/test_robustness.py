"""Rapid edits, cancellation, bad documents and the pygls bookkeeping leaks, on one server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled

from tests.server.helpers import (
    RecordingClient,
    change_document,
    codes,
    copy_data,
    heavy_module,
    open_document,
    server_info,
    wait_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROBE = "def probe_loss(y_true, y_pred):\n    return tf.reduce_mean({})\n\n\nmodel.compile(loss=probe_loss)\n"


def with_probe(base: str, version: int) -> str:
    """Odd versions have a detached tensor in probe_loss (LL102), even versions do not."""
    return base + PROBE.format("y_pred.numpy()" if version % 2 else "y_pred")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_data(tmp_path_factory.mktemp("robust"), "broken_losses.py")


async def test_server_info_and_no_tensorflow(client: RecordingClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "broken_losses.py")
    await wait_diagnostics(client, uri, version=1)
    info = await server_info(client)
    assert info["name"] == "loss-lsp" and info["version"]
    assert info["positionEncoding"] == "utf-16" and info["diagnostics"] == "push"
    assert info["workspaceFolders"] == [str(workspace)]
    assert info["tensorflowImported"] is False  # the server process never imports TensorFlow


async def test_stale_results_are_never_published(client: RecordingClient, workspace: Path) -> None:
    path = workspace / "heavy.py"
    base = heavy_module()
    path.write_text(with_probe(base, 1))
    uri = open_document(client, path)
    await wait_diagnostics(client, uri, version=1)
    since = len(client.published)
    last = 31
    for version in range(2, last + 1):  # sent back to back, faster than one analysis
        change_document(client, uri, version, with_probe(base, version))
    await wait_diagnostics(client, uri, version=last, since=since)
    published = [p for p in client.published[since:] if p.uri == uri]
    versions = [p.version for p in published]
    assert versions == sorted(set(versions)) and versions[-1] == last
    assert len(versions) < last - 1  # rapid edits were coalesced
    probe_line = with_probe(base, 1).split("\n").index("    return tf.reduce_mean(y_pred.numpy())")
    for params in published:
        on_probe = [d for d in params.diagnostics if d.range.start.line == probe_line and d.code == "LL102"]
        assert bool(on_probe) == bool(params.version % 2), params.version
    assert (await server_info(client))["droppedStaleResults"] >= 1


async def test_cancel_request_is_honoured(client: RecordingClient, workspace: Path) -> None:
    path = workspace / "heavy.py"
    uri = path.as_uri()
    renamed = heavy_module().replace("_mse", "_mse_renamed")  # every block changes: a full analysis
    change_document(client, uri, 40, with_probe(renamed, 40))
    # send_request sends at once (the client's send_request_async only sends when awaited)
    request = client.protocol.send_request(types.TEXT_DOCUMENT_HOVER, types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=7, character=12)),
        msg_id="hover-to-cancel")
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="hover-to-cancel"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wrap_future(request)
    await wait_diagnostics(client, uri, version=40)  # the analysis itself went on and was published


async def test_futures_and_progress_tokens_do_not_leak(client: RecordingClient, workspace: Path) -> None:
    uri = (workspace / "broken_losses.py").as_uri()
    text = (workspace / "broken_losses.py").read_text()
    before = await server_info(client)
    for version in range(2, 302):
        change_document(client, uri, version, text + f"\n# edit {version}\n")
    await wait_diagnostics(client, uri, version=301)
    after = await server_info(client)
    # pygls 2.1.1 keeps one future per didChange in protocol._request_futures: 300 here.
    assert after["pendingFutures"] <= before["pendingFutures"] + 2
    assert after["progressTokens"] == 0


async def test_syntax_error_keeps_other_findings(client: RecordingClient, workspace: Path) -> None:
    text = (workspace / "broken_losses.py").read_text().replace(
        "def plain_mse(y_true, y_pred):", "def half_typed(y_true, y_pred:\n    return (\n\n\ndef plain_mse(y_true, y_pred):")
    logged = len(client.log_messages)
    uri = open_document(client, workspace / "typing.py", text)
    published = await wait_diagnostics(client, uri, version=1)
    assert codes(list(published.diagnostics)) == ["LL101", "LL102", "LL201"]
    assert any("syntax error" in m.message for m in client.log_messages[logged:])


async def test_non_python_document_gets_no_diagnostics(client: RecordingClient, workspace: Path) -> None:
    text = "np.mean(y_pred) and y_pred.numpy() in prose\n"
    uri = open_document(client, workspace / "notes.txt", text, language_id="plaintext")
    published = await wait_diagnostics(client, uri, version=1)
    assert list(published.diagnostics) == []


async def test_ten_megabyte_file_is_refused_politely(client: RecordingClient, workspace: Path) -> None:
    logged = len(client.log_messages)
    text = "def f(y_true, y_pred):\n    return np.mean(y_pred)\n" * 220_000  # ~10 MB
    uri = open_document(client, workspace / "huge.py", text)
    published = await wait_diagnostics(client, uri, version=1)
    assert list(published.diagnostics) == []
    assert any("too large" in m.message for m in client.log_messages[logged:])
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    assert (await server_info(client))["name"] == "loss-lsp"  # still up


async def test_unknown_command_arguments_are_rejected(client: RecordingClient, workspace: Path) -> None:
    with pytest.raises(JsonRpcException):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="loss-lsp.checkGradients", arguments=[42]))
    assert (await server_info(client))["name"] == "loss-lsp"
