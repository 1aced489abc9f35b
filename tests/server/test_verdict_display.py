"""How verdicts read in an editor: the verdict leads the message (the Problems panel cuts long
messages), a finding the gradient check did not reproduce drops to a hint (or the severity set in
`notReproducedSeverity`), and the hover shows the fix before the explanation. Real server over
stdio, real TensorFlow in the gradient-check worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from loss_lsp.server.gradients import availability
from tests.server.helpers import RecordingClient, open_document, wait_diagnostics

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not availability()[0], reason=f"gradient check not installed: {availability()[1]}"),
]

# guarded_sqrt: LL206 flags the naive tf.where guard, but TensorFlow 2.21 gives a zero gradient
# through it (tests/gradcheck/data/numerics.py), so the check does not reproduce it.
# log_loss: LL201, confirmed (NaN at y_pred = 0).
SOURCE = '''import tensorflow as tf


def guarded_sqrt(y_true, y_pred):
    sq = tf.reduce_sum(tf.square(y_true - y_pred), axis=-1)
    return tf.reduce_mean(tf.where(sq > 0.0, tf.sqrt(sq), tf.zeros_like(sq)))


def log_loss(y_true, y_pred):
    return -tf.reduce_mean(y_true * tf.math.log(y_pred))
'''


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verdicts")
    (root / "losses.py").write_text(SOURCE)
    return root


def by_code(params: types.PublishDiagnosticsParams) -> dict[str, types.Diagnostic]:
    return {str(d.code): d for d in params.diagnostics}


async def hover_text(client: RecordingClient, uri: str, diagnostic: types.Diagnostic) -> str:
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=diagnostic.range.start))
    assert hover is not None
    return hover.contents.value  # type: ignore[union-attr]


async def test_verdicts_lead_and_refuted_findings_become_hints(client: RecordingClient, workspace: Path) -> None:
    uri = open_document(client, workspace / "losses.py")
    before = by_code(await wait_diagnostics(client, uri, version=1))
    assert set(before) == {"LL201", "LL206"}
    assert before["LL206"].severity == types.DiagnosticSeverity.Warning  # the rule's own severity, unchecked

    since = len(client.published)
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="loss-lsp.checkGradients", arguments=[uri]))
    after = by_code(await wait_diagnostics(client, uri, since=since,
                                           where=lambda d: len(d) == 2 and all(x.data.get("verdict") for x in d)))
    confirmed, refuted = after["LL201"], after["LL206"]
    assert confirmed.data["verdict"] == "confirmed" and refuted.data["verdict"] == "not_reproduced"

    # The verdict is the first thing a cut-off row shows; the evidence stays out of the message.
    assert confirmed.message == "[confirmed] " + before["LL201"].message
    assert refuted.message == "[not reproduced] " + before["LL206"].message
    assert confirmed.data["evidence"] not in confirmed.message

    assert confirmed.severity == types.DiagnosticSeverity.Warning
    assert refuted.severity == types.DiagnosticSeverity.Hint

    # The hover of the refuted finding: its verdict and severity on the title line, the evidence,
    # and the fix before the explanation.
    text = await hover_text(client, uri, refuted)
    title = text.splitlines()[0]
    assert "LL206" in title and "hint" in title and "not reproduced" in title, title
    assert refuted.data["evidence"].rstrip(".") in text
    assert text.index("**Fix:**") < text.index("Gradient check: not reproduced") < text.index("Why it breaks")


async def test_refuted_severity_is_a_setting(client: RecordingClient, workspace: Path) -> None:
    uri = (workspace / "losses.py").as_uri()
    since = len(client.published)
    # This client cannot answer workspace/configuration: the settings come with the notification.
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"lossLsp": {"notReproducedSeverity": "info"}}))
    published = by_code(await wait_diagnostics(
        client, uri, since=since,
        where=lambda d: any(x.severity == types.DiagnosticSeverity.Information for x in d)))
    assert published["LL206"].severity == types.DiagnosticSeverity.Information
    assert published["LL201"].severity == types.DiagnosticSeverity.Warning  # confirmed: unchanged
    assert "· info ·" in (await hover_text(client, uri, published["LL206"])).splitlines()[0]
