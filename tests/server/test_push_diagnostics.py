"""Diagnostics pushed to a UTF-16 client, quick fixes, fix-all, suppression, hover.

One real server (``python -m loss_lsp serve``) serves every test of this module.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from tests.server.helpers import (
    RecordingClient,
    apply_text_edits,
    change_document,
    codes,
    copy_data,
    edits_of,
    open_document,
    wait_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_data(tmp_path_factory.mktemp("push"), "broken_losses.py", "unicode_columns.py")


def _utf16_range(line_text: str, line: int, needle: str) -> tuple[int, int, int]:
    start = line_text.index(needle)
    units = len(line_text[:start].encode("utf-16-le")) // 2
    return line, units, units + len(needle.encode("utf-16-le")) // 2


def _locate(text: str, needle: str) -> tuple[int, str]:
    for number, line in enumerate(text.split("\n")):
        if needle in line:
            return number, line
    raise AssertionError(f"{needle!r} not in the fixture")


async def test_open_publishes_expected_diagnostics(client: RecordingClient, workspace: Path) -> None:
    path = workspace / "broken_losses.py"
    text = path.read_text()
    uri = open_document(client, path)
    published = await wait_diagnostics(client, uri, version=1)
    diagnostics = list(published.diagnostics)
    assert codes(diagnostics) == ["LL101", "LL102", "LL201"]
    by_code = {d.code: d for d in diagnostics}
    for code, needle in (("LL101", "np.mean(tf.square(y_true - y_pred))"), ("LL102", "y_pred.numpy()"),
                         ("LL201", "tf.math.log(y_pred)")):
        number, line_text = _locate(text, needle)
        line, start, end = _utf16_range(line_text, number, needle)
        diagnostic = by_code[code]
        assert (diagnostic.range.start.line, diagnostic.range.start.character, diagnostic.range.end.character) == (
            line, start, end), code
        assert diagnostic.source == "loss-lsp"
        assert diagnostic.code_description is not None and diagnostic.code_description.href.endswith(f"{code}.md")
        assert diagnostic.data["fix"]["applicability"] in ("safe", "unsafe")
    assert by_code["LL101"].severity == types.DiagnosticSeverity.Error
    assert published.version == 1


async def test_quick_fix_removes_the_diagnostic(client: RecordingClient, workspace: Path) -> None:
    path = workspace / "broken_losses.py"
    uri = path.as_uri()
    published = await wait_diagnostics(client, uri, version=1)
    target = next(d for d in published.diagnostics if d.code == "LL102")
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=target.range,
        context=types.CodeActionContext(diagnostics=[target])))
    assert actions
    fixes = [a for a in actions if isinstance(a, types.CodeAction) and a.kind == "quickfix" and a.is_preferred]
    assert len(fixes) == 1 and "LL102" in fixes[0].title
    new_text = apply_text_edits(path.read_text(), edits_of(fixes[0].edit, uri))
    assert "y_pred.numpy()" not in new_text
    change_document(client, uri, 2, new_text)
    after = await wait_diagnostics(client, uri, version=2)
    assert codes(list(after.diagnostics)) == ["LL101", "LL201"]
    change_document(client, uri, 3, path.read_text())  # back to the fixture for the next tests
    await wait_diagnostics(client, uri, version=3)


async def test_fix_all_applies_every_safe_fix(client: RecordingClient, workspace: Path) -> None:
    path = workspace / "broken_losses.py"
    uri = path.as_uri()
    await wait_diagnostics(client, uri, version=3)
    whole = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=whole,
        context=types.CodeActionContext(diagnostics=[], only=["source.fixAll"])))
    assert actions is not None and [a.kind for a in actions] == ["source.fixAll.loss-lsp"]
    fixed = apply_text_edits(path.read_text(), edits_of(actions[0].edit, uri))
    change_document(client, uri, 4, fixed)
    after = await wait_diagnostics(client, uri, version=4)
    assert list(after.diagnostics) == []
    change_document(client, uri, 5, path.read_text())
    await wait_diagnostics(client, uri, version=5)


async def test_suppress_action_adds_ignore_comment(client: RecordingClient, workspace: Path) -> None:
    path = workspace / "broken_losses.py"
    uri = path.as_uri()
    published = await wait_diagnostics(client, uri, version=5)
    target = next(d for d in published.diagnostics if d.code == "LL201")
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=target.range,
        context=types.CodeActionContext(diagnostics=[target], only=["quickfix"])))
    suppress = [a for a in actions or [] if "ignore[LL201]" in a.title]
    assert len(suppress) == 1 and not suppress[0].is_preferred
    suppressed = apply_text_edits(path.read_text(), edits_of(suppress[0].edit, uri))
    line = suppressed.split("\n")[target.range.start.line]
    assert line.endswith("# loss-lsp: ignore[LL201]") and "tf.math.log(y_pred)" in line
    change_document(client, uri, 6, suppressed)
    after = await wait_diagnostics(client, uri, version=6)
    assert codes(list(after.diagnostics)) == ["LL101", "LL102"]


async def test_hover_explains_rule_and_previews_fix(client: RecordingClient, workspace: Path) -> None:
    path = workspace / "broken_losses.py"
    uri = path.as_uri()
    published = await wait_diagnostics(client, uri, version=6)
    target = next(d for d in published.diagnostics if d.code == "LL101")
    inside = types.Position(line=target.range.start.line, character=target.range.start.character + 3)
    result = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=inside))
    assert result is not None and isinstance(result.contents, types.MarkupContent)
    text = result.contents.value
    assert "LL101" in text and "Why it breaks training" in text
    assert "-    return np.mean(tf.square(y_true - y_pred))" in text
    assert "+    return tf.reduce_mean(tf.square(y_true - y_pred))" in text
    assert result.range == target.range
    nothing = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=0, character=0)))
    assert nothing is None


async def test_utf16_columns_after_cjk_and_emoji(client: RecordingClient, workspace: Path) -> None:
    path = workspace / "unicode_columns.py"
    text = path.read_text()
    uri = open_document(client, path)
    published = await wait_diagnostics(client, uri, version=1)
    (diagnostic,) = published.diagnostics
    needle = "np.mean(tf.square(y_true - y_pred))"
    number, line = _locate(text, needle)
    code_points = line.index(needle)
    expected = len(line[:code_points].encode("utf-16-le")) // 2
    assert expected == code_points + 1  # the emoji is two UTF-16 code units
    assert diagnostic.range.start == types.Position(line=number, character=expected)
    assert diagnostic.range.end.character == expected + len(needle)
    # The quick fix's edit must land on the same expression.
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic], only=["quickfix"])))
    fix = next(a for a in actions or [] if a.is_preferred)
    fixed = apply_text_edits(text, edits_of(fix.edit, uri))
    assert 'tag = "损失函数🔥"; return tf.reduce_mean(tf.square(y_true - y_pred))' in fixed


async def test_close_clears_diagnostics(client: RecordingClient, workspace: Path) -> None:
    uri = (workspace / "unicode_columns.py").as_uri()
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    cleared = await wait_diagnostics(client, uri, where=lambda d: d == [])
    assert list(cleared.diagnostics) == []
