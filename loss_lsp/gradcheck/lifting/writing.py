"""The lifted function's text: model outputs become ``y_pred``, the label ``y_true``, and the function is
written over the training code's lines (the rest of that code blanked) so findings land on the user's
lines. The last reasons not to lift are found here: several model outputs or labels, the model object used
in the loss. A mixin of ``Lifter``."""

from __future__ import annotations

import ast
import copy
from typing import TYPE_CHECKING

from loss_lsp.engine.module import ModuleInfo, dotted
from loss_lsp.engine.sinks import Sink, Unit
from loss_lsp.gradcheck.lifting.declared import declared_placeholder
from loss_lsp.gradcheck.lifting.inlining import Context
from loss_lsp.gradcheck.lifting.lifted import LIFTED, Lifted, LiftError
from loss_lsp.gradcheck.lifting.rewriting import Rename, Rewriter, check_label_use
from loss_lsp.gradcheck.lifting.syntax import free_names, key_of, loads, stores, top_bound

if TYPE_CHECKING:
    from loss_lsp.gradcheck.lifting.walk_back import Leaf

_LIBRARY_ALIASES = {"tf", "np", "K", "keras", "ops", "jnp", "math", "tfp"}  # also through a package's re-export
_BUILTIN_CALLS = {"float", "int", "abs", "len", "min", "max", "sum", "range", "zip", "list", "tuple", "dict"}


def _unit_first(unit: Unit) -> int:
    return unit.block.start + min(s.lineno for s in unit.fn.body) - 1


def _unit_last(unit: Unit) -> int:
    return unit.block.start + max(s.end_lineno or s.lineno for s in unit.fn.body) - 1

class Writing:
    """Writing the lifted function, from what the walk kept (the attributes below)."""

    module: ModuleInfo
    unit: Unit
    sink: Sink
    start: int
    graph: bool
    context: Context
    kept: list[ast.stmt]
    data: dict[str, Leaf]
    variables: dict[str, ast.expr]
    predictions: set[str]

    def line(self, node: ast.AST) -> int:
        return self.start + getattr(node, "lineno", 1) - 1

    def _render(self, target: ast.expr, holder: ast.stmt) -> Lifted:
        rewriter = Rewriter(self, self.graph)
        returned = rewriter.visit(copy.deepcopy(target))
        records = list(rewriter.take())
        live = loads(returned)
        statements: list[ast.stmt] = []
        originals: list[ast.stmt] = []
        for stmt in reversed(self.kept):  # a hidden layer read only by the model's output is part of the model
            if not stores(stmt) & live:
                continue
            new = rewriter.visit(copy.deepcopy(stmt))
            records += rewriter.take()
            live = (live - stores(new)) | loads(new) | (stores(new) if isinstance(new, ast.AugAssign) else set())
            statements.insert(0, new)
            originals.insert(0, stmt)
        if not records:
            raise LiftError(self._hidden_model(target))
        shown = list(dict.fromkeys(record[0] for record in records))
        if len(shown) > 1:
            raise LiftError(f"several model outputs reach the loss ({', '.join(f'`{p}`' for p in shown)}): "
                            "the check lifts a loss of one prediction")
        free = free_names(statements, returned)
        labels = sorted(name for name in free if name in self.data)
        if len(labels) > 1:
            raise LiftError(f"the loss reads more data than one label tensor ({', '.join(f'`{n}`' for n in labels)})")
        for name in sorted(free):
            if name in self.variables:
                raise LiftError(f"the loss uses the variable `{name}` itself, not only the model's output: "
                                "it needs the model")
            if name in self.data:
                continue
            if name in ("self", "cls") or name.startswith("self.") or (name in self.predictions and name != "y_pred"):
                raise LiftError(f"the loss reads `{name}` from the model object, not only the model's output: "
                                "it needs the model")
        called = next((n for s in [*statements, returned] for n in ast.walk(s) if isinstance(n, ast.Call)
                       and isinstance(n.func, ast.Attribute) and key_of(n.func) not in (None, "self")
                       and str(key_of(n.func)).startswith("self.")), None)
        if called is not None:
            raise LiftError(f"the loss calls `{ast.unparse(called.func)}(...)` (line {self.line(called) + 1}), "
                            "a method or attribute of the model object: it needs the model")
        target_name = labels[0] if labels else ""
        if target_name:
            check_label_use(target_name, [*statements, returned])
        renamer = Rename(target_name)
        statements = [renamer.visit(stmt) for stmt in statements]
        returned = renamer.visit(returned)
        return self._write(statements, originals, returned, holder, records[0], target_name)

    def _hidden_model(self, target: ast.expr) -> str:
        """Why no model output was found: the first call the path makes into code the lift does not enter."""
        for node in [target, *reversed(self.kept)]:
            for call in ast.walk(node):
                if not isinstance(call, ast.Call):
                    continue
                root = (dotted(call.func) or "").split(".", 1)[0]
                if self.module.op(call.func) is None and root not in _BUILTIN_CALLS and root not in _LIBRARY_ALIASES:
                    text = ast.unparse(call.func)
                    return (f"no model output is visible on the path: it comes from `{text}(...)` "
                            f"(line {self.line(call) + 1}), a call the lift does not enter")
        return "no model output, variable or watched tensor reaches the differentiated value"

    def _write(self, statements: list[ast.stmt], originals: list[ast.stmt], returned: ast.expr, holder: ast.stmt,
               record: tuple[str, tuple[int | None, ...] | None, str | None], target_name: str) -> Lifted:
        module = self.module
        lines = list(module.lines)
        ret_line = self.line(holder)
        starts = [self.line(s) for s in originals]
        first = min([*starts, ret_line])
        header = first - 1
        if header < 0:
            raise LiftError("the training code starts on the file's first line: no line is free for the lifted loss")
        used = set().union(*(loads(s) for s in statements), loads(returned))
        last_line = self.start + (holder.end_lineno or holder.lineno) - 1
        for block in module.blocks:
            if block.tree is None:
                continue
            for top in block.tree.body:
                top_first = block.start + min([top.lineno, *(d.lineno for d in getattr(top, "decorator_list", []))]) - 1
                top_last = block.start + (top.end_lineno or top.lineno) - 1
                if top_last < header or top_first > last_line:
                    continue
                holds = any(top_first <= self.line(s) <= top_last for s in [*originals, holder])
                clash = top_bound(top) & used
                if clash and not holds:
                    name = sorted(clash)[0]
                    raise LiftError(f"`{name}` (line {top_first + 1}) is defined among the lines the loss is "
                                    "lifted from")
                for index in range(top_first, min(top_last, len(lines) - 1) + 1):
                    lines[index] = ""
        lines[header] = f"def {LIFTED}(y_true, y_pred):"
        placed: dict[int, list[str]] = {}
        for stmt, original in zip(statements, originals):
            placed.setdefault(self.line(original), []).append(ast.unparse(stmt))
        placed.setdefault(ret_line, []).append(f"return {ast.unparse(returned)}")
        for line, texts in placed.items():
            lines[line] = "    " + "; ".join(text.replace("\n", " ") for text in texts)
        try:
            ast.parse("\n".join(lines[header:ret_line + 1]))
        except SyntaxError as exc:
            raise LiftError(f"the lifted code does not parse ({exc.msg})") from exc
        leaf = self.data.get(target_name)
        declared = leaf.placeholder if leaf else None
        y_true_shape, y_true_dtype = declared_placeholder(declared) if declared else (None, None)
        covered = frozenset(line for stmt in [*originals, holder]
                            for line in range(self.line(stmt), self.start + (stmt.end_lineno or stmt.lineno)))
        covered |= {line for i in self.context.inlined for line in range(i.first, i.last + 1)}
        return Lifted(source="\n".join(lines), header=header, first=first, last=ret_line, sink=self.sink,
                      lines=covered, inlined=tuple(self.context.inlined),
                      unit_first=_unit_first(self.unit), unit_last=_unit_last(self.unit),
                      prediction=record[0], target=target_name, y_true_shape=y_true_shape,  # type: ignore[arg-type]
                      y_true_dtype=y_true_dtype, y_pred_shape=record[1], y_pred_range=record[2])  # type: ignore[arg-type]
