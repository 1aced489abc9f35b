"""The checker: the engine's analysis run with the rule set.

The CLI, the server, the gradient check's tests and the benchmarks call ``analyze`` from here.
It sits above both ``loss_lsp.engine`` (which knows no rules) and ``loss_lsp.rules`` (which use
the engine's types), so neither imports the other in a cycle.
"""

from __future__ import annotations

from loss_lsp.engine import pipeline
from loss_lsp.engine.findings import Analysis
from loss_lsp.engine.pipeline import clear_caches, forget
from loss_lsp.engine.workspace import Workspace
from loss_lsp.rules import RULES
from loss_lsp.settings import Settings

__all__ = ["analyze", "clear_caches", "forget"]


def analyze(source: str, path: str = "<stdin>", settings: Settings | None = None,
            workspace: Workspace | None = None) -> Analysis:
    """Analyse one module with every rule. Never raises on bad input: problems become ``Analysis.errors``."""
    return pipeline.run(source, path, settings, workspace, RULES)
