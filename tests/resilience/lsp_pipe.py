"""A raw JSON-RPC client for the real server over its stdin/stdout pipes.

pytest-lsp only sends well-formed, typed messages; this client writes bytes, so the
resilience tests can also send what no proper client would (broken framing, invalid
JSON, wrong parameter types) and flood the server faster than a typed client could.
It records every message the server sends, answers the server's own requests, and
reads the server's resident memory from /proc.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SERVER = [sys.executable, "-m", "loss_lsp", "serve"]
TIMEOUT = 60.0


class ServerGone(Exception):
    """The server closed its stdout (it exited or crashed)."""


class PipeClient:
    def __init__(self, process: asyncio.subprocess.Process, stderr_path: Path) -> None:
        self.process = process
        self.stderr_path = stderr_path
        self._next_id = 0
        self._responses: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.unmatched: list[dict[str, Any]] = []  # responses nobody waited for (id null, unknown ids)
        self.notifications: list[tuple[float, dict[str, Any]]] = []  # (arrival, message)
        self.server_requests: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self.closed = False
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, stderr_path: Path, cwd: Path | None = None, env: dict[str, str] | None = None,
                    command: list[str] | None = None) -> PipeClient:
        # A file: an unread stderr pipe could block the server. Opening it is instant.
        with open(stderr_path, "wb") as stderr:  # noqa: ASYNC230
            process = await asyncio.create_subprocess_exec(
                *(command or SERVER), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                cwd=cwd, env={**os.environ, **(env or {})}, limit=1 << 26)
        return cls(process, stderr_path)

    # --- sending -------------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def drain(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.drain()

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def expect(self, msg_id: Any) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._responses[msg_id] = future
        return future

    def request_nowait(self, method: str, params: Any = None, msg_id: Any = None) -> asyncio.Future[dict[str, Any]]:
        """Send a request; the future gets the whole response message (with "result" or "error")."""
        msg_id = self.new_id() if msg_id is None else msg_id
        future = self.expect(msg_id)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return future

    async def request(self, method: str, params: Any = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        future = self.request_nowait(method, params)
        await self.drain()
        return await self.wait(future, timeout)

    async def result(self, method: str, params: Any = None, timeout: float = TIMEOUT) -> Any:
        response = await self.request(method, params, timeout)
        assert "error" not in response, f"{method} failed: {response['error']}"
        return response.get("result")

    async def wait(self, future: asyncio.Future[Any], timeout: float = TIMEOUT) -> Any:
        done, _ = await asyncio.wait({future, self._reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if future in done:
            return future.result()
        if self._reader in done:
            raise ServerGone(f"the server exited (code {self.process.returncode}); stderr:\n{self.stderr_tail()}")
        raise asyncio.TimeoutError(f"no answer within {timeout} s")

    # --- the LSP session -----------------------------------------------------------------------
    async def initialize(self, root: Path | None, options: Any = None, capabilities: dict[str, Any] | None = None,
                         timeout: float = TIMEOUT) -> dict[str, Any]:
        params: dict[str, Any] = {"processId": os.getpid(), "capabilities": capabilities or {
            "textDocument": {"publishDiagnostics": {"versionSupport": True, "relatedInformation": True},
                             "hover": {"contentFormat": ["markdown"]},
                             "codeAction": {"dataSupport": True}},
            "window": {"workDoneProgress": True}}}
        if root is not None:
            params["rootUri"] = root.as_uri()
            params["workspaceFolders"] = [{"uri": root.as_uri(), "name": root.name}]
        if options is not None:
            params["initializationOptions"] = options
        result = await self.result("initialize", params, timeout)
        self.notify("initialized", {})
        await self.drain()
        return result

    async def shutdown(self, timeout: float = 30.0) -> int:
        """shutdown + exit; the server's exit code."""
        if self.process.returncode is None:
            try:
                await self.request("shutdown", None, timeout)
                self.notify("exit")
                await self.drain()
            except (ServerGone, ConnectionError, asyncio.TimeoutError):
                pass
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        self._reader.cancel()

    def did_open(self, uri: str, text: str, version: int = 1, language_id: str = "python") -> None:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language_id,
                                                              "version": version, "text": text}})

    def did_change(self, uri: str, version: int, changes: list[dict[str, Any]]) -> None:
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": changes})

    def did_close(self, uri: str) -> None:
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    # --- what the server sent ------------------------------------------------------------------
    def publications(self, uri: str | None = None) -> list[dict[str, Any]]:
        return [m["params"] for _, m in self.notifications if m.get("method") == "textDocument/publishDiagnostics"
                and (uri is None or m["params"]["uri"] == uri)]

    def log_messages(self) -> list[str]:
        return [m["params"]["message"] for _, m in self.notifications if m.get("method") == "window/logMessage"]

    async def wait_until(self, condition: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if self._reader.done():
                raise ServerGone(f"the server exited (code {self.process.returncode}); stderr:\n{self.stderr_tail()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise asyncio.TimeoutError("condition not met in time")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.5))
            except asyncio.TimeoutError:
                pass

    async def wait_published(self, uri: str, version: int | None, timeout: float = TIMEOUT) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for params in reversed(self.publications(uri)):
                if params.get("version") == version:
                    return params
            return None

        return await self.wait_until(found, timeout)

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def alive(self) -> bool:
        return self.process.returncode is None and not self._reader.done()

    def stderr_tail(self, size: int = 4000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    # --- reading -------------------------------------------------------------------------------
    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                length = None
                while True:
                    line = await stdout.readline()
                    if not line:
                        return
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                    elif line in (b"\r\n", b"\n") and length is not None:
                        break
                body = await stdout.readexactly(length)
                self._dispatch(time.perf_counter(), json.loads(body))
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.closed = True
            self._arrived.set()

    def _dispatch(self, arrived: float, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:
            self.server_requests.append(message)
            self._answer(message)
        elif "method" in message:
            self.notifications.append((arrived, message))
        else:
            future = self._responses.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)
            else:
                self.unmatched.append(message)
        self._arrived.set()

    def _answer(self, request: dict[str, Any]) -> None:
        result: Any = None
        if request["method"] == "workspace/configuration":
            result = [None for _ in request.get("params", {}).get("items", [])]
        try:
            self.send({"jsonrpc": "2.0", "id": request["id"], "result": result})
        except (ConnectionError, RuntimeError):
            pass
