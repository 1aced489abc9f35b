"""What a rule sees: the loss, its dataflow, the module, the settings, and helpers
that turn AST nodes into spans, findings and fix edits in the file's own style."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from loss_lsp.engine.dataflow import Flow
from loss_lsp.engine.discovery import LossDef, char_col
from loss_lsp.engine.epsilon import loss_epsilon, spelled_epsilon
from loss_lsp.engine.findings import Applicability, Edit, Finding, Fix, Related, Span
from loss_lsp.engine.module import ModuleInfo
from loss_lsp.engine.shapes import Shapes
from loss_lsp.settings import Settings



class RuleInfo(Protocol):
    """What a finding needs to know about the rule that made it (``loss_lsp.rules.rule.Rule`` has it)."""

    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def url(self) -> str: ...


class RuleChecks(RuleInfo, Protocol):
    """A rule as the pipeline runs it: a check per loss and/or one per module."""

    @property
    def check(self) -> Callable[[LossContext], Iterator[Finding]] | None: ...
    @property
    def check_module(self) -> Callable[[ModuleContext], Iterator[Finding]] | None: ...
    @property
    def checks_computations(self) -> bool: ...

_EPS_NAMES = re.compile(r"^(EPS|EPSILON|_EPS|_EPSILON|eps|epsilon|SMOOTH|smooth)$")


@dataclass
class FileContext:
    """Facts about the file shared by all its rules (import style, epsilon)."""

    module: ModuleInfo
    settings: Settings
    path: str
    _starts: dict[str, int] | None = None
    cache_keys: list[tuple] = field(default_factory=list)  # the per-loss cache entries this analysis used

    def block_starts(self) -> dict[str, int]:
        """Block text -> first line, for moving cached findings (computed once per file)."""
        if self._starts is None:
            self._starts = {block.text: block.start for block in self.module.blocks}
        return self._starts

    def node_span(self, node: ast.AST, block_start: int) -> Span:
        lines = self.module.lines
        start_line = block_start + node.lineno - 1  # type: ignore[attr-defined]
        end_line = block_start + (node.end_lineno or node.lineno) - 1  # type: ignore[attr-defined]
        start_text = lines[start_line] if start_line < len(lines) else ""
        end_text = lines[end_line] if end_line < len(lines) else ""
        return Span(start_line, char_col(start_text, node.col_offset),  # type: ignore[attr-defined]
                    end_line, char_col(end_text, node.end_col_offset or 0))  # type: ignore[attr-defined]

    def text(self, span: Span) -> str:
        lines = self.module.lines
        if span.start_line == span.end_line:
            return lines[span.start_line][span.start_col:span.end_col]
        parts = [lines[span.start_line][span.start_col:]]
        parts += lines[span.start_line + 1:span.end_line]
        parts.append(lines[span.end_line][:span.end_col])
        return "\n".join(parts)

    # --- the file's own spelling, for fixes --------------------------------------------------
    def tf(self) -> str:
        return self.module.alias_for("tensorflow") or "tf"

    def needs_tf_import(self) -> bool:
        return self.module.alias_for("tensorflow") is None

    def ops(self) -> str | None:
        return self.module.alias_for("keras.ops", "tensorflow.keras.ops")

    def backend(self) -> str | None:
        return self.module.alias_for("keras.backend", "tensorflow.keras.backend", "tf_keras.backend")

    def eps(self) -> str:
        """The epsilon a fix should use: the setting, the file's own constant, or Keras's."""
        if self.settings.epsilon:
            return self.settings.epsilon
        for name in self.module.assignments:
            if _EPS_NAMES.match(name) and not name.lower().startswith("smooth"):
                return name
        backend = self.backend()
        if backend:
            return f"{backend}.epsilon()"
        keras = self.module.alias_for("keras")
        if keras:
            return f"{keras}.config.epsilon()"
        return spelled_epsilon(self.module) or "1e-7"

    def import_edit(self, statement: str) -> Edit | None:
        """Insert ``statement`` after the file's imports (or at the top) unless it is there."""
        lines = self.module.lines
        if any(line.strip() == statement for line in lines):
            return None
        last_import = -1
        for index, line in enumerate(lines[:400]):
            if line.startswith(("import ", "from ")) and not line.startswith("from __future__"):
                last_import = index
            elif line.startswith("from __future__"):
                last_import = max(last_import, index)
        where = last_import + 1
        if last_import < 0:
            where = _after_docstring(lines)
        return Edit(Span(where, 0, where, 0), statement + "\n")

    def tf_fix_edits(self) -> tuple[Edit, ...]:
        if not self.needs_tf_import():
            return ()
        edit = self.import_edit("import tensorflow as tf")
        return (edit,) if edit else ()


def _after_docstring(lines: list[str]) -> int:
    index = 0
    while index < len(lines) and (lines[index].startswith("#!") or lines[index].startswith("# -*-")):
        index += 1
    if index < len(lines) and lines[index].lstrip().startswith(('"""', "'''")):
        quote = lines[index].lstrip()[:3]
        if lines[index].count(quote) >= 2:
            return index + 1
        for end in range(index + 1, len(lines)):
            if quote in lines[end]:
                return end + 1
    return index


@dataclass
class LossContext:
    file: FileContext
    loss: LossDef
    flow: Flow
    shapes: Shapes
    findings: list[Finding] = field(default_factory=list)

    @property
    def module(self) -> ModuleInfo:
        return self.file.module

    @property
    def settings(self) -> Settings:
        return self.file.settings

    def span(self, node: ast.AST, flow: Flow | None = None) -> Span:
        return self.file.node_span(node, (flow or self.flow).block_start)

    def eps(self, flow: Flow | None = None) -> str:
        """The epsilon a fix inside ``flow`` inserts: the setting, the loss's own (engine.epsilon), the file's."""
        if self.settings.epsilon:
            return self.settings.epsilon
        return loss_epsilon(self.loss, (flow or self.flow).fn) or self.file.eps()

    def text(self, node: ast.AST, flow: Flow | None = None) -> str:
        return self.file.text(self.span(node, flow))

    def finding(self, rule: RuleInfo, node: ast.AST, message: str, fix: Fix | None = None,
                flow: Flow | None = None, related: tuple[Related, ...] = ()) -> Finding:
        return make_finding(self.file, rule, self.span(node, flow), message, fix, self.loss.name, related)

    def replace(self, rule_fix: str, node: ast.AST, content: str, applicability: Applicability = "safe",
                flow: Flow | None = None, extra: tuple[Edit, ...] = ()) -> Fix:
        return Fix(rule_fix, applicability, (Edit(self.span(node, flow), content), *extra))


@dataclass
class ModuleContext:
    """For rules that look at the training script around the losses (compile, layers, fit)."""

    file: FileContext
    losses: list[LossDef]

    @property
    def module(self) -> ModuleInfo:
        return self.file.module

    def span(self, node: ast.AST, block_start: int) -> Span:
        return self.file.node_span(node, block_start)

    def finding(self, rule: RuleInfo, span: Span, message: str, fix: Fix | None = None, loss: str = "") -> Finding:
        return make_finding(self.file, rule, span, message, fix, loss, ())


def make_finding(file: FileContext, rule: RuleInfo, span: Span, message: str, fix: Fix | None, loss: str,
                 related: tuple[Related, ...]) -> Finding:
    severity = file.settings.severity_for(rule.code, rule.severity)
    return Finding(code=rule.code, name=rule.name, message=message, severity=severity,  # type: ignore[arg-type]
                   span=span, loss=loss, fix=fix, path=file.path, related=related, url=rule.url)
