"""``loss-lsp serve --tcp``: the same server over a socket."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

from tests.server.helpers import (
    capabilities,
    codes,
    copy_data,
    initialize,
    make_client,
    open_document,
    wait_diagnostics,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_tcp_transport(tmp_path: Path) -> None:
    root = copy_data(tmp_path, "broken_losses.py")
    port = _free_port()
    log_file = tmp_path / "server.log"
    server = await asyncio.create_subprocess_exec(sys.executable, "-m", "loss_lsp", "serve", "--tcp", "--host",
                                                  "127.0.0.1", "--port", str(port), "--log-file", str(log_file))
    client = make_client()
    try:
        for _ in range(200):
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the server never listened")
        await initialize(client, root, capabilities())
        uri = open_document(client, root / "broken_losses.py")
        published = await wait_diagnostics(client, uri, version=1)
        assert codes(list(published.diagnostics)) == ["LL101", "LL102", "LL201"]
        await client.shutdown_async(None)
        client.exit(None)
        assert await asyncio.wait_for(server.wait(), 10) == 0
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
        await client.stop()
    assert "serving over tcp" in log_file.read_text()
