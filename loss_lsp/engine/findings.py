"""The engine's output types: plain data, shared by the CLI, the server and the gradient check.

Positions are 0-based lines and 0-based columns counted in Unicode code points
(Python string indices); front ends convert to their own units (1-based rows for the
CLI, UTF-16 or UTF-8 code units for LSP).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

Severity = Literal["error", "warning", "info", "hint"]
Applicability = Literal["safe", "unsafe"]
Verdict = Literal["confirmed", "not_reproduced", "not_run"]
CallPath = Literal["compile", "loss_class", "direct", "unknown"]


@dataclass(frozen=True, order=True)
class Span:
    start_line: int
    start_col: int
    end_line: int
    end_col: int

    def shifted(self, lines: int) -> Span:
        return Span(self.start_line + lines, self.start_col, self.end_line + lines, self.end_col)

    def contains(self, line: int, col: int) -> bool:
        return (self.start_line, self.start_col) <= (line, col) <= (self.end_line, self.end_col)


@dataclass(frozen=True)
class Edit:
    span: Span
    content: str

    def shifted(self, lines: int) -> Edit:
        return Edit(self.span.shifted(lines), self.content)


@dataclass(frozen=True)
class Fix:
    message: str
    applicability: Applicability
    edits: tuple[Edit, ...]

    def shifted(self, lines: int) -> Fix:
        return Fix(self.message, self.applicability, tuple(e.shifted(lines) for e in self.edits))


@dataclass(frozen=True)
class Related:
    path: str
    span: Span
    message: str


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    message: str
    severity: Severity
    span: Span
    loss: str = ""
    fix: Fix | None = None
    path: str = ""
    related: tuple[Related, ...] = ()
    url: str = ""
    sink: str = ""  # what differentiates the computation: "differentiated by `tape.gradient` at line 14"
    # Set by the gradient check (see loss_lsp.gradcheck).
    verdict: Verdict | None = None
    evidence: str = ""
    probe: str = ""

    def shifted(self, lines: int) -> Finding:
        if not lines:
            return self
        return replace(
            self,
            span=self.span.shifted(lines),
            fix=self.fix.shifted(lines) if self.fix else None,
        )

    def sort_key(self) -> tuple:
        return (self.path, self.span, self.code)


@dataclass(frozen=True)
class InputError:
    """A file the engine could not analyse, or analysed only partly (one clear line)."""

    path: str
    message: str
    span: Span | None = None


@dataclass(frozen=True)
class LossInfo:
    """A loss the engine discovered: where it is defined and how Keras will call it."""

    name: str  # qualified: "focal.<locals>.loss", "DiceLoss.call", "<lambda>@12"
    kind: Literal["function", "closure", "lambda", "loss_class", "computation"]
    span: Span  # the def / class / lambda header
    call_path: CallPath
    compile_sites: tuple[Related, ...] = ()
    # How to obtain the callable in the module's namespace: "my_loss", "focal(gamma=2)",
    # "DiceLoss()", "functools.partial(f, alpha=0.5)". Empty when it cannot be built.
    construct: str = ""
    # Shapes/dtypes stated by the code (Dense(1), Input(shape=...), fit arrays, hints); None = unknown.
    y_true_shape: tuple[int, ...] | None = None
    y_pred_shape: tuple[int, ...] | None = None
    y_true_dtype: str | None = None  # "int32"/"float32" when the fit data say so
    # What the program feeds the loss (engine/shapes): the labels' values and the model's last activation.
    y_true_domain: str | None = None  # "binary", "integer:K", "one_hot:K", "continuous"; None unknown
    y_pred_range: str | None = None  # "sigmoid", "softmax", "relu", "tanh", "linear"; None unknown
    source: str = ""  # "y_true (batch,) from `y = x.sum(axis=1)`, line 12; y_pred (batch, 1) from the model"
    # A computation found from its sink (kind "computation"): what differentiates it, for the hover.
    sink: str = ""


@dataclass
class Analysis:
    path: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    losses: list[LossInfo] = field(default_factory=list)
