"""``loss-lsp check``: analyse files, print findings, optionally fix them in place."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from loss_lsp.cli import formats
from loss_lsp.cli.files import Source, expand, read
from loss_lsp.cli.progress import Progress
from loss_lsp.checker import analyze
from loss_lsp.engine import Analysis, Edit, Finding, InputError, Workspace, apply_fixes
from loss_lsp.engine.fixes import apply_edits, select_fixes
from loss_lsp.engine.ipynb import replace_sources
from loss_lsp.engine.notebook import JoinedCells, join_cells
from loss_lsp.settings import Settings, find_root, from_pyproject

log = logging.getLogger(__name__)
_MAX_FIX_PASSES = 5  # a fix can reveal another (ruff iterates the same way)


def _settings(args: argparse.Namespace, root: Path) -> Settings:
    settings, warnings = from_pyproject(root)
    for warning in warnings:
        print(f"loss-lsp: warning: {warning}", file=sys.stderr)
    select = tuple(c.strip().upper() for c in args.select.split(",") if c.strip())
    ignore = tuple(c.strip().upper() for c in args.ignore.split(",") if c.strip())
    if select:
        settings = replace(settings, select=select)
    if ignore:
        settings = replace(settings, ignore=settings.ignore + ignore)
    return settings


def run_check(args: argparse.Namespace) -> int:
    files, usage_errors = expand(args.paths)
    for message in usage_errors:
        print(f"loss-lsp: error: {message}", file=sys.stderr)
    if usage_errors and not files:
        return 2
    root = find_root(files[0] if files else Path.cwd())
    settings = _settings(args, root)
    workspace = Workspace(root)
    progress = Progress(len(files), enabled=not args.no_progress and sys.stderr.isatty() and len(files) > 20)

    sources: dict[Path, Source] = {path: read(path) for path in files}
    _index(workspace, sources)
    targets = set(files)
    for path in files:
        for definition in sorted(workspace.definitions_used_by(path)):
            if definition not in sources:
                sources[definition] = read(definition)

    findings: list[Finding] = []
    errors: list[InputError] = []
    analyses: dict[Path, tuple[str, Analysis]] = {}
    notebooks: dict[str, tuple[JoinedCells, str]] = {}
    fixed = 0
    for path, source in sources.items():
        progress.step(path)
        if source.text is None:
            errors.append(InputError(str(path), source.error))
            continue
        try:
            text, analysis, count, notebook = _check_file(path, source, settings, workspace, args)
        except Exception as exc:  # noqa: BLE001  (one file's internal error must not stop the others)
            errors.append(_internal_error(path, exc))
            continue
        fixed += count
        if notebook is not None:
            notebooks[str(path)] = notebook
        if path not in targets:
            analysis = _only_used_by(analysis, targets)
        analyses[path] = (text, analysis)
    progress.done()

    if args.gradients:
        code = _gradients(analyses, settings, errors)
        if code:
            return code
    for _path, (_text, analysis) in analyses.items():
        findings.extend(analysis.findings)
        errors.extend(analysis.errors)
    findings.sort(key=Finding.sort_key)
    _print(args, findings, errors, formats.Places(notebooks), fixed if args.fix else None)
    if errors or usage_errors:
        return 2
    return 1 if findings else 0


def _index(workspace: Workspace, sources: dict[Path, Source]) -> None:
    """The workspace index reads .py files from disk; a notebook is indexed as its joined cells."""
    for path, source in sources.items():
        if source.notebook is not None and source.text is not None:
            workspace.set_source(path, source.text)
    workspace.index([p for p, s in sources.items() if s.text is not None and s.notebook is None])


def _check_file(path: Path, source: Source, settings: Settings, workspace: Workspace, args: argparse.Namespace
                ) -> tuple[str, Analysis, int, tuple[JoinedCells, str] | None]:
    """The analysis of one file (after --fix), how many fixes were applied, and for a notebook its
    cells and JSON text."""
    text = source.text or ""
    analysis = analyze(text, str(path), settings, workspace)
    if source.notebook is not None:
        joined, raw, count = source.notebook, source.raw, 0
        if args.fix:
            joined, raw, analysis, count = _fix_notebook(path, source, joined, analysis, settings, workspace,
                                                         args.unsafe_fixes)
        return joined.text, analysis, count, (joined, raw)
    count = 0
    if args.fix:
        text, analysis, count = _fix(path, text, analysis, settings, workspace, args.unsafe_fixes)
    return text, analysis, count, None


def _internal_error(path: Path, exc: Exception) -> InputError:
    log.debug("internal error on %s", path, exc_info=True)
    return InputError(str(path), f"internal error ({type(exc).__name__}: {exc}); the file was not checked. "
                                 "Please report it with the file")


def _only_used_by(analysis: Analysis, targets: set[Path]) -> Analysis:
    """A file pulled in for its losses: keep the findings of the losses the checked files compile."""
    used = {loss.name for loss in analysis.losses
            if any(Path(site.path).resolve() in targets for site in loss.compile_sites)}
    return replace(analysis, findings=[f for f in analysis.findings if f.loss in used], errors=[])


def _fix(path: Path, text: str, analysis: Analysis, settings: Settings, workspace: Workspace,
         unsafe: bool) -> tuple[str, Analysis, int]:
    original = text
    applied = 0
    for _ in range(_MAX_FIX_PASSES):
        fixed, count = apply_fixes(text, analysis.findings, unsafe=unsafe)
        if count == 0 or fixed == text:
            break
        text = fixed
        applied += count
        analysis = analyze(text, str(path), settings, workspace)
    if text != original:
        _write_atomically(path, text)
    return text, analysis, applied


def _fix_notebook(path: Path, source: Source, joined: JoinedCells, analysis: Analysis, settings: Settings,
                  workspace: Workspace, unsafe: bool) -> tuple[JoinedCells, str, Analysis, int]:
    """Fixes applied to the cells they fall in; only the changed cells' sources are rewritten."""
    sources = dict((cell.index, cell.source) for cell in joined.cells)
    applied = 0
    for _ in range(_MAX_FIX_PASSES):
        by_cell: dict[int, list[Edit]] = {}
        count = 0
        for fix in select_fixes(analysis.findings, unsafe=unsafe):
            edits = joined.edits_by_cell(fix.edits)
            if edits is None:  # crosses cells or touches an IPython line: left for the user
                continue
            count += 1
            for index, cell_edits in edits.items():
                by_cell.setdefault(index, []).extend(cell_edits)
        if not count:
            break
        for index, cell_edits in by_cell.items():
            unique = {(e.span, e.content): e for e in cell_edits}  # the same import added twice counts once
            sources[index] = apply_edits(sources[index], unique.values())
        applied += count
        joined = join_cells(sorted(sources.items()))
        workspace.set_source(path, joined.text)
        analysis = analyze(joined.text, str(path), settings, workspace)
    changed = {cell.index: sources[cell.index] for cell in source.notebook.cells  # type: ignore[union-attr]
               if sources[cell.index] != cell.source}
    raw = source.raw
    if changed:
        raw = replace_sources(raw, changed)
        _write_atomically(path, raw)
    return joined, raw, analysis, applied


def _write_atomically(path: Path, text: str) -> None:
    """Never leave a half-written file: write beside it, then rename over it."""
    mode = path.stat().st_mode
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _gradients(analyses: dict[Path, tuple[str, Analysis]], settings: Settings, errors: list[InputError]) -> int:
    """Every loss run in TensorFlow (a notebook's from its joined cells: the notebook is never run)."""
    try:
        from loss_lsp.gradcheck import GradientChecker
    except ImportError as exc:
        print(f"loss-lsp: error: the gradient check is not available ({exc})", file=sys.stderr)
        return 2
    checker = GradientChecker(settings)
    try:
        for path, (text, analysis) in analyses.items():
            if not analysis.losses:
                continue
            try:
                result = checker.check(text, str(path), analysis)
            except Exception as exc:  # noqa: BLE001  (the other files are still checked)
                errors.append(_internal_error(path, exc))
                continue
            analyses[path] = (text, replace(analysis, findings=sorted(result.findings, key=Finding.sort_key)))
    finally:
        checker.close()
    return 0


def _print(args: argparse.Namespace, findings: list[Finding], errors: list[InputError], places: formats.Places,
           fixed: int | None) -> None:
    for error in errors:
        print(formats.error_line(error, places), file=sys.stderr)
    if args.format == "json":
        print(formats.as_json(findings, places))
        return
    if args.format == "sarif":
        print(formats.as_sarif(findings, errors, places))
        return
    for finding in findings:
        print(formats.text_line(finding, places))
    if args.statistics:
        print(formats.statistics(findings))
    if args.gradients:
        print(formats.verdict_tally(findings))
    print(formats.summary(findings, errors, fixed))
