"""The analysis engine: source text in, findings out. Pure and editor-agnostic; it knows no rules.

Public API (used by the CLI, the server, the gradient check and the tests):
    pipeline.run(source, path, settings, workspace, rules) -> Analysis
      (``loss_lsp.checker.analyze(source, path, settings, workspace)`` runs it with every rule)
    Workspace(root) -- cross-module index (compile sites of losses defined elsewhere)
    apply_fixes(source, findings, unsafe=False) -> (new_source, applied_count)
"""

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
    "apply_fixes",
]


def __getattr__(name: str) -> object:
    if name == "analyze":  # moved above the engine with the rule runner
        raise ImportError("loss_lsp.engine.analyze moved: use `from loss_lsp.checker import analyze`")
    raise AttributeError(name)
