"""End-to-end latency of the language server, measured through the protocol.

A minimal JSON-RPC client (raw stdio framing and ``json``, so that client-side
parsing costs next to nothing) starts ``python -m loss_lsp serve`` and measures:

* start-up: process spawn -> ``initialize`` answered (beside: importing pygls + lsprotocol
  alone in a fresh interpreter, measured in this run);
* cold didOpen -> first publishDiagnostics, on generated 1,000- and 10,000-line training
  modules with many losses;
* one-line didChange (an incremental edit inside a loss) -> the publishDiagnostics of that
  version: p50 / p95 (beside: ``ast.parse`` of the same file, and the engine's own
  ``analyze`` of the same edit in this process);
* resident memory of the server over many edits (default 10,000).

Run:  python benchmarks/server_latency.py [--edits 10000] [--changes 200] [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SERVER = [sys.executable, "-m", "loss_lsp", "serve"]


# --- the training module ------------------------------------------------------------------------
def training_module(n_lines: int) -> str:
    """A training script of about ``n_lines`` lines: every ~9 lines a loss and its compile call.

    Four kinds of loss in rotation (plain function, safe function, closure, Loss subclass);
    a quarter of them carry a NumPy call and a quarter a ``.numpy()``, so the server has
    real findings to report (about one per 15 lines).
    """
    out = ["import numpy as np", "import tensorflow as tf", "from tensorflow import keras", "", "EPS = 1e-7", ""]
    i = 0
    while len(out) < n_lines - 9:
        kind = i % 4
        if kind == 0:
            out += [f"def loss_{i}(y_true, y_pred):", "    diff = y_true - y_pred",
                    f"    scaled = diff * {i % 7 + 1}.0", "    return np.mean(tf.square(scaled))", ""]
            construct = f"loss_{i}"
        elif kind == 1:
            out += [f"def loss_{i}(y_true, y_pred):", "    p = tf.clip_by_value(y_pred, EPS, 1.0 - EPS)",
                    "    ce = -y_true * tf.math.log(p)", "    return tf.reduce_mean(ce)", ""]
            construct = f"loss_{i}"
        elif kind == 2:
            out += [f"def make_loss_{i}(alpha=0.5):", "    def inner(y_true, y_pred):",
                    "        v = y_pred.numpy()", "        return tf.reduce_mean(alpha * (y_true - v) ** 2)",
                    "    return inner", ""]
            construct = f"make_loss_{i}(0.3)"
        else:
            out += [f"class Loss{i}(keras.losses.Loss):", "    def call(self, y_true, y_pred):",
                    "        err = tf.abs(y_true - y_pred)", "        return tf.reduce_mean(err)", ""]
            construct = f"Loss{i}()"
        out += [f"model_{i} = keras.Sequential([keras.layers.Dense(1)])",
                f"model_{i}.compile(optimizer='adam', loss={construct})", ""]
        i += 1
    return "\n".join(out) + "\n"


def edit_line(text: str) -> int:
    """A ``scaled = diff * k`` line near the middle of the file (inside a loss body)."""
    lines = text.split("\n")
    middle = len(lines) // 2
    for number in range(middle, len(lines)):
        if lines[number].startswith("    scaled = diff * "):
            return number
    raise ValueError("no editable line")


# --- a raw JSON-RPC client ------------------------------------------------------------------------
class Client:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._next_id = 0
        self._responses: dict[int, asyncio.Future[Any]] = {}
        self._published: dict[tuple[str, int | None], asyncio.Future[float]] = {}
        self._reader = asyncio.ensure_future(self._read())

    log_file: str | None = None  # --log-file: the server logs each result's engine time there (DEBUG)

    @classmethod
    async def start(cls) -> Client:
        command, env = list(SERVER), None
        if cls.log_file:
            command += ["--log-file", cls.log_file]
            env = {**os.environ, "LOSS_LSP_LOG_LEVEL": "DEBUG"}
        process = await asyncio.create_subprocess_exec(*command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                       stderr=subprocess.DEVNULL, env=env)
        return cls(process)

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def request(self, method: str, params: Any) -> Any:
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._responses[self._next_id] = future
        self._send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        return await future

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def expect_diagnostics(self, uri: str, version: int | None) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._published[(uri, version)] = future
        return future

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            length = 0
            while True:
                line = await stdout.readline()
                if not line:
                    return
                if line.startswith(b"Content-Length:"):
                    length = int(line.split(b":")[1])
                elif line in (b"\r\n", b"\n"):
                    break
            body = await stdout.readexactly(length)
            arrived = time.perf_counter()
            message = json.loads(body)
            if "id" in message and "method" in message:  # a request from the server: answer it
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            elif "id" in message:
                future = self._responses.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message.get("result", message.get("error")))
            elif message.get("method") == "textDocument/publishDiagnostics":
                params = message["params"]
                future = self._published.pop((params["uri"], params.get("version")), None)
                if future is not None and not future.done():
                    future.set_result(arrived)

    async def initialize(self, root: Path) -> Any:
        result = await self.request("initialize", {
            "processId": os.getpid(), "rootUri": root.as_uri(),
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
            "capabilities": {"textDocument": {"publishDiagnostics": {"versionSupport": True}}},
        })
        self.notify("initialized", {})
        return result

    async def close(self) -> None:
        await self.request("shutdown", None)
        self.notify("exit", None)
        await self.process.wait()
        self._reader.cancel()

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")


# --- measurements ---------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


async def startup(runs: int) -> None:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client = await Client.start()
        with tempfile.TemporaryDirectory() as folder:
            await client.initialize(Path(folder))
            times.append(time.perf_counter() - started)
            await client.close()
    imports = []
    for _ in range(runs):
        started = time.perf_counter()
        await asyncio.to_thread(subprocess.run, [sys.executable, "-c", "import pygls.lsp.server, lsprotocol.types"],
                                check=True)
        imports.append(time.perf_counter() - started)
    bare = []
    for _ in range(runs):
        started = time.perf_counter()
        await asyncio.to_thread(subprocess.run, [sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - started)
    print(f"start-up (spawn -> initialize answered), median of {runs}: {ms(statistics.median(times))}")
    print(f"  beside: python -c 'import pygls.lsp.server, lsprotocol.types':  {ms(statistics.median(imports))}")
    print(f"  beside: python -c pass:                                        {ms(statistics.median(bare))}")


def engine_reference(text: str, line: int, changes: int) -> float:
    """The same edits through ``analyze`` in this process (no protocol): median seconds."""
    from loss_lsp.checker import analyze

    lines = text.split("\n")
    path = "/tmp/loss_lsp_bench_reference.py"
    analyze(text, path)
    times = []
    for k in range(changes):
        lines[line] = f"    scaled = diff * {k + 2}.5"
        edited = "\n".join(lines)
        started = time.perf_counter()
        analyze(edited, path)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def latency(n_lines: int, changes: int, rss_edits: int) -> None:
    text = training_module(n_lines)
    parse_times = []
    for _ in range(5):
        started = time.perf_counter()
        ast.parse(text)
        parse_times.append(time.perf_counter() - started)
    line = edit_line(text)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = root / "train.py"
        path.write_text(text)
        uri = path.as_uri()
        client = await Client.start()
        await client.initialize(root)
        published = client.expect_diagnostics(uri, 1)
        started = time.perf_counter()
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                                "text": text}})
        cold = await published - started
        rss_open = client.rss_mb()
        version = 1
        times = []
        old = text.split("\n")[line]
        total = max(changes, rss_edits)
        rss_marks: list[tuple[int, float]] = [(0, rss_open)]
        for k in range(total):
            version += 1
            new = f"    scaled = diff * {k + 2}.5"
            published = client.expect_diagnostics(uri, version)
            started = time.perf_counter()
            client.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": {"line": line, "character": 0},
                                              "end": {"line": line, "character": len(old)}}, "text": new}]})
            arrived = await published
            if k < changes:
                times.append(arrived - started)
            old = new
            if (k + 1) % max(total // 10, 1) == 0:
                rss_marks.append((k + 1, client.rss_mb()))
        idle, busy = await responsiveness(client, uri, line, old, version)
        await client.close()
    reference = engine_reference(text, line, min(changes, 50))
    lines_count = text.count("\n")
    print(f"\n{lines_count:,}-line module ({text.count('def ') + text.count('class ')} loss definitions):")
    print(f"  cold didOpen -> publishDiagnostics:  {ms(cold)}")
    print(f"  didChange -> publishDiagnostics:     p50 {ms(statistics.median(times))}   "
          f"p95 {ms(percentile(times, 0.95))}   (n={len(times)})")
    print(f"  beside: ast.parse of the file:       {ms(statistics.median(parse_times))}")
    print(f"  beside: engine analyze() of the edit in-process, median: {ms(reference)}")
    print(f"  ratio p50 / ast.parse: {statistics.median(times) / statistics.median(parse_times):.2f}")
    print(f"  a request (serverInfo) answered: idle {ms(idle)}, during an analysis {ms(busy)} (medians)")
    if rss_edits:
        marks = "  ".join(f"{n}:{mb:.0f}" for n, mb in rss_marks)
        print(f"  server RSS (MB) after N edits: {marks}")


async def responsiveness(client: Client, uri: str, line: int, old: str, version: int) -> tuple[float, float]:
    """Round trip of a cheap request when idle, and while the engine analyses an edit."""
    info = {"command": "loss-lsp.serverInfo", "arguments": []}
    idle = []
    for _ in range(10):
        started = time.perf_counter()
        await client.request("workspace/executeCommand", info)
        idle.append(time.perf_counter() - started)
    busy = []
    for k in range(10):
        version += 1
        published = client.expect_diagnostics(uri, version)
        new = f"    scaled = diff * {k + 1}.25"
        client.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": {"line": line, "character": 0},
                                          "end": {"line": line, "character": len(old)}}, "text": new}]})
        old = new
        await asyncio.sleep(0.005)  # let the analysis start
        started = time.perf_counter()
        await client.request("workspace/executeCommand", info)
        if not published.done():  # only count requests answered while the analysis was still running
            busy.append(time.perf_counter() - started)
        await published
    return statistics.median(idle), statistics.median(busy) if busy else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--changes", type=int, default=200, help="timed edits per size")
    parser.add_argument("--edits", type=int, default=10000,
                        help="edits on the first size for the memory curve (0: skip)")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--log-file", help="server log with per-result engine timings (DEBUG level)")
    args = parser.parse_args()
    Client.log_file = args.log_file
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs")
    await startup(args.startup_runs)
    for index, size in enumerate(args.sizes):
        await latency(size, args.changes, args.edits if index == 0 else 0)


if __name__ == "__main__":
    asyncio.run(main())
