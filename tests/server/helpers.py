"""Helpers for the end-to-end server tests: the real server as a subprocess, spoken to over stdio."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

DATA = Path(__file__).parent / "data"
SERVER_COMMAND = [sys.executable, "-m", "loss_lsp", "serve"]
TIMEOUT = 30.0


class RecordingClient(LanguageClient):
    """A test client that keeps every publishDiagnostics (not only the last one per URI)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.published: list[types.PublishDiagnosticsParams] = []
        self.arrived = asyncio.Event()


def _record_diagnostics(client: RecordingClient, params: types.PublishDiagnosticsParams) -> None:
    client.diagnostics[params.uri] = params.diagnostics
    client.published.append(params)
    client.arrived.set()


def make_client() -> RecordingClient:
    client = RecordingClient(converter_factory=default_converter)
    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = _record_diagnostics
    register_lsp_features(client, features)
    return client


CONFIG = ClientServerConfig(server_command=SERVER_COMMAND, client_factory=make_client)
FAULTS = Path(__file__).parent / "faults"  # a sitecustomize that breaks the server as the environment says


def faulty_config(**switches: str) -> ClientServerConfig:
    """The real server with ``tests/server/faults`` on its path and the given LOSS_LSP_TEST_* switches."""
    path = os.pathsep.join(filter(None, [str(FAULTS), os.environ.get("PYTHONPATH")]))
    return ClientServerConfig(server_command=SERVER_COMMAND, client_factory=make_client,
                              server_env={**os.environ, "PYTHONPATH": path, **switches})


async def server_info(client: LanguageClient) -> dict[str, Any]:
    """What ``loss-lsp.serverInfo`` reports."""
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="loss-lsp.serverInfo"))


def capabilities(*, pull: bool = False, encodings: list[str] | None = None, configuration: bool = False,
                 lazy_actions: bool = False, progress: bool = False) -> types.ClientCapabilities:
    """Client capabilities for one test module (only what the module needs)."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=encodings) if encodings else None,
        workspace=types.WorkspaceClientCapabilities(
            configuration=configuration,
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
            diagnostics=types.DiagnosticWorkspaceClientCapabilities(refresh_support=True) if pull else None,
        ),
        text_document=types.TextDocumentClientCapabilities(
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(related_information=True,
                                                                          version_support=True),
            diagnostic=types.DiagnosticClientCapabilities(related_document_support=True) if pull else None,
            hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
            code_action=types.CodeActionClientCapabilities(
                data_support=True,
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]) if lazy_actions else None,
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(value_set=["quickfix", "source"]))),
        ),
        window=types.WindowClientCapabilities(work_done_progress=progress),
    )


async def initialize(client: LanguageClient, root: Path, caps: types.ClientCapabilities,
                     options: dict[str, Any] | None = None) -> types.InitializeResult:
    return await client.initialize_session(types.InitializeParams(
        capabilities=caps,
        root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
        initialization_options=options,
    ))


def copy_data(target: Path, *names: str) -> Path:
    for name in names:
        source = DATA / name
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        else:
            shutil.copy(source, destination)
    return target


def open_document(client: LanguageClient, path: Path, text: str | None = None, version: int = 1,
                  language_id: str = "python") -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id=language_id, version=version, text=path.read_text() if text is None else text)))
    return uri


def change_document(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


async def wait_diagnostics(client: RecordingClient, uri: str, version: int | None = None,
                           where: Callable[[list[types.Diagnostic]], bool] | None = None,
                           since: int = 0, timeout: float = TIMEOUT) -> types.PublishDiagnosticsParams:
    """The first publishDiagnostics for ``uri`` (at ``version``) that satisfies ``where``, waiting for it.

    ``since``: ignore the first ``since`` notifications (``len(client.published)`` before a change).
    """

    async def wait() -> types.PublishDiagnosticsParams:
        seen = since
        while True:
            for params in client.published[seen:]:
                if params.uri == uri and (version is None or params.version == version) and (
                        where is None or where(list(params.diagnostics))):
                    return params
            seen = len(client.published)
            client.arrived.clear()
            await client.arrived.wait()

    return await asyncio.wait_for(wait(), timeout)


def codes(diagnostics: list[types.Diagnostic]) -> list[str]:
    return sorted(str(d.code) for d in diagnostics)


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (UTF-16 columns, as this test client negotiates by default) like an editor."""
    lines = text.split("\n")

    def offset(position: types.Position) -> int:
        before = sum(len(line) + 1 for line in lines[:position.line])
        line = lines[position.line] if position.line < len(lines) else ""
        units = 0
        for index, char in enumerate(line):
            if units >= position.character:
                return before + index
            units += 2 if ord(char) > 0xFFFF else 1
        return before + len(line)

    resolved = sorted(((offset(e.range.start), offset(e.range.end), e.new_text) for e in edits), reverse=True)
    for start, end, new in resolved:
        text = text[:start] + new + text[end:]
    return text


def edits_of(edit: types.WorkspaceEdit | None, uri: str) -> list[types.TextEdit]:
    assert edit is not None, "the action carries no edit"
    out: list[types.TextEdit] = []
    for change in edit.document_changes or []:
        if isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri:
            out += [e for e in change.edits if isinstance(e, types.TextEdit)]
    out += list((edit.changes or {}).get(uri, []))
    return out


def heavy_module(copies: int = 120) -> str:
    """A few thousand lines of losses (so that one analysis takes long enough to be overtaken)."""
    fixture = (DATA / "broken_losses.py").read_text()
    head, _, body = fixture.partition("from tensorflow import keras\n")
    parts = [head + "from tensorflow import keras\n", "model = keras.Sequential([keras.layers.Dense(1)])\n"]
    for n in range(copies):
        parts.append(body.replace("(y_true, y_pred)", f"_{n}(y_true, y_pred)")
                     .replace("loss=numpy_mse", f"loss=numpy_mse_{n}")
                     .replace("loss=detached_mae", f"loss=detached_mae_{n}")
                     .replace("loss=cross_entropy", f"loss=cross_entropy_{n}")
                     .replace("loss=plain_mse", f"loss=plain_mse_{n}"))
    return "".join(parts)
