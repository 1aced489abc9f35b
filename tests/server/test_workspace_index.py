"""The workspace index: a loss defined in losses.py and compiled in train.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types

from tests.server.helpers import (
    CONFIG,
    RecordingClient,
    capabilities,
    change_document,
    copy_data,
    initialize,
    open_document,
    wait_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_data(tmp_path_factory.mktemp("index"), "project") / "project"


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: RecordingClient, workspace: Path):
    await initialize(lsp_client, workspace, capabilities(progress=True))
    yield
    await lsp_client.shutdown_session()


def _related_to(diagnostic: types.Diagnostic, path: Path) -> list[types.DiagnosticRelatedInformation]:
    return [r for r in diagnostic.related_information or [] if r.location.uri == path.as_uri()]


async def test_index_reports_progress_and_frees_its_token(client: RecordingClient) -> None:
    async def finished() -> bool:
        return any(report and isinstance(report[-1], types.WorkDoneProgressEnd)
                   for report in client.progress_reports.values())

    for _ in range(600):
        if await finished():
            break
        await asyncio.sleep(0.05)
    (reports,) = [r for r in client.progress_reports.values() if r]
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and "index" in reports[0].title
    assert isinstance(reports[-1], types.WorkDoneProgressEnd) and "2 files" in (reports[-1].message or "")
    info = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="loss-lsp.serverInfo"))
    assert info["indexedFiles"] == 2
    assert info["progressTokens"] == 0  # pygls would keep the finished token forever


async def test_loss_defined_here_compiled_there(client: RecordingClient, workspace: Path) -> None:
    losses, train = workspace / "losses.py", workspace / "train.py"
    uri = open_document(client, losses)
    published = await wait_diagnostics(
        client, uri, where=lambda d: bool(d) and all(_related_to(x, train) for x in d))
    compile_line = next(n for n, line in enumerate(train.read_text().split("\n")) if "model.compile" in line)
    for diagnostic in published.diagnostics:
        (related,) = _related_to(diagnostic, train)
        assert related.location.range.start.line == compile_line
        assert "compiled here" in related.message


async def test_saving_the_training_script_updates_the_other_file(client: RecordingClient, workspace: Path) -> None:
    losses, train = workspace / "losses.py", workspace / "train.py"
    losses_uri = losses.as_uri()
    train_uri = open_document(client, train)
    text = train.read_text().replace("model.compile(optimizer=\"adam\", loss=rmse)",
                                     "model.compile(optimizer=\"adam\", loss=\"mse\")")
    since = len(client.published)
    change_document(client, train_uri, 2, text)
    train.write_text(text)
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=train_uri)))
    published = await wait_diagnostics(
        client, losses_uri, since=since, where=lambda d: bool(d) and not any(_related_to(x, train) for x in d))
    assert {d.code for d in published.diagnostics} == {"LL101"}


async def test_watched_file_change_updates_the_index(client: RecordingClient, workspace: Path) -> None:
    losses_uri = (workspace / "losses.py").as_uri()
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=(workspace / "train.py").as_uri())))
    other = workspace / "train_again.py"
    other.write_text("from tensorflow import keras\nfrom losses import rmse\n\n"
                     "net = keras.Sequential([keras.layers.Dense(1)])\nnet.compile(loss=rmse)\n")
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=other.as_uri(), type=types.FileChangeType.Created)]))
    published = await wait_diagnostics(
        client, losses_uri, where=lambda d: bool(d) and all(_related_to(x, other) for x in d))
    assert published.diagnostics
    other.unlink()
    since = len(client.published)
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=other.as_uri(), type=types.FileChangeType.Deleted)]))
    await wait_diagnostics(client, losses_uri, since=since,
                           where=lambda d: bool(d) and not any(_related_to(x, other) for x in d))
