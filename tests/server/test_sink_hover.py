"""A finding in a training step (found from its sink, not from a loss signature): the real server
publishes it and its hover says what differentiates the computation."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from tests.server.helpers import RecordingClient, open_document, wait_diagnostics

pytestmark = pytest.mark.asyncio(loop_scope="module")

STEP = '''import tensorflow as tf

model = tf.keras.Sequential([tf.keras.layers.Dense(3, activation="softmax")])


@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        probs = model(x, training=True)
        loss = -tf.reduce_mean(tf.reduce_sum(y * tf.math.log(probs), axis=-1))
    return tape.gradient(loss, model.trainable_variables)
'''


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sinks")
    (root / "step.py").write_text(STEP)
    return root


async def test_hover_names_the_sink_of_a_training_step(client: RecordingClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "step.py")
    published = await wait_diagnostics(client, uri, version=1)
    [diagnostic] = published.diagnostics
    assert (diagnostic.code, diagnostic.range.start.line) == ("LL201", 9)
    result = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=diagnostic.range.start))
    assert result is not None and isinstance(result.contents, types.MarkupContent)
    assert "In `train_step`, differentiated by `tape.gradient` at line 11." in result.contents.value
