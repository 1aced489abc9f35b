"""An edit storm against the real server: the scenario shared by the test and the benchmark.

A 2,000-line training module gets N didChange notifications written back to back (no
waiting for anything), incremental and whole-document changes mixed, a few with two
ranged changes in one notification. Meanwhile 200 small modules are opened and closed and
hover / codeAction requests go out. The client keeps its own copy of the text (as an
editor does), so at the end it knows what the server must have.

The module has a form feed, a U+2028 inside a string and an emoji in a comment above
every edited line: a server that splits lines differently from LSP drifts (see
loss_lsp/server/documents.py).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.resilience.lsp_pipe import PipeClient

MODULE_LINES = 2000
SMALL_FILES = 200
_SEVERITY = {"error": 1, "warning": 2, "info": 3, "hint": 4}


def storm_module(n_lines: int = MODULE_LINES) -> str:
    """A training module of about ``n_lines`` lines: losses, each compiled on a model of its own."""
    out = [
        '"""Training script with many losses (generated for the edit storm)."""',
        "import numpy as np",
        "import tensorflow as tf",
        "from tensorflow import keras",
        "",
        "\x0c# --- page break above (a form feed: not a line break for LSP) ---",
        'NOTE = "line\u2028separator inside a string"  # \U0001f680 an emoji, two UTF-16 units',
        "EPS = 1e-7",
        "",
    ]
    i = 0
    while len(out) < n_lines - 8:
        kind = i % 4
        if kind == 0:
            out += [f"def loss_{i}(y_true, y_pred):", "    diff = y_true - y_pred",
                    f"    scaled = diff * {i % 7 + 1}.0", "    return tf.reduce_mean(tf.square(scaled))", ""]
            construct = f"loss_{i}"
        elif kind == 1:
            out += [f"def loss_{i}(y_true, y_pred):", "    p = tf.clip_by_value(y_pred, EPS, 1.0 - EPS)",
                    "    ce = -y_true * tf.math.log(p)", "    return tf.reduce_mean(ce)", ""]
            construct = f"loss_{i}"
        elif kind == 2:
            out += [f"def loss_{i}(y_true, y_pred):", "    err = y_true - y_pred",
                    "    total = np.mean(err)", "    return total", ""]
            construct = f"loss_{i}"
        else:
            out += [f"class Loss{i}(keras.losses.Loss):", "    def call(self, y_true, y_pred):",
                    "        err = tf.abs(y_true - y_pred)", "        return tf.reduce_mean(err)", ""]
            construct = f"Loss{i}()"
        out += [f"model_{i} = keras.Sequential([keras.layers.Dense(1)])",
                f"model_{i}.compile(optimizer='adam', loss={construct})", ""]
        i += 1
    return "\n".join(out) + "\n"


def small_module(k: int) -> str:
    return (f"import numpy as np\nimport tensorflow as tf\nfrom tensorflow import keras\n\n\n"
            f"def small_loss_{k}(y_true, y_pred):\n    return np.mean(y_pred - y_true)\n\n\n"
            f"model = keras.Sequential([keras.layers.Dense(1)])\nmodel.compile(loss=small_loss_{k})\n")


def position(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


def ranged(line: int, start: int, end_line: int, end: int, text: str) -> dict[str, Any]:
    return {"range": {"start": position(line, start), "end": position(end_line, end)}, "text": text}


class Editor:
    """The client's copy of the document and a random typist working on it (ASCII loss bodies only)."""

    def __init__(self, text: str, rng: random.Random) -> None:
        self.lines = text.split("\n")  # no \r: LSP lines are exactly these
        self.rng = rng
        self.typed: list[tuple[int, int, int]] = []  # (line, column, length) of text typed, to delete later
        self.inserted: list[int] = []  # lines inserted, to delete later

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def _body_lines(self) -> list[int]:
        return [n for n, line in enumerate(self.lines) if line.startswith("    ") and line.isascii()]

    def _apply(self, change: dict[str, Any]) -> None:
        """Apply one ranged change to our copy, exactly as the server must."""
        start, end = change["range"]["start"], change["range"]["end"]
        head = self.lines[start["line"]][:start["character"]]
        tail = self.lines[end["line"]][end["character"]:]
        new = (head + change["text"] + tail).split("\n")
        self.lines[start["line"]:end["line"] + 1] = new
        shift = len(new) - (end["line"] - start["line"] + 1)
        if shift:
            self.typed = [(ln + shift if ln > start["line"] else ln, c, n) for ln, c, n in self.typed
                          if not start["line"] <= ln <= end["line"] or ln == start["line"]]
            self.inserted = [ln + shift if ln > start["line"] else ln for ln in self.inserted
                             if not start["line"] < ln <= end["line"]]

    def next_changes(self, whole: bool = True) -> list[dict[str, Any]] | str:
        """The next edit: a list of ranged changes, or (if ``whole``) the whole new text (a string)."""
        roll = self.rng.random()
        if whole and roll < 0.08:  # paste over everything (format-on-save, undo of a big block...)
            if self.rng.random() < 0.5:
                self._rename_a_loss()
            return self.text
        if roll < 0.13:  # two ranged changes in one notification
            return [self._one_change(), self._one_change()]
        return [self._one_change()]

    def _rename_a_loss(self) -> None:
        headers = [n for n, line in enumerate(self.lines) if line.startswith("def loss_")]
        n = self.rng.choice(headers)
        self.lines[n] = self.lines[n].replace("(y_true", "_x(y_true", 1) if "_x(" not in self.lines[n] \
            else self.lines[n].replace("_x(y_true", "(y_true", 1)

    def _one_change(self) -> dict[str, Any]:
        roll = self.rng.random()
        if len(self.typed) > 40:  # the module keeps its size: a storm, not a growing file
            roll = 0.0
        elif len(self.inserted) > 40:
            roll = 0.35
        if self.typed and roll < 0.3:  # backspace over what was typed
            line, column, length = self.typed.pop(self.rng.randrange(len(self.typed)))
            if line < len(self.lines) and column + length <= len(self.lines[line]):
                change = ranged(line, column, line, column + length, "")
                self._apply(change)
                return change
        if self.inserted and roll < 0.45:  # delete an inserted line
            line = self.inserted.pop()
            if line + 1 < len(self.lines):
                change = ranged(line, 0, line + 1, 0, "")
                self._apply(change)
                return change
        lines = self._body_lines()
        line = self.rng.choice(lines)
        text = self.lines[line]
        if roll < 0.65:  # type a few characters somewhere in a loss body
            column = self.rng.randint(4, len(text))
            typed = self.rng.choice(["x", " ", "(", "y_pred", " * 2", ".numpy()", ")", ":", "tf."])
            change = ranged(line, column, line, column, typed)
            self._apply(change)
            self.typed.append((line, column, len(typed)))
            return change
        if roll < 0.85:  # toggle a NumPy call / a detached tensor
            for old, new in (("tf.reduce_mean(", "np.mean("), ("np.mean(", "tf.reduce_mean("),
                             ("y_pred)", "y_pred.numpy())"), ("y_pred.numpy())", "y_pred)")):
                at = text.find(old)
                if at >= 0:
                    change = ranged(line, at, line, at + len(old), new)
                    self._apply(change)
                    return change
        # insert a line (Enter + typing), multi-line text in one change
        change = ranged(line, len(text), line, len(text), "\n    tmp = y_true * 2.0")
        self._apply(change)
        self.inserted.append(line + 1)
        return change


@dataclass
class StormReport:
    edits: int
    seconds_to_send: float = 0.0
    seconds_to_settle: float = 0.0
    rss_start_mb: float = 0.0
    rss_after_100_mb: float = 0.0
    rss_end_mb: float = 0.0
    final_version: int = 0
    final_text: str = ""
    publications: int = 0
    requests: int = 0
    request_errors: list[dict[str, Any]] = field(default_factory=list)
    version_regressions: list[tuple[str, Any, Any]] = field(default_factory=list)
    after_close: list[str] = field(default_factory=list)
    server_info: dict[str, Any] = field(default_factory=dict)
    rss_during_mb: dict[int, float] = field(default_factory=dict)  # edits sent -> RSS then (not settled)
    exit_code: int | None = None

    def summary(self) -> str:
        growth = (self.rss_end_mb / self.rss_after_100_mb - 1) * 100 if self.rss_after_100_mb else 0.0
        return (f"{self.edits} didChange on a {MODULE_LINES}-line module + {SMALL_FILES} files opened/closed + "
                f"{self.requests} hover/codeAction requests: sent in {self.seconds_to_send:.1f} s, settled "
                f"{self.seconds_to_settle:.1f} s later; {self.publications} publications; server RSS "
                f"{self.rss_start_mb:.1f} MB after open, {self.rss_after_100_mb:.1f} MB after 100 edits, "
                f"{self.rss_end_mb:.1f} MB after the storm ({growth:+.1f} %)")


async def run_storm(client: PipeClient, root: Path, edits: int, seed: int = 6, small_files: bool = True,
                    language_id: str = "python") -> StormReport:
    """``language_id="plaintext"``: the same messages with no analysis behind them (a reference)."""
    """Drive the storm; the caller checks the report (and the final diagnostics against analyze())."""
    rng = random.Random(seed)
    report = StormReport(edits)
    module = root / "storm_train.py"
    text = storm_module()
    module.write_text(text, encoding="utf-8")
    small_dir = root / "small"
    small_dir.mkdir(exist_ok=True)
    small_uris = []
    for k in range(SMALL_FILES):
        path = small_dir / f"small_{k}.py"
        path.write_text(small_module(k))
        small_uris.append(path.as_uri())
    uri = module.as_uri()
    editor = Editor(text, rng)

    async def indexed() -> bool:  # the workspace index is part of the steady state, not of the growth
        info = await client.result("workspace/executeCommand", {"command": "loss-lsp.serverInfo"})
        return info["indexedFiles"] >= SMALL_FILES + 1

    for _ in range(600):
        if await indexed():
            break
        await asyncio.sleep(0.1)
    client.did_open(uri, text, 1, language_id=language_id)
    await client.drain()
    await client.wait_published(uri, 1, timeout=120)
    report.rss_start_mb = client.rss_mb()

    pending: list[asyncio.Future[dict[str, Any]]] = []
    open_every = max(edits // (SMALL_FILES + 5), 1)
    opened = closed = 0
    version = 1
    started = time.perf_counter()
    for n in range(1, edits + 1):
        version += 1
        # The last edits are all ranged: a server that applies them wrongly cannot be rescued
        # by a whole-document change near the end.
        changes = editor.next_changes(whole=n <= edits - 300)
        if isinstance(changes, str):
            client.did_change(uri, version, [{"text": changes}])
        else:
            client.did_change(uri, version, changes)
        if small_files and n % open_every == 0:
            if opened < SMALL_FILES:
                client.did_open(small_uris[opened], small_module(opened), 1, language_id=language_id)
                opened += 1
            if (opened - closed > 5 or opened == SMALL_FILES) and closed < opened:
                client.did_close(small_uris[closed])
                closed += 1
        if n % 97 == 0:
            line = rng.randrange(len(editor.lines))
            pending.append(client.request_nowait("textDocument/hover", {
                "textDocument": {"uri": uri}, "position": position(line, rng.randrange(12))}))
            pending.append(client.request_nowait("textDocument/codeAction", {
                "textDocument": {"uri": uri}, "range": {"start": position(line, 0), "end": position(line + 3, 0)},
                "context": {"diagnostics": []}}))
        if n % 50 == 0:
            await client.drain()  # as fast as the pipe takes it
        if n % 1000 == 0:
            report.rss_during_mb[n] = client.rss_mb()
        if n == 100:
            await client.drain()
            await client.wait_published(uri, version, timeout=120)
            await client.result("textDocument/hover", {"textDocument": {"uri": uri}, "position": position(0, 0)})
            report.rss_after_100_mb = client.rss_mb()
    while closed < opened:
        client.did_close(small_uris[closed])
        closed += 1
    await client.drain()
    report.seconds_to_send = time.perf_counter() - started
    sent = time.perf_counter()
    report.final_version = version
    report.final_text = editor.text
    await client.wait_published(uri, version, timeout=300)
    # A hover waits for the result of the current text and settings: nothing is left in flight after it.
    await client.result("textDocument/hover", {"textDocument": {"uri": uri}, "position": position(0, 0)}, 300)
    responses = [await client.wait(future, 300) for future in pending]
    report.seconds_to_settle = time.perf_counter() - sent
    report.requests = len(pending)
    report.request_errors = [r for r in responses if "error" in r]
    report.server_info = await client.result("workspace/executeCommand", {"command": "loss-lsp.serverInfo"})
    report.rss_end_mb = client.rss_mb()
    report.publications = len(client.publications())
    report.version_regressions, report.after_close = _check_publications(client, uri, set(small_uris))
    return report


def _check_publications(client: PipeClient, uri: str, small: set[str]) -> tuple[list[tuple[str, Any, Any]], list[str]]:
    """Versions that went backwards, and small files published after their close."""
    latest: dict[str, int] = {}
    closed: set[str] = set()
    regressions = []
    after_close = []
    for params in client.publications():
        target, version = params["uri"], params.get("version")
        if target in closed:
            after_close.append(target)
        if version is None:  # the close: diagnostics cleared
            if target in small:
                closed.add(target)
            continue
        if version < latest.get(target, 0):
            regressions.append((target, latest[target], version))
        latest[target] = max(latest.get(target, 0), version)
    return regressions, after_close


def expected_diagnostics(text: str, path: str) -> list[tuple[Any, ...]]:
    """What a fresh ``analyze()`` of the final text says, in the server's terms (UTF-16 columns)."""
    from loss_lsp.checker import analyze
    from loss_lsp.engine.chunks import split_lines

    lines = split_lines(text)

    def utf16(line: int, column: int) -> int:
        content = lines[line] if line < len(lines) else ""
        return len(content[:column].encode("utf-16-le")) // 2

    return sorted((f.code, f.span.start_line, utf16(f.span.start_line, f.span.start_col), f.span.end_line,
                   utf16(f.span.end_line, f.span.end_col), _SEVERITY[f.severity], f.message)
                  for f in analyze(text, path).findings)


def published_diagnostics(params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted((d["code"], d["range"]["start"]["line"], d["range"]["start"]["character"],
                   d["range"]["end"]["line"], d["range"]["end"]["character"], d["severity"], d["message"])
                  for d in params["diagnostics"])
