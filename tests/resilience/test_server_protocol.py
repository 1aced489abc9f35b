"""Protocol abuse through the real server's stdin: whatever a client sends, the server answers
every request with a result or a clear JSON-RPC error, and keeps answering afterwards.

Raw bytes over the pipe (tests/resilience/lsp_pipe.py), since a typed client cannot send most
of this: broken JSON, broken framing, requests before ``initialize``, parameters of the wrong
type, positions out of range, a 50 MB document, ``untitled:`` and notebook-cell URIs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.resilience.lsp_pipe import PipeClient
from tests.resilience.storm import expected_diagnostics, published_diagnostics

pytestmark = pytest.mark.asyncio(loop_scope="module")

BROKEN = (
    "import numpy as np\n"
    "import tensorflow as tf\n"
    "from tensorflow import keras\n"
    "\n"
    "\n"
    "def numpy_mse(y_true, y_pred):\n"
    "    return np.mean(np.square(y_true - y_pred))\n"
    "\n"
    "\n"
    "model = keras.Sequential([keras.layers.Dense(1)])\n"
    "model.compile(loss=numpy_mse)\n"
)
FLAGGED = {"line": 6, "character": 12}  # inside np.mean(...): LL101
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
SERVER_NOT_INITIALIZED, REQUEST_FAILED = -32002, -32803


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def hover_params(uri: str, position: dict[str, int] | None = None) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": position or FLAGGED}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[PipeClient, str]]:
    root = tmp_path_factory.mktemp("abuse")
    (root / "losses.py").write_text(BROKEN)
    client = await PipeClient.start(root.parent / "abuse-server-stderr.txt", cwd=root)
    await client.initialize(root)
    uri = (root / "losses.py").as_uri()
    client.did_open(uri, BROKEN)
    await client.drain()
    await client.wait_published(uri, 1)
    yield client, uri
    assert await client.shutdown() == 0


async def assert_still_answers(client: PipeClient, uri: str) -> None:
    """The server is up and its analysis works: a hover on the flagged expression explains LL101."""
    hover = await client.result("textDocument/hover", hover_params(uri), timeout=30)
    assert hover is not None and "LL101" in hover["contents"]["value"]


async def error_of(client: PipeClient, raw: bytes, msg_id: Any = None) -> dict[str, Any]:
    """Send raw bytes; the error response they get (with ``msg_id``, or the next one with id null)."""
    if msg_id is not None:
        future = client.expect(msg_id)
        client.send_raw(raw)
        await client.drain()
        response = await client.wait(future, 30)
    else:
        before = len(client.unmatched)
        client.send_raw(raw)
        await client.drain()
        await client.wait_until(lambda: len(client.unmatched) > before, 30)
        response = client.unmatched[before]
        assert response["id"] is None
    assert "error" in response, response
    return response["error"]


# --- the life cycle ------------------------------------------------------------------------------
async def test_requests_before_initialize_and_after_shutdown_get_errors(tmp_path: Path) -> None:
    (tmp_path / "losses.py").write_text(BROKEN)
    uri = (tmp_path / "losses.py").as_uri()
    client = await PipeClient.start(tmp_path / "stderr.txt", cwd=tmp_path)
    try:
        early = await client.request("textDocument/hover", hover_params(uri))
        assert early["error"]["code"] == SERVER_NOT_INITIALIZED
        command = await client.request("workspace/executeCommand", {"command": "loss-lsp.serverInfo"})
        assert command["error"]["code"] == SERVER_NOT_INITIALIZED
        client.did_open(uri, BROKEN)  # a notification before initialize is dropped (LSP)
        await client.initialize(tmp_path)
        assert await client.result("textDocument/hover", hover_params(uri)) is None  # never opened
        again = await client.request("initialize", {"processId": None, "capabilities": {}})
        assert again["error"]["code"] == INVALID_REQUEST and "already" in again["error"]["message"]
        client.did_open(uri, BROKEN)
        await client.drain()
        published = await client.wait_published(uri, 1)
        assert {d["code"] for d in published["diagnostics"]} == {"LL101"}
        assert all(p["uri"] != uri or p.get("version") == 1 for p in client.publications())
        assert await client.result("shutdown") is None
        late = await client.request("textDocument/hover", hover_params(uri))
        assert late["error"]["code"] == INVALID_REQUEST and "shutting down" in late["error"]["message"]
        client.notify("exit")
        await client.drain()
        assert await client.process.wait() == 0
    finally:
        client.kill()


# --- malformed JSON-RPC ------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "code", "msg_id"), [
    (frame(b'{"jsonrpc": "2.0", "id": 901, "method": '), PARSE_ERROR, None),
    (frame(b'{"jsonrpc": "2.0", "id": 902, "method": "textDocument/hover\xff\xfe"}'), PARSE_ERROR, None),
    (frame(b""), PARSE_ERROR, None),
    (frame(b"[1, 2, 3]"), INVALID_REQUEST, None),
    (frame(b'"just a string"'), INVALID_REQUEST, None),
    (frame(b'{"id": 903, "method": "textDocument/hover", "params": {}}'), INVALID_REQUEST, 903),
    (frame(b'{"jsonrpc": "1.0", "id": 904, "method": "textDocument/hover"}'), INVALID_REQUEST, 904),
    (frame(b'{"jsonrpc": "2.0", "id": 905, "method": 42}'), INVALID_REQUEST, 905),
    (frame(b'{"jsonrpc": "2.0", "id": {"nested": 1}, "method": "textDocument/hover"}'), INVALID_REQUEST, None),
    (frame(b'{"jsonrpc": "2.0", "id": 906}'), INVALID_REQUEST, 906),
], ids=["truncated", "not-utf8", "empty", "batch", "string", "no-jsonrpc", "jsonrpc-1.0", "method-not-string",
        "object-id", "nothing-to-do"])
async def test_malformed_messages_get_json_rpc_errors(server: tuple[PipeClient, str], raw: bytes, code: int,
                                                      msg_id: Any) -> None:
    client, uri = server
    error = await error_of(client, raw, msg_id)
    assert error["code"] == code and error["message"]
    await assert_still_answers(client, uri)


@pytest.mark.parametrize("garbage", [
    b"Content-Length: abc\r\n\r\n{}",  # a length that is not a number
    b"Content-Length: 4\r\n\r\n{\"jsonrpc\": \"2.0\"}",  # a length shorter than the body
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # somebody else's protocol
    b"\x00\xff\xfe garbage without a line end",
], ids=["bad-length", "short-length", "http", "binary"])
async def test_broken_framing_is_skipped_and_the_server_falls_back_into_step(
        server: tuple[PipeClient, str], garbage: bytes) -> None:
    client, uri = server
    client.send_raw(garbage)
    await assert_still_answers(client, uri)  # the hover's own header follows the garbage directly
    # Headers the loose way: lower-case name, bare \n line ends.
    body = json.dumps({"jsonrpc": "2.0", "id": "loose", "method": "textDocument/hover",
                       "params": hover_params(uri)}).encode()
    response = await client.wait(_send_then_expect(client, b"content-length: %d\n\n" % len(body) + body, "loose"))
    assert "LL101" in response["result"]["contents"]["value"]


def _send_then_expect(client: PipeClient, raw: bytes, msg_id: Any) -> asyncio.Future[dict[str, Any]]:
    future = client.expect(msg_id)
    client.send_raw(raw)
    return future


# --- unknown methods, wrong parameters, positions out of range ----------------------------------------
async def test_unknown_methods(server: tuple[PipeClient, str]) -> None:
    client, uri = server
    unknown = await client.request("loss-lsp/noSuchMethod", {"x": 1})
    assert unknown["error"]["code"] == METHOD_NOT_FOUND and "loss-lsp/noSuchMethod" in unknown["error"]["message"]
    client.notify("loss-lsp/noSuchNotification", {"x": 1})  # ignored: no answer to a notification
    client.notify("$/noSuchThing", None)
    client.notify("$/cancelRequest", {"id": 123456})  # nothing to cancel
    command = await client.request("workspace/executeCommand", {"command": "loss-lsp.noSuchCommand"})
    assert command["error"]["code"] == INVALID_PARAMS and "loss-lsp.noSuchCommand" in command["error"]["message"]
    client.send({"jsonrpc": "2.0", "id": 424242, "result": "an answer to a question never asked"})
    await assert_still_answers(client, uri)


@pytest.mark.parametrize(("method", "params", "where"), [
    ("textDocument/hover", {"textDocument": {"uri": "URI"}, "position": "line 3"}, "$.params.position"),
    ("textDocument/hover", None, "$.params"),
    ("textDocument/hover", {"textDocument": {"uri": "URI"}, "position": {"line": -1, "character": 0}}, "-1"),
    ("textDocument/hover", {"textDocument": {"uri": "URI"}, "position": {"line": 2 ** 40, "character": 0}},
     str(2 ** 40)),
    ("textDocument/hover", {"textDocument": "URI", "position": {"line": 0, "character": 0}}, "$.params.textDocument"),
    ("textDocument/codeAction", {"textDocument": {"uri": "URI"}, "range": [0, 0, 1, 0], "context": {"diagnostics": []}},
     "$.params.range"),
    ("textDocument/codeAction", {"textDocument": {"uri": "URI"}, "range": {"start": {"line": 0, "character": 0},
                                 "end": {"line": 1, "character": 0}}, "context": 5}, "$.params.context"),
    ("workspace/executeCommand", {"command": {"name": "x"}}, "'name'"),
    ("workspace/executeCommand", {"command": "loss-lsp.checkGradients", "arguments": [5]}, "document URI"),
    ("workspace/executeCommand", {"command": "loss-lsp.checkGradients", "arguments": ["URI", [1, 2]]},
     "position or a loss name"),
], ids=["position-string", "no-params", "negative-line", "line-over-uinteger", "text-document-string",
        "range-list", "context-number", "command-number", "check-uri-number", "check-position-list"])
async def test_wrong_parameter_types_are_invalid_params(server: tuple[PipeClient, str], method: str,
                                                        params: Any, where: str) -> None:
    client, uri = server
    params = json.loads(json.dumps(params).replace('"URI"', json.dumps(uri)))
    response = await client.request(method, params)
    assert response["error"]["code"] == INVALID_PARAMS, response
    assert where in response["error"]["message"]
    await assert_still_answers(client, uri)


async def test_bad_notifications_are_dropped(server: tuple[PipeClient, str], tmp_path: Path) -> None:
    client, uri = server
    other = (tmp_path / "other.py").as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {"languageId": "python", "version": 1, "text": BROKEN}})
    client.notify("textDocument/didOpen", {"textDocument": {"uri": other, "languageId": "python", "version": "one",
                                                            "text": BROKEN}})
    client.notify("textDocument/didChange", {"textDocument": {"uri": other, "version": 2},  # never opened
                                             "contentChanges": [{"text": BROKEN}]})
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": "not a list"})
    client.notify("textDocument/didClose", {"textDocument": {}})
    await assert_still_answers(client, uri)
    assert await client.result("textDocument/hover", hover_params(other)) is None
    assert all(p["uri"] != other for p in client.publications())


async def test_positions_out_of_range(server: tuple[PipeClient, str]) -> None:
    client, uri = server
    for position in ({"line": 10 ** 6, "character": 0}, {"line": 6, "character": 10 ** 6},
                     {"line": 2 ** 31 - 1, "character": 2 ** 31 - 1}):
        response = await client.request("textDocument/hover", hover_params(uri, position))
        assert "error" not in response, response
    for start, end in (({"line": 10 ** 6, "character": 0}, {"line": 10 ** 6 + 5, "character": 0}),
                       ({"line": 8, "character": 0}, {"line": 2, "character": 0}),  # end before start
                       ({"line": 0, "character": 0}, {"line": 2 ** 31 - 1, "character": 2 ** 31 - 1})):
        response = await client.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": start, "end": end}, "context": {"diagnostics": []}})
        assert "error" not in response, response
        kinds = {action["kind"] for action in response["result"] or []}
        assert kinds <= {"quickfix", "source.fixAll.loss-lsp"}
    everything = await client.result("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0},
                                                "end": {"line": 2 ** 31 - 1, "character": 0}},
        "context": {"diagnostics": []}})
    assert any(action["kind"] == "quickfix" for action in everything)  # the whole file includes the finding
    await assert_still_answers(client, uri)


# --- huge documents, other URI schemes, LSP lines -----------------------------------------------------
async def test_a_50_mb_document(server: tuple[PipeClient, str], tmp_path: Path) -> None:
    client, uri = server
    big_uri = (tmp_path / "big.py").as_uri()
    text = BROKEN + ("x = 1  # padding " + "a" * 62 + "\n") * (50 * 1024 * 1024 // 80)
    logged = len(client.log_messages())
    client.did_open(big_uri, text)
    await client.drain()
    published = await client.wait_published(big_uri, 1, timeout=120)
    assert published["diagnostics"] == []  # over the engine's size limit: not analysed, and said so
    await client.wait_until(lambda: any("too large" in m for m in client.log_messages()[logged:]))
    assert await client.result("textDocument/hover", hover_params(big_uri)) is None
    client.did_change(big_uri, 2, [{"range": {"start": {"line": 0, "character": 0},
                                              "end": {"line": 0, "character": 0}}, "text": "# edited\n"}])
    await client.drain()
    await client.wait_published(big_uri, 2, timeout=120)
    print(f"\nserver RSS with a {len(text) / 1e6:.0f} MB document open: {client.rss_mb():.0f} MB")
    client.did_close(big_uri)
    await assert_still_answers(client, uri)


@pytest.mark.parametrize("other_uri", ["untitled:Untitled-1", "vscode-notebook-cell:/work/nb.ipynb#W0sZmlsZQ%3D%3D",
                                       "git:/work/losses.py?%7B%22ref%22%3A%22HEAD%22%7D"])
async def test_documents_that_are_not_files(server: tuple[PipeClient, str], other_uri: str) -> None:
    client, uri = server
    client.did_open(other_uri, BROKEN)
    await client.drain()
    published = await client.wait_published(other_uri, 1)
    assert {d["code"] for d in published["diagnostics"]} == {"LL101"}  # analysed like any Python buffer
    hover = await client.result("textDocument/hover", hover_params(other_uri))
    assert "LL101" in hover["contents"]["value"]
    actions = await client.result("textDocument/codeAction", {
        "textDocument": {"uri": other_uri}, "range": published["diagnostics"][0]["range"],
        "context": {"diagnostics": published["diagnostics"]}})
    assert any(action["kind"] == "quickfix" and action.get("isPreferred") for action in actions)
    check = await client.request("workspace/executeCommand", {"command": "loss-lsp.checkGradients",
                                                              "arguments": [other_uri]})
    assert check["error"]["code"] == REQUEST_FAILED and "not a file" in check["error"]["message"]
    client.did_close(other_uri)
    await client.drain()
    await client.wait_until(lambda: client.publications(other_uri)[-1]["diagnostics"] == [])
    await assert_still_answers(client, uri)


async def test_incremental_edits_below_a_form_feed_land_on_the_right_line(server: tuple[PipeClient, str],
                                                                           tmp_path: Path) -> None:
    """pygls splits lines at form feeds and U+2028 (str.splitlines); LSP and the editor do not."""
    client, _ = server
    text = ("import tensorflow as tf\n\x0c\n# section two\x0c of the file\n"
            'NOTE = "a\u2028b\u2029c\x1cd\x85e"\n\n\n'
            "def detached(y_true, y_pred):\n    return tf.reduce_mean(y_pred)\n")
    uri = (tmp_path / "pages.py").as_uri()
    client.did_open(uri, text)
    line = text.split("\n").index("    return tf.reduce_mean(y_pred)")
    at = {"line": line, "character": len("    return tf.reduce_mean(y_pred")}
    client.did_change(uri, 2, [{"range": {"start": at, "end": at}, "text": ".numpy()"}])
    await client.drain()
    published = await client.wait_published(uri, 2)
    lines = text.split("\n")
    lines[line] = lines[line][:at["character"]] + ".numpy()" + lines[line][at["character"]:]
    final = "\n".join(lines)
    assert [d["code"] for d in published["diagnostics"]] == ["LL102"]
    assert published["diagnostics"][0]["range"]["start"]["line"] == line
    assert published_diagnostics(published) == expected_diagnostics(final, str(tmp_path / "pages.py"))
    client.did_close(uri)


async def test_lines_of_only_a_vertical_tab_or_file_separator(server: tuple[PipeClient, str],
                                                              tmp_path: Path) -> None:
    """Once an IndexError in the block splitter: the server answered -32603 and published nothing."""
    client, _ = server
    text = ("import numpy as np\n\x0b\n\x1c\n\n\ndef numpy_mse(y_true, y_pred):\n"
            "    return np.mean(np.square(y_true - y_pred))\n")
    uri = (tmp_path / "odd.py").as_uri()
    client.did_open(uri, text)
    await client.drain()
    published = await client.wait_published(uri, 1)
    assert {(d["code"], d["range"]["start"]["line"]) for d in published["diagnostics"]} == {("LL101", 6)}
    assert published_diagnostics(published) == expected_diagnostics(text, str(tmp_path / "odd.py"))
    pulled = await client.request("textDocument/diagnostic", {"textDocument": {"uri": uri}})
    assert "error" not in pulled, pulled
    at = {"line": 6, "character": 12}
    hover = await client.result("textDocument/hover", hover_params(uri, at))
    assert "LL101" in hover["contents"]["value"]
    actions = await client.result("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": published["diagnostics"][0]["range"],
        "context": {"diagnostics": published["diagnostics"]}})
    assert any(action["kind"] == "quickfix" for action in actions)
    client.did_change(uri, 2, [{"range": {"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 1}},
                                "text": "\u2028"}])
    await client.drain()
    again = await client.wait_published(uri, 2)
    assert published_diagnostics(again) == published_diagnostics(published)
    client.did_close(uri)
