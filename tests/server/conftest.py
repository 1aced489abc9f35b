"""The server most test modules here talk to: the real one over stdio, started once per module on
that module's ``workspace`` fixture, with the default client capabilities. A module that needs
other capabilities, settings or injected faults defines its own ``client``."""

from __future__ import annotations

from pathlib import Path

import pytest_lsp

from tests.server.helpers import CONFIG, RecordingClient, capabilities, initialize


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: RecordingClient, workspace: Path):
    await initialize(lsp_client, workspace, capabilities())
    yield
    await lsp_client.shutdown_session()
