"""Through the real server: a helper in one module, differentiated by a training loop in another.

The finding is published on the helper's line in the helper's module, with the calling line in the other
module as related information; editing the caller (without saving) republishes the helper's module.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from tests.server.helpers import (
    RecordingClient,
    change_document,
    open_document,
    wait_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

HELPERS = '''import tensorflow as tf


def scaled_xent(probabilities, labels):
    return -tf.reduce_mean(tf.reduce_sum(labels * tf.math.log(probabilities), axis=-1))
'''
TRAIN = '''import tensorflow as tf
import pkg.helpers as h

model = tf.keras.Sequential([tf.keras.layers.Dense(3, activation="softmax")])


@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        loss = h.scaled_xent(model(x), y)
    return tape.gradient(loss, model.trainable_variables)
'''
CALL_LINE = 9  # 0-based line of ``h.scaled_xent(...)`` in TRAIN
LOG_LINE = 4  # 0-based line of ``tf.math.log`` in HELPERS


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crossmod")
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "helpers.py").write_text(HELPERS)
    (root / "train.py").write_text(TRAIN)
    return root


async def test_the_helper_module_shows_the_finding_with_the_calling_line(client: RecordingClient,
                                                                         workspace: Path) -> None:
    helpers_uri = open_document(client, workspace / "pkg" / "helpers.py")
    published = await wait_diagnostics(client, helpers_uri, where=bool)
    [diagnostic] = published.diagnostics
    assert diagnostic.code == "LL201" and diagnostic.range.start.line == LOG_LINE
    [related] = diagnostic.related_information or []
    assert related.location.uri == (workspace / "train.py").as_uri()
    assert related.location.range.start.line == CALL_LINE
    assert "tape.gradient" in related.message
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=helpers_uri), position=diagnostic.range.start))
    assert hover is not None and "differentiated by `tape.gradient`" in hover.contents.value  # type: ignore[union-attr]


async def test_editing_the_caller_republishes_the_helper_module(client: RecordingClient, workspace: Path) -> None:
    helpers_uri = (workspace / "pkg" / "helpers.py").as_uri()
    train_uri = open_document(client, workspace / "train.py")
    since = len(client.published)
    change_document(client, train_uri, 2, TRAIN.replace("h.scaled_xent(model(x), y)", "tf.reduce_mean(model(x))"))
    await wait_diagnostics(client, helpers_uri, since=since, where=lambda d: not d)  # unsaved, and already gone
    since = len(client.published)
    moved = "\n\n" + TRAIN  # the call is back, two lines lower
    change_document(client, train_uri, 3, moved)
    published = await wait_diagnostics(client, helpers_uri, since=since, where=bool)
    [diagnostic] = published.diagnostics
    [related] = diagnostic.related_information or []
    assert related.location.range.start.line == CALL_LINE + 2
