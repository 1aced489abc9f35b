"""Worker chaos through the real server: a workspace gradient check (``loss-lsp.checkGradients``
with no arguments) meets losses that sleep forever, allocate 50 GB, call ``os._exit(3)``, raise
``SystemExit``, print megabytes, fork, and a worker the test kills with SIGKILL mid-check.

Each of those losses ends as ``not_run`` with its reason, a plain loss checked after each one
shows that the worker was restarted, the server keeps answering hovers throughout (latency
printed), and afterwards the next check works. A module whose top level writes a file and opens
a socket is checked too: neither happens. Real TensorFlow in the worker (several restarts:
about 40 s here).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from tests.resilience.lsp_pipe import PipeClient

TIMEOUT = 4  # seconds per loss (gradientCheck.timeout)

CHAOS = '''\
import os
import sys
import time

import numpy as np
import tensorflow as tf

STARTED = {started!r}


def fine_first(y_true, y_pred):
    return 1.0 * tf.reduce_mean(tf.square(y_true - y_pred))


def killed_by_the_test(y_true, y_pred):
    open(STARTED, "w").write(str(os.getpid()))
    time.sleep(60)
    return np.mean(y_pred)


def fine_after_kill(y_true, y_pred):
    return 2.0 * tf.reduce_mean(tf.square(y_true - y_pred))


def sleeps_forever(y_true, y_pred):
    while True:
        time.sleep(1)
    return np.mean(y_pred)


def fine_after_sleep(y_true, y_pred):
    return 3.0 * tf.reduce_mean(tf.square(y_true - y_pred))


def allocates_50_gb(y_true, y_pred):
    big = tf.zeros([50 * 1024 ** 3 // 4], dtype=tf.float32)
    return np.mean(y_pred) + tf.reduce_sum(big)


def fine_after_allocation(y_true, y_pred):
    return 4.0 * tf.reduce_mean(tf.square(y_true - y_pred))


def exits_process(y_true, y_pred):
    os._exit(3)
    return np.mean(y_pred)


def fine_after_exit(y_true, y_pred):
    return 5.0 * tf.reduce_mean(tf.square(y_true - y_pred))


def raises_system_exit(y_true, y_pred):
    raise SystemExit(4)
    return np.mean(y_pred)


def prints_megabytes(y_true, y_pred):
    print("x" * (4 * 1024 * 1024))
    sys.stdout.write("{{" * 1_000_000 + "\\n")
    os.write(1, b"Content-Length: 99\\r\\n\\r\\n" * 100_000)
    return tf.reduce_mean(tf.square(y_true - y_pred))


def forks(y_true, y_pred):
    if os.fork() == 0:
        open(STARTED + ".child", "w").write("the forked child ran the loss")
    return np.mean(y_pred)


def fine_last(y_true, y_pred):
    return 6.0 * tf.reduce_mean(tf.square(y_true - y_pred))
'''

SCRIPT = '''\
import socket

import tensorflow as tf

open({marker!r}, "w").write("the script's top level ran")
socket.create_connection(("127.0.0.1", {port}))


def script_loss(y_true, y_pred):
    return tf.reduce_mean(tf.abs(y_true - y_pred))
'''

EXPECTED = {  # loss -> (status, words in the reason)
    "fine_first": ("checked", ""),
    "killed_by_the_test": ("not_run", "the worker was killed (SIGKILL"),
    "fine_after_kill": ("checked", ""),
    "sleeps_forever": ("not_run", f"timed out after {TIMEOUT} s"),
    "fine_after_sleep": ("checked", ""),
    "allocates_50_gb": ("not_run", "out of memory"),
    "fine_after_allocation": ("checked", ""),
    "exits_process": ("not_run", "the loss ended the worker process (exit status 3"),
    "fine_after_exit": ("checked", ""),
    "raises_system_exit": ("not_run", "SystemExit(4)"),
    "prints_megabytes": ("checked", ""),
    "forks": ("not_run", "os.fork()"),
    "fine_last": ("checked", ""),
}


def worker_pids(server_pid: int) -> list[int]:
    """The gradient-check workers started by this server (children running loss_lsp.gradcheck.worker)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except (OSError, ValueError, IndexError):
            continue
        if parent == server_pid and b"loss_lsp.gradcheck.worker" in command:
            found.append(int(entry))
    return found


@pytest.fixture(scope="module")
def listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    yield server
    server.close()


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory, listener: socket.socket) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("chaos")
    started = root / "killed-loss-started.txt"
    (root / "chaos_losses.py").write_text(CHAOS.format(started=str(started)))
    (root / "script.py").write_text(SCRIPT.format(marker=str(root / "script-ran.txt"),
                                                  port=listener.getsockname()[1]))
    return asyncio.run(_run_chaos(root, started))


async def _run_chaos(root: Path, started: Path) -> dict[str, Any]:
    client = await PipeClient.start(root.parent / "chaos-server-stderr.txt", cwd=root)
    out: dict[str, Any] = {"root": root}
    try:
        await client.initialize(root, options={"gradientCheck": {"timeout": TIMEOUT}})
        uri = (root / "chaos_losses.py").as_uri()
        client.did_open(uri, (root / "chaos_losses.py").read_text())
        await client.drain()
        await client.wait_published(uri, 1)
        flagged = (root / "chaos_losses.py").read_text().split("\n").index("    return np.mean(y_pred)")
        hover_at = {"textDocument": {"uri": uri}, "position": {"line": flagged, "character": 13}}

        check = client.request_nowait("workspace/executeCommand", {"command": "loss-lsp.checkGradients"})
        await client.drain()
        latencies: list[float] = []
        killed: list[int] = []
        started_at = time.monotonic()
        while not check.done() and time.monotonic() - started_at < 600:
            if started.exists() and not killed:  # the loss is running in the worker: kill the worker
                for pid in worker_pids(client.process.pid):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            sent = time.perf_counter()
            hover = await client.result("textDocument/hover", hover_at, timeout=30)
            latencies.append(time.perf_counter() - sent)
            assert hover is not None and "LL101" in hover["contents"]["value"]  # a real answer, every time
            await asyncio.sleep(0.05)
        out["check"] = await client.wait(check, 60)
        out["check_seconds"] = time.monotonic() - started_at

        def republished() -> dict[str, Any] | None:  # the diagnostics again, now with the verdicts
            last = client.publications(uri)[-1]
            judged = last["diagnostics"] and all(d["data"].get("verdict") for d in last["diagnostics"])
            return last if judged else None

        out["published"] = await client.wait_until(republished)
        out["latencies"] = latencies
        out["killed"] = killed
        out["workers_after"] = worker_pids(client.process.pid)
        # The next check works: a loss of the open file, by name.
        out["next"] = await client.request("workspace/executeCommand", {
            "command": "loss-lsp.checkGradients", "arguments": [uri, "fine_last"]}, timeout=300)
        out["script"] = await client.request("workspace/executeCommand", {
            "command": "loss-lsp.checkGradients", "arguments": [(root / "script.py").as_uri()]}, timeout=300)
        out["info"] = await client.result("workspace/executeCommand", {"command": "loss-lsp.serverInfo"})
        out["alive"] = client.alive()
        out["exit_code"] = await client.shutdown()
    finally:
        client.kill()
    return out


def _losses(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert "error" not in response, response
    return {loss["name"]: loss for loss in response["result"]["losses"]}


def test_each_fault_is_not_run_with_its_reason_and_the_worker_restarts(chaos: dict[str, Any]) -> None:
    losses = _losses(chaos["check"])
    print(f"\nworkspace check with chaos: {chaos['check_seconds']:.1f} s; "
          + "; ".join(f"{name}: {loss['status']} {loss['reason'][:70]}" for name, loss in losses.items()))
    assert chaos["killed"], "the worker was never found running the loss the test kills"
    for name, (status, reason) in EXPECTED.items():
        assert losses[name]["status"] == status, (name, losses[name])
        assert reason in losses[name]["reason"], (name, losses[name])
    assert losses["script_loss"]["status"] == "checked"
    # The static finding inside each faulty loss (a NumPy call) carries the verdict and the reason,
    # in the command's answer and in the republished diagnostics.
    findings = {f["loss"]: f for file in chaos["check"]["result"]["files"] for f in file["findings"]}
    diagnostics = {d["data"]["loss"]: d for d in chaos["published"]["diagnostics"]}
    faulty = [name for name, (status, _) in EXPECTED.items() if status == "not_run"]
    assert sorted(findings) == sorted(diagnostics) == sorted(faulty)
    for name in faulty:
        reason = EXPECTED[name][1]
        assert findings[name]["verdict"] == "not_run" and reason in findings[name]["evidence"], findings[name]
        assert diagnostics[name]["data"]["verdict"] == "not_run" and reason in diagnostics[name]["data"]["evidence"]
    for pid in chaos["killed"]:  # killed workers are gone (reaped), not left as zombies or running
        assert not Path(f"/proc/{pid}").exists()
    assert len(chaos["workers_after"]) <= 1  # one worker, restarted: never a pile of them
    assert not Path(str(chaos["root"] / "killed-loss-started.txt") + ".child").exists()


def test_the_next_check_works(chaos: dict[str, Any]) -> None:
    assert _losses(chaos["next"])["fine_last"]["status"] in ("checked", "cached")
    assert chaos["alive"] and chaos["exit_code"] == 0
    assert chaos["info"]["tensorflowImported"] is False
    assert chaos["info"]["gradientCheck"]["running"] == 0


def test_hovers_are_answered_throughout(chaos: dict[str, Any]) -> None:
    latencies = sorted(chaos["latencies"])
    print(f"\nhover during the chaos: {len(latencies)} answered, p50 {statistics.median(latencies) * 1e3:.1f} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95)] * 1e3:.1f} ms, max {latencies[-1] * 1e3:.1f} ms")
    # Answered throughout the check (it takes seconds). The latency is a figure, printed above and in
    # benchmarks/, not asserted: timed assertions flake on a loaded machine.
    assert len(latencies) >= 20


def test_a_checked_module_never_runs_its_top_level(chaos: dict[str, Any], listener: socket.socket) -> None:
    assert _losses(chaos["script"])["script_loss"]["status"] in ("checked", "cached")
    assert not (chaos["root"] / "script-ran.txt").exists()
    with pytest.raises(BlockingIOError):  # nobody connected
        connection, _ = listener.accept()
        connection.close()
