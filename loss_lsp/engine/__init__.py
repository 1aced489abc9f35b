"""The analysis engine: source text in, findings out. Pure and editor-agnostic.

Public API (used by the CLI, the server, the gradient check and the tests):
    analyze(source, path, settings, workspace) -> Analysis
    Workspace(root) -- cross-module index (compile sites of losses defined elsewhere)
    apply_fixes(source, findings, unsafe=False) -> (new_source, applied_count)
"""

from loss_lsp.engine.analyze import analyze
from loss_lsp.engine.findings import (
    Analysis,
    Edit,
    Finding,
    Fix,
    InputError,
    LossInfo,
    Related,
    Span,
)
from loss_lsp.engine.fixes import apply_fixes
from loss_lsp.engine.workspace import Workspace

__all__ = [
    "Analysis",
    "Edit",
    "Finding",
    "Fix",
    "InputError",
    "LossInfo",
    "Related",
    "Span",
    "Workspace",
    "analyze",
    "apply_fixes",
]
