"""Which branch of an ``if`` runs, when the program decides it without data: a constant the constructor
stores, a module constant, Keras's ``training`` flag (true while training runs). Anything else is
undecided and the lift says which value it depends on: a branch is never guessed. A mixin of ``Context``."""

from __future__ import annotations

import ast

from loss_lsp.engine.module import ModuleInfo, dotted
from loss_lsp.gradcheck.lifting.lifted import LiftError
from loss_lsp.gradcheck.lifting.syntax import FunctionNode, key_of, walk_local


class BranchDecider:
    """Deciding ``if`` tests from what the program states (the attributes below)."""

    module: ModuleInfo
    cls: ast.ClassDef | None
    start: int
    scopes: list[FunctionNode]

    def branch(self, stmt: ast.If) -> list[ast.stmt]:
        """The body of the ``if`` that runs, when the program decides it without data."""
        try:
            value = self._value(stmt.test)
        except _Undecided as exc:
            raise LiftError(f"its test `{ast.unparse(stmt.test)}` {exc}: the lift does not guess a branch") from exc
        return stmt.body if value else stmt.orelse

    def _value(self, node: ast.expr) -> object:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self._value(node.operand)
        if isinstance(node, ast.BoolOp):
            values = [self._value(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, right = self._value(node.left), self._value(node.comparators[0])
            op = node.ops[0]
            if isinstance(op, ast.Is):
                return left is right
            if isinstance(op, ast.IsNot):
                return left is not right
            if isinstance(op, ast.Eq):
                return left == right
            if isinstance(op, ast.NotEq):
                return left != right
        if isinstance(node, ast.Name):
            return self._name_value(node.id)
        key = key_of(node)
        if key is not None and key.startswith("self."):
            return self._attribute_value(key[len("self."):])
        raise _Undecided(f"reads `{ast.unparse(node)}`, a value computed when the program runs")

    def _name_value(self, name: str) -> object:
        if name in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[name]
        for scope in self.scopes:
            params = [a.arg for a in scope.args.posonlyargs + scope.args.args + scope.args.kwonlyargs]
            if name in params:
                if name == "training":  # Keras calls with training=True while it trains: that path is differentiated
                    return True
                raise _Undecided(f"depends on `{name}`, an argument of `{scope.name}` its callers decide")
        assigned = [n.value for scope in self.scopes for n in walk_local(scope) if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)]
        stores = sum(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
                     for scope in self.scopes for n in walk_local(scope))
        if stores > 1:  # also a loop variable, `flag |= ...`, a tuple unpacking
            raise _Undecided(f"depends on `{name}`, which the program sets in {stores} places")
        if not assigned and name in self.module.assignments:
            assigned = [self.module.assignments[name][0]]
        if len(assigned) == 1 and isinstance(assigned[0], ast.Constant):
            return assigned[0].value
        if len(assigned) > 1:
            raise _Undecided(f"depends on `{name}`, which the program sets in {len(assigned)} places")
        raise _Undecided(f"depends on `{name}`, whose value the program does not state")

    def subclasses(self) -> list[tuple[ast.ClassDef, int]]:
        """The module's classes derived from this one (directly or not), with their blocks' first lines:
        an object of one of them may run their methods instead."""
        if self.cls is None:
            return []
        names, out = {self.cls.name}, []
        changed = True
        while changed:
            changed = False
            for name, (cls, block) in self.module.classes.items():
                if name not in names and any((dotted(b) or "").rsplit(".", 1)[-1] in names for b in cls.bases):
                    names.add(name)
                    out.append((cls, block.start))
                    changed = True
        return out

    def _attribute_value(self, attr: str) -> object:
        sets: list[tuple[FunctionNode, ast.expr, int]] = []  # (method, value, 0-based line)
        classes = [(self.cls, self.start)] if self.cls is not None else []
        for cls, start in [*classes, *self.subclasses()]:
            for method in cls.body:
                if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    sets += [(method, n.value, start + n.lineno - 1) for n in ast.walk(method)
                             if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and n.value is not None
                             for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                             if isinstance(t, ast.Attribute) and key_of(t) == f"self.{attr}"]
        if not sets:
            raise _Undecided(f"depends on `self.{attr}`, which this class never sets")
        if len(sets) > 1:
            lines = ", ".join(str(line + 1) for _, _, line in sets)
            raise _Undecided(f"depends on `self.{attr}`, which the program sets in {len(sets)} places "
                             f"(lines {lines})")
        method, value, line = sets[0]
        if isinstance(value, ast.Constant) and method.name == "__init__":
            return value.value
        if isinstance(value, ast.Name) and value.id in {a.arg for a in method.args.args + method.args.kwonlyargs}:
            raise _Undecided(f"depends on `self.{attr}`, set from the argument `{value.id}` of `{method.name}` "
                             f"(line {line + 1}): whoever builds the object decides")
        raise _Undecided(f"depends on `self.{attr}`, set to `{ast.unparse(value)}` (line {line + 1})")
class _Undecided(Exception):
    pass
