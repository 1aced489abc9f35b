"""A server whose Python has no TensorFlow says so in serverInfo, with what to do about it.

(The check itself still runs there and marks every finding "not run": the VS Code bare-venv
end-to-end test covers that, with a worker that really lacks TensorFlow.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types

from tests.server.helpers import RecordingClient, capabilities, copy_data, faulty_config, initialize, server_info

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_data(tmp_path_factory.mktemp("no_tf"), "broken_losses.py")


@pytest_lsp.fixture(config=faulty_config(LOSS_LSP_TEST_NO_TENSORFLOW="1"), scope="module")
async def client(lsp_client: RecordingClient, workspace: Path):
    await initialize(lsp_client, workspace, capabilities())
    yield
    await lsp_client.shutdown_session()


async def test_server_info_says_tensorflow_is_missing(client: RecordingClient) -> None:
    check = (await server_info(client))["gradientCheck"]
    assert check["available"] is False
    assert "TensorFlow is not installed" in check["reason"] and "gradientCheck.interpreter" in check["reason"]


async def test_a_missing_configured_interpreter_is_named(client: RecordingClient) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"lossLsp": {"gradientCheck": {"interpreter": "/nonexistent/bin/python"}}}))
    for _ in range(50):
        check = (await server_info(client))["gradientCheck"]
        if "/nonexistent/bin/python" in check["reason"]:
            break
        await asyncio.sleep(0.1)
    assert check["available"] is False and "not an executable file" in check["reason"]
