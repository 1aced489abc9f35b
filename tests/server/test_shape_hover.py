"""Through the real server: issue 12's newcomer example is flagged, and hovering y_true / y_pred shows the
shapes the training script gives them and where they come from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lsprotocol import types

from tests.expectations import FIXTURES
from tests.server.helpers import RecordingClient, open_document, wait_diagnostics

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    for name in ("newcomer.py", "newcomer_reshaped.py"):
        shutil.copy(FIXTURES / "shapes" / name, root / name)
    return root


async def _hover(client: RecordingClient, uri: str, text: str, needle: str, word: str) -> str:
    line = next(n for n, content in enumerate(text.split("\n")) if needle in content)
    column = text.split("\n")[line].index(word) + 1
    result = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=column)))
    return result.contents.value if result is not None else ""  # type: ignore[union-attr]


async def test_newcomer_example_is_flagged_and_hover_shows_the_program_shapes(client: RecordingClient,
                                                                             workspace: Path) -> None:
    path = workspace / "newcomer.py"
    text = path.read_text()
    uri = open_document(client, path)
    published = await wait_diagnostics(client, uri, version=1)
    assert [d.code for d in published.diagnostics] == ["LL301"]
    labels = await _hover(client, uri, text, "def call(self, y_true, y_pred)", "y_true")
    assert "`y_true` (batch,)" in labels and "`y = x.sum(axis=1)`, line 14" in labels
    predictions = await _hover(client, uri, text, "def call(self, y_true, y_pred)", "y_pred")
    assert "`y_pred` (batch, 1) linear output" in predictions
    flagged = await _hover(client, uri, text, "tf.square(y_true - y_pred)", "y_true")
    assert "LL301" in flagged and "`y_true` (batch,)" in flagged  # the finding and the shape together
    assert await _hover(client, uri, text, "x = np.random.rand", "x") == ""


async def test_corrected_example_is_quiet_and_hover_shows_the_column(client: RecordingClient,
                                                                    workspace: Path) -> None:
    path = workspace / "newcomer_reshaped.py"
    text = path.read_text()
    uri = open_document(client, path)
    published = await wait_diagnostics(client, uri, version=1)
    assert list(published.diagnostics) == []
    labels = await _hover(client, uri, text, "def call(self, y_true, y_pred)", "y_true")
    assert "`y_true` (batch, 1)" in labels and "reshape(-1, 1)" in labels
