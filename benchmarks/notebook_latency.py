"""Latency of a notebook cell edit, beside the same code edited as one .py file, in the same run.

The generated training module of ``server_latency.py`` is cut into code cells (one per
loss and its compile call, every fifth cell with an IPython magic line). One server:

* the notebook: ``notebookDocument/didOpen``, then ranged edits in one cell ->
  the ``publishDiagnostics`` of that cell's version;
* the same text as a .py document: the same edits -> its ``publishDiagnostics``.

The difference is what notebooks cost: joining the cells and splitting the result per cell.

Run:  python benchmarks/notebook_latency.py [--sizes 1000 5000] [--changes 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from server_latency import Client, edit_line, ms, percentile, training_module  # noqa: E402


def cells_of(text: str) -> list[str]:
    """The module cut at blank lines before each `def`/`class`, with a magic line in every fifth cell."""
    cells: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line.startswith(("def ", "class ")) and cells[-1]:
            cells.append([])
        cells[-1].append(line)
    for number, cell in enumerate(cells):
        if number % 5 == 4:
            cell.insert(0, "%time")
    return ["\n".join(cell) for cell in cells]


async def initialize(client: Client, root: Path) -> None:
    await client.request("initialize", {
        "processId": os.getpid(), "rootUri": root.as_uri(),
        "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
        "capabilities": {"textDocument": {"publishDiagnostics": {"versionSupport": True}},
                         "notebookDocument": {"synchronization": {}}}})
    client.notify("initialized", {})


def ranged(line: int, old: str, new: str) -> dict:
    return {"range": {"start": {"line": line, "character": 0}, "end": {"line": line, "character": len(old)}},
            "text": new}


async def measure(n_lines: int, changes: int) -> None:
    text = training_module(n_lines)
    cells = cells_of(text)
    target_line = edit_line(text)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        client = await Client.start()
        await initialize(client, root)

        # the notebook
        notebook_uri = (root / "train.ipynb").as_uri()
        cell_uris = [f"vscode-notebook-cell:{root}/train.ipynb#C{n}" for n in range(len(cells))]
        seen = 0
        for number, cell in enumerate(cells):  # the cell and line of the edited module line
            lines = cell.split("\n")
            offset = 1 if lines[0] == "%time" else 0
            count = len(lines) - offset
            if seen <= target_line < seen + count:
                cell_index, cell_line = number, target_line - seen + offset
                break
            seen += count
        opened = client.expect_diagnostics(cell_uris[cell_index], 1)
        started = time.perf_counter()
        client.notify("notebookDocument/didOpen", {
            "notebookDocument": {"uri": notebook_uri, "notebookType": "jupyter-notebook", "version": 1,
                         "cells": [{"kind": 2, "document": uri} for uri in cell_uris]},
            "cellTextDocuments": [{"uri": uri, "languageId": "python", "version": 1, "text": cell}
                                  for uri, cell in zip(cell_uris, cells)]})
        notebook_cold = await opened - started
        old = cells[cell_index].split("\n")[cell_line]
        notebook_times = []
        for k in range(changes):
            new = f"    scaled = diff * {k + 2}.5"
            published = client.expect_diagnostics(cell_uris[cell_index], k + 2)
            started = time.perf_counter()
            client.notify("notebookDocument/didChange", {
                "notebookDocument": {"uri": notebook_uri, "version": k + 2},
                "change": {"cells": {"textContent": [{
                    "document": {"uri": cell_uris[cell_index], "version": k + 2},
                    "changes": [ranged(cell_line, old, new)]}]}}})
            notebook_times.append(await published - started)
            old = new
        client.notify("notebookDocument/didClose", {"notebookDocument": {"uri": notebook_uri},
                                                    "cellTextDocuments": [{"uri": u} for u in cell_uris]})

        # the same code as one .py file
        joined = "\n".join(cell for cell in cells).replace("%time\n", "\n")
        module_uri = (root / "train.py").as_uri()
        module_line = sum(len(c.split("\n")) for c in cells[:cell_index]) + cell_line
        opened = client.expect_diagnostics(module_uri, 1)
        started = time.perf_counter()
        client.notify("textDocument/didOpen", {"textDocument": {"uri": module_uri, "languageId": "python",
                                                                "version": 1, "text": joined}})
        module_cold = await opened - started
        old = joined.split("\n")[module_line]
        module_times = []
        for k in range(changes):
            new = f"    scaled = diff * {k + 2}.5"
            published = client.expect_diagnostics(module_uri, k + 2)
            started = time.perf_counter()
            client.notify("textDocument/didChange", {"textDocument": {"uri": module_uri, "version": k + 2},
                                                     "contentChanges": [ranged(module_line, old, new)]})
            module_times.append(await published - started)
            old = new
        await client.close()
    p50_nb, p50_py = statistics.median(notebook_times), statistics.median(module_times)
    print(f"\n{text.count(chr(10)):,} lines in {len(cells)} cells:")
    print(f"  cold open -> diagnostics:  notebook {ms(notebook_cold)}   same code as .py {ms(module_cold)}")
    print(f"  edit -> diagnostics p50:   notebook {ms(p50_nb)}   same code as .py {ms(p50_py)}   "
          f"ratio {p50_nb / p50_py:.2f}")
    print(f"  edit -> diagnostics p95:   notebook {ms(percentile(notebook_times, 0.95))}   "
          f"same code as .py {ms(percentile(module_times, 0.95))}   (n={changes} each)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--changes", type=int, default=100)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs")
    for size in args.sizes:
        await measure(size, args.changes)


if __name__ == "__main__":
    asyncio.run(main())
