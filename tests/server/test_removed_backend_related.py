"""LL406 through the real server: a module written against Keras 2's backend gets one diagnostic, whose
related information points at every other removed call, and whose one quick fix ports them all."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from tests.server.helpers import (
    RecordingClient,
    apply_text_edits,
    edits_of,
    open_document,
    wait_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

LOSSES = '''import keras
from keras import backend as K


def loss(y_true, y_pred):
    return K.mean(K.square(y_true - y_pred), axis=-1)


def scaled(y_true, y_pred):
    return K.sum(K.abs(y_true - y_pred)) * K.get_value(keras.Variable(2.0))
'''


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("backend")
    (root / "requirements.txt").write_text("keras>=3\n")
    (root / "losses.py").write_text(LOSSES)
    return root


async def test_one_diagnostic_relates_every_removed_call_and_its_fix_ports_them(client: RecordingClient,
                                                                                workspace: Path) -> None:
    uri = open_document(client, workspace / "losses.py")
    published = await wait_diagnostics(client, uri, where=lambda d: any(x.code == "LL406" for x in d))
    (diagnostic,) = [d for d in published.diagnostics if d.code == "LL406"]
    assert (diagnostic.range.start.line, diagnostic.range.start.character) == (5, 11)  # K.mean
    related = [(r.location.range.start.line, r.location.range.start.character)
               for r in diagnostic.related_information or []]
    assert related == [(5, 18), (9, 11), (9, 17), (9, 43)]  # K.square, K.sum, K.abs, K.get_value
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic])))
    (port,) = [a for a in actions or [] if isinstance(a, types.CodeAction) and a.title.startswith("Use `ops`")]
    fixed = apply_text_edits(LOSSES, edits_of(port.edit, uri))
    assert "ops.mean(ops.square(y_true - y_pred), axis=-1)" in fixed
    assert "ops.sum(ops.abs(y_true - y_pred)) * K.get_value(" in fixed  # no keras.ops namesake: left as is
    assert "from keras import ops\n" in fixed
