"""A client with pull diagnostics, UTF-8 positions and lazily resolved code actions."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.server.helpers import (
    CONFIG,
    RecordingClient,
    apply_text_edits,
    capabilities,
    change_document,
    codes,
    copy_data,
    edits_of,
    initialize,
    open_document,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_data(tmp_path_factory.mktemp("pull"), "broken_losses.py", "unicode_columns.py", "project")


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: RecordingClient, workspace: Path):
    result = await initialize(lsp_client, workspace,
                              capabilities(pull=True, encodings=["utf-16", "utf-8"], lazy_actions=True))
    lsp_client.initialize_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


async def _pull(client: RecordingClient, uri: str, previous: str | None = None) -> types.DocumentDiagnosticReport:
    return await client.text_document_diagnostic_async(types.DocumentDiagnosticParams(
        text_document=types.TextDocumentIdentifier(uri=uri), previous_result_id=previous))


async def test_utf8_is_negotiated(client: RecordingClient) -> None:
    result = client.initialize_result  # type: ignore[attr-defined]
    assert result.capabilities.position_encoding == types.PositionEncodingKind.Utf8
    provider = result.capabilities.diagnostic_provider
    assert provider is not None and provider.workspace_diagnostics and provider.identifier == "loss-lsp"


async def test_pull_document_diagnostics(client: RecordingClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "broken_losses.py")
    report = await _pull(client, uri)
    assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
    assert codes(list(report.items)) == ["LL101", "LL102", "LL201"]
    assert report.result_id
    again = await _pull(client, uri, previous=report.result_id)
    assert isinstance(again, types.RelatedUnchangedDocumentDiagnosticReport)
    assert again.result_id == report.result_id
    assert client.published == []  # a pull client gets no pushed diagnostics
    text = (workspace / "broken_losses.py").read_text().replace("y_pred.numpy()", "y_pred")
    change_document(client, uri, 2, text)
    changed = await _pull(client, uri, previous=report.result_id)
    assert isinstance(changed, types.RelatedFullDocumentDiagnosticReport)
    assert codes(list(changed.items)) == ["LL101", "LL201"]


async def test_utf8_columns(client: RecordingClient, workspace: Path) -> None:
    path = workspace / "unicode_columns.py"
    uri = open_document(client, path)
    report = await _pull(client, uri)
    (diagnostic,) = report.items
    needle = "np.mean(tf.square(y_true - y_pred))"
    line = next(line for line in path.read_text().split("\n") if needle in line)
    expected = len(line[:line.index(needle)].encode("utf-8"))
    assert diagnostic.range.start.character == expected
    assert diagnostic.range.end.character == expected + len(needle)
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=diagnostic.range.start.line, character=expected + 1)))
    assert hover is not None and "LL101" in hover.contents.value  # type: ignore[union-attr]
    # A column before the emoji (in UTF-8 bytes) is not on the flagged expression.
    before = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=diagnostic.range.start.line, character=expected - 6)))
    assert before is None


async def test_workspace_diagnostics_cover_closed_files(client: RecordingClient, workspace: Path) -> None:
    report = await client.workspace_diagnostic_async(types.WorkspaceDiagnosticParams(previous_result_ids=[]))
    by_uri = {item.uri: item for item in report.items}
    losses = (workspace / "project" / "losses.py").as_uri()
    assert losses in by_uri  # never opened: analysed from disk
    assert codes(list(by_uri[losses].items)) == ["LL101", "LL101"]
    assert by_uri[losses].version is None
    opened = (workspace / "broken_losses.py").as_uri()
    assert by_uri[opened].version == 2
    previous = [types.PreviousResultId(uri=item.uri, value=item.result_id) for item in report.items
                if item.result_id]
    again = await client.workspace_diagnostic_async(types.WorkspaceDiagnosticParams(previous_result_ids=previous))
    assert all(isinstance(item, types.WorkspaceUnchangedDocumentDiagnosticReport) for item in again.items)


async def test_code_actions_are_resolved_lazily(client: RecordingClient, workspace: Path) -> None:
    path = workspace / "broken_losses.py"
    uri = path.as_uri()
    text = path.read_text().replace("y_pred.numpy()", "y_pred")  # version 2, as the earlier test left it
    report = await _pull(client, uri)
    target = next(d for d in report.items if d.code == "LL201")
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=target.range,
        context=types.CodeActionContext(diagnostics=[target])))
    assert actions and all(a.edit is None and a.data for a in actions)  # nothing computed yet
    fix = next(a for a in actions if a.is_preferred)
    resolved = await client.code_action_resolve_async(fix)
    fixed = apply_text_edits(text, edits_of(resolved.edit, uri))  # UTF-8 columns = UTF-16 here: ASCII line
    assert "tf.math.log(tf.clip_by_value(y_pred" in fixed
    change_document(client, uri, 3, fixed)
    with pytest.raises(JsonRpcException) as stale:  # offered for version 2, the document is at 3 now
        await client.code_action_resolve_async(next(a for a in actions if not a.is_preferred))
    assert stale.value.code == -32801  # ContentModified
    after = await _pull(client, uri)
    assert codes(list(after.items)) == ["LL101"]
