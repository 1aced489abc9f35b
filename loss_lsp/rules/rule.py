"""What every rule module declares: its metadata and its check."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from loss_lsp.engine.findings import Severity

if TYPE_CHECKING:
    from loss_lsp.engine.context import LossContext, ModuleContext
    from loss_lsp.engine.findings import Finding

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs" / "rules"


@dataclass(frozen=True)
class Rule:
    code: str  # "LL201"
    name: str  # "unguarded-log"
    severity: Severity
    summary: str  # one line: what the rule flags
    why: str  # why it breaks training (markdown)
    example: str  # code that fires
    fixed: str  # the same code after the fix
    fix_title: str  # what the quick fix does
    # One of the two checks: per loss (most rules), or once per module (context rules).
    check: Callable[[LossContext], Iterator[Finding]] | None = None
    check_module: Callable[[ModuleContext], Iterator[Finding]] | None = None
    scope: Literal["loss", "module", "gradient-check"] = "loss"

    @property
    def checks_computations(self) -> bool:
        """Whether the check applies to any differentiated computation (a training step, graph code),
        not only to functions with the Keras loss contract: the gradient (LL1xx), numerics (LL2xx)
        and y_true/y_pred agreement (LL301-LL303, LL308) rules."""
        return self.code.startswith(("LL1", "LL2")) or self.code in ("LL301", "LL302", "LL303", "LL308")

    @property
    def doc_path(self) -> Path:
        return DOCS_DIR / f"{self.code}.md"

    @property
    def url(self) -> str:
        """The rule's page, shipped inside the package (clickable from editors and SARIF)."""
        return self.doc_path.as_uri()
