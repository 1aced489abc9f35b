"""``loss-lsp check``: analyse files, print findings, optionally fix them in place."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from loss_lsp.cli import formats
from loss_lsp.cli.files import Source, expand, read
from loss_lsp.cli.progress import Progress
from loss_lsp.checker import analyze
from loss_lsp.engine import Analysis, Finding, InputError, Workspace, apply_fixes
from loss_lsp.settings import Settings, find_root, from_pyproject

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
    workspace.index([p for p, s in sources.items() if s.text is not None])
    targets = set(files)
    for path in files:
        for definition in sorted(workspace.definitions_used_by(path)):
            if definition not in sources:
                sources[definition] = read(definition)

    findings: list[Finding] = []
    errors: list[InputError] = []
    analyses: dict[Path, tuple[str, Analysis]] = {}
    for path, source in sources.items():
        progress.step(path)
        if source.text is None:
            errors.append(InputError(str(path), source.error))
            continue
        text = source.text
        analysis = analyze(text, str(path), settings, workspace)
        if args.fix:
            text, analysis = _fix(path, text, analysis, settings, workspace, args.unsafe_fixes)
        if path not in targets:
            analysis = _only_used_by(analysis, targets)
        analyses[path] = (text, analysis)
    progress.done()

    if args.gradients:
        code = _gradients(analyses, settings)
        if code:
            return code
    for _path, (_text, analysis) in analyses.items():
        findings.extend(analysis.findings)
        errors.extend(analysis.errors)
    findings.sort(key=Finding.sort_key)
    _print(args, findings, errors)
    if errors or usage_errors:
        return 2
    return 1 if findings else 0


def _only_used_by(analysis: Analysis, targets: set[Path]) -> Analysis:
    """A file pulled in for its losses: keep the findings of the losses the checked files compile."""
    used = {loss.name for loss in analysis.losses
            if any(Path(site.path).resolve() in targets for site in loss.compile_sites)}
    return replace(analysis, findings=[f for f in analysis.findings if f.loss in used], errors=[])


def _fix(path: Path, text: str, analysis: Analysis, settings: Settings, workspace: Workspace,
         unsafe: bool) -> tuple[str, Analysis]:
    original = text
    for _ in range(_MAX_FIX_PASSES):
        fixed, count = apply_fixes(text, analysis.findings, unsafe=unsafe)
        if count == 0 or fixed == text:
            break
        text = fixed
        analysis = analyze(text, str(path), settings, workspace)
    if text != original:
        _write_atomically(path, text)
    return text, analysis


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


def _gradients(analyses: dict[Path, tuple[str, Analysis]], settings: Settings) -> int:
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
            result = checker.check(text, str(path), analysis)
            analyses[path] = (text, replace(analysis, findings=sorted(result.findings, key=Finding.sort_key)))
    finally:
        checker.close()
    return 0


def _print(args: argparse.Namespace, findings: list[Finding], errors: list[InputError]) -> None:
    for error in errors:
        print(formats.error_line(error), file=sys.stderr)
    if args.format == "json":
        print(formats.as_json(findings))
        return
    if args.format == "sarif":
        print(formats.as_sarif(findings, errors))
        return
    for finding in findings:
        print(formats.text_line(finding))
    if args.statistics:
        print(formats.statistics(findings))
    print(formats.summary(findings))
