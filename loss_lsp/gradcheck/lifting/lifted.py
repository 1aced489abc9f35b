"""What a lift produces: the module's text with ``def __loss_lsp_lifted__(y_true, y_pred)`` written over the
training code, and where it came from; or ``LiftError`` with the reason the user reads in ``not_run``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from loss_lsp.engine.findings import LossInfo, Span
from loss_lsp.engine.sinks import Sink

LIFTED = "__loss_lsp_lifted__"


class LiftError(Exception):
    """The computation cannot be lifted (the message says why, for the user)."""


@dataclass
class Inlined:
    label: str  # "self._compute_loss" / "build_loss"
    first: int  # 0-based lines of its definition in the file
    last: int


@dataclass(frozen=True)
class Lifted:
    source: str  # the module's text with the lifted function in place of the training code around it
    header: int  # 0-based line of ``def __loss_lsp_lifted__(y_true, y_pred):``
    first: int  # 0-based first and last line of the copied code (the return included)
    last: int
    sink: Sink
    prediction: str  # the expression that became y_pred
    target: str  # the data value that became y_true ("" when the loss reads no labels)
    y_true_shape: tuple[int, ...] | None = None
    y_true_dtype: str | None = None
    y_pred_shape: tuple[int, ...] | None = None
    y_pred_range: str | None = None
    lines: frozenset[int] = frozenset()  # the original lines of the copied statements and of the sink's
    unit_first: int = 0  # the lines of the training code it was lifted from
    unit_last: int = 0
    inlined: tuple[Inlined, ...] = ()  # the methods and functions whose bodies were copied in

    def loss(self, original: LossInfo) -> LossInfo:
        """The lifted function as a loss the check runs (the original's span, so findings land on it)."""
        return replace(original, kind="function", construct=LIFTED, call_path="direct",
                       y_true_shape=self.y_true_shape, y_pred_shape=self.y_pred_shape,
                       y_true_dtype=self.y_true_dtype, y_pred_range=self.y_pred_range, y_true_domain=None)

    def header_span(self) -> Span:
        return Span(self.header, 0, self.header, len(LIFTED) + 4)

    def describe(self, path: str) -> str:
        lines = f"line {self.first + 1}" if self.first == self.last else f"lines {self.first + 1}-{self.last + 1}"
        labels = f"y_true is `{self.target}`" if self.target else "no labels are read"
        assumed = []
        if self.target:
            assumed.append("y_true's values" if self.y_true_shape is not None else "y_true's shape and values")
        if self.y_pred_shape is None:
            assumed.append("y_pred's shape")
        if self.y_pred_range is None:
            assumed.append("y_pred's value range")
        note = f"; assumed {', '.join(assumed)} (the program does not state them)" if assumed else ""
        inlined = "".join(f"; inlined `{i.label}` (lines {i.first + 1}-{i.last + 1})" for i in self.inlined)
        return (f"lifted {lines} of {Path(path).name} (`{self.sink.kind}` at line {self.sink.line + 1}){inlined}: "
                f"y_pred is `{self.prediction}`, {labels}{note}")


def in_unit(lifted: Lifted, line: int) -> bool:
    """Whether a line lies in the training code the loss was lifted from (not in a helper it calls)."""
    return lifted.unit_first <= line <= lifted.unit_last
