"""loss-lsp.checkGradients through the real server on training code: the TF1 graph script and a tape
block are lifted into (y_true, y_pred) functions, run in the worker, and their verdicts name the
lines they were lifted from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lsprotocol import types

from loss_lsp.server.gradients import availability
from tests.expectations import FIXTURES
from tests.server.helpers import RecordingClient, open_document, wait_diagnostics

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not availability()[0], reason=f"gradient check not installed: {availability()[1]}"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lifted")
    for name in ("tf1_graph_buggy.py", "each_sink.py"):
        shutil.copy(FIXTURES / "sinks" / name, root / name)
    return root


async def test_graph_code_is_confirmed_through_the_server(client: RecordingClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "tf1_graph_buggy.py")
    await wait_diagnostics(client, uri, version=1)
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="loss-lsp.checkGradients", arguments=[uri]))
    [finding] = [f for file in result["files"] for f in file["findings"]]
    assert finding["code"] == "LL205" and finding["verdict"] == "confirmed", finding
    assert "lifted lines 15-17 of tf1_graph_buggy.py (`minimize` at line 17)" in finding["evidence"]
    assert finding["span"][0] == 15  # still on the user's `tf.log(y_conv)` line


async def test_tape_blocks_are_confirmed_through_the_server(client: RecordingClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "each_sink.py")
    await wait_diagnostics(client, uri, version=1)
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="loss-lsp.checkGradients", arguments=[uri]))
    verdicts = {f["loss"]: f["verdict"] for file in result["files"] for f in file["findings"] if f["code"] == "LL201"}
    assert verdicts["by_tape"] == verdicts["ByTrainStep.train_step"] == verdicts["ByComputeLoss.compute_loss"] \
        == "confirmed", verdicts
