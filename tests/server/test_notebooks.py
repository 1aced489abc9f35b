"""Notebook sync (LSP 3.17) through the real server over stdio: cells analysed as one module,
diagnostics pushed per cell at cell-relative positions, quick fixes and hover in cells, edits,
structure changes, close, and the gradient check on a notebook's losses.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types

from tests.server.helpers import (
    CONFIG,
    RecordingClient,
    apply_text_edits,
    capabilities,
    codes,
    edits_of,
    initialize,
    wait_diagnostics,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETUP = "import tensorflow as tf\n%matplotlib inline\n!pip list | grep keras"
# Named (t, p): only the compile site in a later cell makes this function a loss.
DEFINE = "def my_loss(t, p):\n    # the loss\n    return -tf.reduce_mean(t * tf.math.log(p))"
COMPILE = ("model = tf.keras.Sequential([tf.keras.layers.Dense(1, activation='sigmoid')])\n"
           "model.compile(optimizer='adam', loss=my_loss)")
FLAGGED = "tf.math.log(p)"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("notebooks")
    (root / "train.ipynb").write_text("{}")  # the server reads the cells from the client, not the file
    return root


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: RecordingClient, workspace: Path):
    caps = capabilities(pull=True)  # a client that pulls, as VS Code's does (cells are pushed regardless)
    caps.notebook_document = types.NotebookDocumentClientCapabilities(
        synchronization=types.NotebookDocumentSyncClientCapabilities())
    result = await initialize(lsp_client, workspace, caps)
    lsp_client.server_capabilities_ = result.capabilities  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


class Notebook:
    """A notebook as an editor holds it: cell documents with versions, in an order that can change."""

    def __init__(self, client: RecordingClient, path: Path, sources: list[tuple[str, str]]) -> None:
        self.client = client
        self.uri = path.as_uri()
        self.version = 1
        self.counter = 0
        self.cells: list[types.NotebookCell] = []
        self.items: list[types.TextDocumentItem] = []
        for kind, text in sources:
            self._make(kind, text)

    def _make(self, kind: str, text: str) -> tuple[types.NotebookCell, types.TextDocumentItem]:
        self.counter += 1
        # as VS Code names cells: the fragment is percent-encoded base64 (pygls keys documents unquoted)
        fragment = base64.b64encode(f"cell{self.counter}".encode()).decode().replace("=", "%3D")
        uri = f"vscode-notebook-cell:{self.uri[len('file://'):]}#{fragment}"
        code = kind == "code"
        cell = types.NotebookCell(kind=types.NotebookCellKind.Code if code else types.NotebookCellKind.Markup,
                                  document=uri)
        item = types.TextDocumentItem(uri=uri, language_id="python" if code else "markdown", version=1, text=text)
        self.cells.append(cell)
        self.items.append(item)
        return cell, item

    def cell_uri(self, index: int) -> str:
        return self.cells[index].document

    def open(self) -> None:
        self.client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(uri=self.uri, notebook_type="jupyter-notebook",
                                                     version=self.version, cells=list(self.cells)),
            cell_text_documents=list(self.items)))

    def edit(self, index: int, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
        """A ranged edit of one cell (as VS Code sends them)."""
        self.version += 1
        item = self.items[index]
        item.version += 1
        change = types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(*start), end=types.Position(*end)), text=text)
        self.client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=self.uri, version=self.version),
            change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(
                text_content=[types.NotebookDocumentCellContentChanges(
                    document=types.VersionedTextDocumentIdentifier(uri=item.uri, version=item.version),
                    changes=[change])]))))

    def insert(self, position: int, text: str) -> str:
        """A new code cell at ``position``."""
        self.version += 1
        cell, item = self._make("code", text)
        self.cells.pop()
        self.items.pop()
        self.cells.insert(position, cell)
        self.items.insert(position, item)
        self.client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=self.uri, version=self.version),
            change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(
                structure=types.NotebookDocumentCellChangeStructure(
                    array=types.NotebookCellArrayChange(start=position, delete_count=0, cells=[cell]),
                    did_open=[item])))))
        return item.uri

    def close(self) -> None:
        self.client.notebook_document_did_close(types.DidCloseNotebookDocumentParams(
            notebook_document=types.NotebookDocumentIdentifier(uri=self.uri),
            cell_text_documents=[types.TextDocumentIdentifier(uri=item.uri) for item in self.items]))


def flagged_range(text: str) -> types.Range:
    for number, line in enumerate(text.split("\n")):
        if FLAGGED in line:
            start = line.index(FLAGGED)
            return types.Range(start=types.Position(number, start), end=types.Position(number, start + len(FLAGGED)))
    raise AssertionError(f"{FLAGGED!r} is not in the cell")


def with_ll201(diagnostics: list[types.Diagnostic]) -> bool:
    return codes(diagnostics) == ["LL201"]


async def test_the_server_advertises_notebook_sync_for_python_cells(client: RecordingClient) -> None:
    sync = client.server_capabilities_.notebook_document_sync  # type: ignore[attr-defined]
    [selector] = sync.notebook_selector
    assert selector.notebook == "jupyter-notebook" and [c.language for c in selector.cells] == ["python"]


async def test_a_loss_compiled_in_a_later_cell_is_flagged_in_its_own_cell(client: RecordingClient,
                                                                          workspace: Path) -> None:
    notebook = Notebook(client, workspace / "train.ipynb",
                        [("markdown", "# Training"), ("code", SETUP), ("code", DEFINE), ("code", COMPILE)])
    since = len(client.published)
    notebook.open()
    published = await wait_diagnostics(client, notebook.cell_uri(2), where=with_ll201, since=since)
    [diagnostic] = published.diagnostics
    assert diagnostic.range == flagged_range(DEFINE)  # cell-relative, not the joined module's line 5
    info = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="loss-lsp.serverInfo"))
    assert info["openNotebooks"] == 1
    assert published.version == 1  # the cell document's version
    others = {p.uri for p in client.published[since:]} - {notebook.cell_uri(2)}
    assert notebook.uri not in others  # nothing is published for the notebook itself

    # a quick fix edits that cell
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=notebook.cell_uri(2)), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic])))
    fix = next(a for a in actions or [] if isinstance(a, types.CodeAction) and a.is_preferred)
    fixed = apply_text_edits(DEFINE, edits_of(fix.edit, notebook.cell_uri(2)))
    assert "tf.math.log(tf.clip_by_value(p, 1e-7, 1.0 - 1e-7))" in fixed
    suppress = next(a for a in actions or [] if "Ignore LL201" in a.title)
    assert "# loss-lsp: ignore[LL201]" in apply_text_edits(DEFINE, edits_of(suppress.edit, notebook.cell_uri(2)))

    # hover in the cell
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=notebook.cell_uri(2)), position=diagnostic.range.start))
    assert hover is not None and "LL201" in hover.contents.value and hover.range == diagnostic.range

    # pull requests for a cell answer nothing: its diagnostics are pushed (no duplicates in the editor)
    report = await client.text_document_diagnostic_async(types.DocumentDiagnosticParams(
        text_document=types.TextDocumentIdentifier(uri=notebook.cell_uri(2))))
    assert list(report.items) == []

    # editing the compile cell so it no longer uses my_loss clears the finding in the other cell
    line = COMPILE.split("\n")[1]
    start = line.index("my_loss")
    since = len(client.published)
    notebook.edit(3, (1, start), (1, start + len("my_loss")), "'mse'")
    await wait_diagnostics(client, notebook.cell_uri(2), where=lambda d: d == [], since=since)

    # ... and a new cell that compiles it again brings it back, with the fix applied in the defining cell
    since = len(client.published)
    fixed_text = apply_text_edits(DEFINE, edits_of(fix.edit, notebook.cell_uri(2)))
    notebook.insert(4, "model.compile(loss=my_loss)")
    await wait_diagnostics(client, notebook.cell_uri(2), where=with_ll201, since=since)
    since = len(client.published)
    last = DEFINE.split("\n")
    notebook.edit(2, (0, 0), (len(last) - 1, len(last[-1])), fixed_text)
    await wait_diagnostics(client, notebook.cell_uri(2), where=lambda d: d == [], since=since)

    # closing the notebook clears every cell that had diagnostics
    since = len(client.published)
    notebook.edit(2, (0, 0), (len(last) - 1, len(fixed_text.split("\n")[-1])), DEFINE)
    await wait_diagnostics(client, notebook.cell_uri(2), where=with_ll201, since=since)
    since = len(client.published)
    notebook.close()
    await wait_diagnostics(client, notebook.cell_uri(2), where=lambda d: d == [], since=since)


async def test_the_gradient_check_runs_on_a_notebooks_losses(client: RecordingClient, workspace: Path) -> None:
    notebook = Notebook(client, workspace / "train.ipynb",
                        [("code", SETUP), ("code", "raise SystemExit('never run the notebook')"),
                         ("code", DEFINE), ("code", COMPILE)])
    since = len(client.published)
    notebook.open()
    await wait_diagnostics(client, notebook.cell_uri(2), where=with_ll201, since=since)
    since = len(client.published)
    answer = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="loss-lsp.checkGradients", arguments=[notebook.cell_uri(2), {"line": 2, "character": 30}]))
    [file] = answer["files"]
    assert file["uri"] == notebook.uri
    [finding] = [f for f in file["findings"] if f["code"] == "LL201"]
    assert finding["verdict"] == "confirmed" and finding["cell"] == notebook.cell_uri(2)
    assert finding["span"][0] == 2  # the cell's line
    published = await wait_diagnostics(
        client, notebook.cell_uri(2), since=since,
        where=lambda d: len(d) == 1 and isinstance(d[0].data, dict) and d[0].data.get("verdict") == "confirmed")
    assert "cell 3, line 3" in published.diagnostics[0].data["evidence"]  # lines named by cell, not module
    notebook.close()


async def pulled_codes(client: RecordingClient, uri: str, want: list[str]) -> list[types.Diagnostic]:
    """Pull a .py document's diagnostics (this client pulls) until their codes are ``want``."""
    for _ in range(150):
        report = await client.text_document_diagnostic_async(types.DocumentDiagnosticParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        if codes(list(report.items)) == want:
            return list(report.items)
        await asyncio.sleep(0.2)
    raise AssertionError(f"{uri} never had {want}")


async def test_a_loss_defined_in_a_module_and_compiled_in_a_notebook_is_reported_in_the_module(
        client: RecordingClient, workspace: Path) -> None:
    module = workspace / "my_losses.py"
    module.write_text("import tensorflow as tf\n\n\n" + DEFINE + "\n")
    module_uri = module.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=module_uri, language_id="python", version=1, text=module.read_text())))
    await pulled_codes(client, module_uri, [])  # (t, p): not a loss by itself
    notebook = Notebook(client, workspace / "uses_module.ipynb",
                        [("code", "import tensorflow as tf\nfrom my_losses import my_loss"), ("code", COMPILE)])
    notebook.open()
    [diagnostic] = await pulled_codes(client, module_uri, ["LL201"])
    assert diagnostic.range.start.line == 5
    column = COMPILE.split("\n")[1].index("my_loss")
    notebook.edit(1, (1, column), (1, column + len("my_loss")), "'mse'")  # unsaved: the module follows the cell
    await pulled_codes(client, module_uri, [])
    notebook.edit(1, (1, column), (1, column + len("'mse'")), "my_loss")
    await pulled_codes(client, module_uri, ["LL201"])
    notebook.close()  # the notebook leaves the index: the module's finding goes with it
    await pulled_codes(client, module_uri, [])


async def test_fix_all_in_a_cell_and_a_change_to_an_unknown_notebook(client: RecordingClient, workspace: Path) -> None:
    two = DEFINE + "\n\ndef other(y_true, y_pred):\n    return tf.reduce_mean(tf.math.log(y_pred))"
    notebook = Notebook(client, workspace / "fix_all.ipynb", [("code", SETUP), ("code", two), ("code", COMPILE)])
    since = len(client.published)
    notebook.open()
    published = await wait_diagnostics(client, notebook.cell_uri(1), where=lambda d: codes(d) == ["LL201", "LL201"],
                                       since=since)
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=notebook.cell_uri(1)),
        range=published.diagnostics[0].range,
        context=types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.SourceFixAll])))
    [fix_all] = actions or []
    assert set((fix_all.edit.changes or {})) | {c.text_document.uri for c in fix_all.edit.document_changes or []} \
        == {notebook.cell_uri(1)}  # only this cell is edited
    fixed = apply_text_edits(two, edits_of(fix_all.edit, notebook.cell_uri(1)))
    assert fixed.count("tf.clip_by_value(") == 2

    # a didChange for a notebook that was never opened is ignored; the server keeps answering
    info = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="loss-lsp.serverInfo"))
    open_before = info["openDocuments"]
    client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
        notebook_document=types.VersionedNotebookDocumentIdentifier(uri=(workspace / "never.ipynb").as_uri(),
                                                                     version=2),
        change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(text_content=[]))))
    info = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="loss-lsp.serverInfo"))
    assert info["openDocuments"] == open_before  # nothing was opened by it
    notebook.close()


async def test_a_fix_that_adds_an_import_edits_the_cell_it_belongs_in(client: RecordingClient,
                                                                      workspace: Path) -> None:
    weighted = "def weighted(y_true, y_pred, weight):\n    return tf.reduce_mean(weight * tf.square(y_true - y_pred))"
    compile_cell = "model = tf.keras.Sequential([tf.keras.layers.Dense(1)])\nmodel.compile(optimizer='adam', loss=weighted)"
    notebook = Notebook(client, workspace / "partial.ipynb",
                        [("code", "import tensorflow as tf"), ("code", weighted), ("code", compile_cell)])
    since = len(client.published)
    notebook.open()
    published = await wait_diagnostics(client, notebook.cell_uri(2), where=lambda d: codes(d) == ["LL404"],
                                       since=since)
    [diagnostic] = published.diagnostics
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=notebook.cell_uri(2)), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic])))
    fix = next(a for a in actions or [] if "functools.partial" in a.title)
    in_compile_cell = apply_text_edits(compile_cell, edits_of(fix.edit, notebook.cell_uri(2)))
    assert "loss=functools.partial(weighted, weight=...)" in in_compile_cell
    # `import functools` goes where the joined module wants it: after the imports, at the top of the
    # next cell; it is one edit with the cell's own version, not an edit of the compile cell
    changes = {change.text_document.uri: change for change in fix.edit.document_changes or []}
    assert set(changes) == {notebook.cell_uri(1), notebook.cell_uri(2)}
    assert changes[notebook.cell_uri(1)].text_document.version == 1
    assert apply_text_edits(weighted, edits_of(fix.edit, notebook.cell_uri(1))).startswith("import functools\ndef ")
    notebook.close()
