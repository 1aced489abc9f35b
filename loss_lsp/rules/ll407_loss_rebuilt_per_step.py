"""LL407: a Loss object built inside a training loop or step function and called there."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, replace

from loss_lsp.engine.chunks import Block
from loss_lsp.engine.context import ModuleContext, char_col
from loss_lsp.engine.discovery import loss_base_classes
from loss_lsp.engine.findings import Edit, Finding, Fix, Span
from loss_lsp.engine.memo import on_node
from loss_lsp.rules.rule import Rule

_STEP_NAMES = {"train_step", "test_step"}
_NOT_INSTANCES = {"Loss", "LossFunctionWrapper", "Reduction"}
_WORDS = ("for ", "while ", "_step", "function")
_LOOPS = (ast.For, ast.AsyncFor, ast.While)


@dataclass(frozen=True)
class _Hit:
    call: ast.Call
    parent: ast.AST | None  # the node holding the call (an Assign, or the Call that calls it)
    scope: ast.AST  # the innermost loop, or the step function
    where: str  # "loop" or the function's description
    decorator: ast.expr | None  # for a function that counts as a step because of this decorator
    local_class: bool = False




def check_module(ctx: ModuleContext) -> Iterator[Finding]:
    local_losses: set[str] | None = None
    for block in ctx.module.blocks:
        if block.tree is None or not any(word in block.text for word in _WORDS):
            continue  # no loop and no step function: a substring test is far cheaper than a walk
        candidates = _scan(block.tree)
        if not candidates:
            continue
        local_losses = loss_base_classes(ctx.module) if local_losses is None else local_losses
        for candidate in candidates:
            kind = _loss_class(ctx, candidate.call.func, local_losses)
            if kind is None or (candidate.decorator is not None and not _is_tf_function(ctx, candidate.decorator)):
                continue
            hit = replace(candidate, local_class=kind == "local")
            if not _called_in_scope(hit):
                continue
            span = ctx.span(hit.call, block.start)
            name = ctx.file.text(ctx.span(hit.call.func, block.start))
            if hit.where == "loop":
                message = (f"`{name}(...)` is built on every iteration of this loop and called there: build it "
                           "once before the loop. ")
            else:
                message = (f"`{name}(...)` is built inside {hit.where}, which runs once per training step: build "
                           "it once (in `__init__` or at module level). ")
            severity = "warning"
            if hit.local_class and hit.where != "loop" and _creates_variables(ctx, hit.call.func):
                message += ("This loss creates variables when it is built, and `fit`/`tf.function` steps run as "
                            "graphs: it fails with \"tf.function only supports singleton tf.Variables created on "
                            "the first call\" (measured on TF 2.21)")
                severity = "error"
            elif hit.local_class:
                message += ("A loss object that keeps state (variables, running statistics, counters) starts over "
                            "every step, silently")
            else:
                message += "Built-in Keras losses hold no state, so this only rebuilds the object each step"
                severity = "info"
            fix = _hoist(ctx, block, hit) if hit.where == "loop" else None
            finding = ctx.finding(RULE, span, message, fix)
            if severity != RULE.severity:
                finding = replace(finding, severity=ctx.file.settings.severity_for(RULE.code, severity))
            yield finding


def _scan(tree: ast.Module) -> tuple[_Hit, ...]:
    return on_node(tree, "LL407", lambda: _compute_scan(tree))


def _compute_scan(tree: ast.Module) -> tuple[_Hit, ...]:
    """Calls of CamelCase names in loops and step functions (cached with the block's tree)."""
    finder = _Finder()
    finder.visit(tree)
    found: tuple[_Hit, ...] = ()
    if finder.hits:
        parent_of = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        found = tuple(replace(h, parent=parent_of.get(id(h.call))) for h in finder.hits)
    return found


def _loss_class(ctx: ModuleContext, func: ast.expr, local_losses: set[str]) -> str | None:
    if isinstance(func, ast.Name) and func.id in local_losses:
        return "local"
    op = ctx.module.op(func)
    if op is None:
        return None
    name = op.name
    if op.namespace == "tf" and name.startswith("losses."):
        name = name[len("losses."):]
    elif op.namespace != "losses":
        return None
    if "." in name or not name[:1].isupper() or name in _NOT_INSTANCES:
        return None
    return "builtin"


def _creates_variables(ctx: ModuleContext, func: ast.expr) -> bool:
    """The local Loss class (or a local base) builds a tf.Variable / keras.Variable / add_weight."""
    seen: set[str] = set()
    names = [func.id] if isinstance(func, ast.Name) else []
    while names:
        name = names.pop()
        if name in seen or name not in ctx.module.classes:
            continue
        seen.add(name)
        cls = ctx.module.classes[name][0]
        for node in ast.walk(cls):
            if isinstance(node, ast.Call):
                op = ctx.module.op(node.func)
                if op is not None and op.namespace in ("tf", "keras", "K") and op.name.rsplit(".", 1)[-1] in (
                        "Variable", "KerasVariable"):
                    return True
        names += [b.id for b in cls.bases if isinstance(b, ast.Name)]
    return False


def _is_tf_function(ctx: ModuleContext, decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    op = ctx.module.op(target)
    return op is not None and op.namespace == "tf" and op.name == "function"


class _Finder(ast.NodeVisitor):
    """Calls of CamelCase names (class constructions) inside loops, ``train_step`` / ``test_step`` and
    functions decorated with something named ``function`` (checked against ``tf.function`` later)."""

    def __init__(self) -> None:
        self.hits: list[_Hit] = []
        self.loops: list[ast.AST] = []
        self.step: tuple[ast.AST, str, ast.expr | None] | None = None

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        saved_loops, saved_step = self.loops, self.step
        self.loops = []
        self.step = None
        if node.name in _STEP_NAMES:
            self.step = (node, f"`{node.name}`", None)
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name == "function" and self.step is None:
                self.step = (node, f"the `tf.function` `{node.name}`", decorator)
        for stmt in node.body:
            self.visit(stmt)
        self.loops, self.step = saved_loops, saved_step

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Lambda(self, node: ast.Lambda) -> None:
        return  # built when called, not per loop iteration

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        if isinstance(node, ast.While):
            self.visit(node.test)
        else:
            self.visit(node.iter)
        self.loops.append(node)
        for stmt in node.body:
            self.visit(stmt)
        self.loops.pop()
        for stmt in node.orelse:
            self.visit(stmt)

    visit_For = visit_AsyncFor = visit_While = _loop  # type: ignore[assignment]

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name[:1].isupper():
            if self.loops:
                self.hits.append(_Hit(node, None, self.loops[-1], "loop", None))
            elif self.step is not None:
                self.hits.append(_Hit(node, None, self.step[0], self.step[1], self.step[2]))
        self.generic_visit(node)


def _called_in_scope(hit: _Hit) -> bool:
    """``Loss()(y, p)``, or ``fn = Loss()`` followed by a call of ``fn`` in the same loop/step."""
    parent = hit.parent
    if isinstance(parent, ast.Call) and parent.func is hit.call:
        return True
    if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1):
        return False
    target = ast.dump(parent.targets[0], annotate_fields=False).replace("Store()", "Load()")
    return any(isinstance(node, ast.Call) and ast.dump(node.func, annotate_fields=False) == target
               for node in ast.walk(hit.scope))


def _hoist(ctx: ModuleContext, block: Block, hit: _Hit) -> Fix | None:
    """Move ``fn = Loss(...)`` from the loop body to just before the loop, when nothing in it varies."""
    stmt = hit.parent
    loop = hit.scope
    if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name) and isinstance(loop, _LOOPS)):
        return None
    if not any(s is stmt for s in loop.body):
        return None  # nested under an if/with inside the loop: moving it changes when it runs
    loop_bound = {n.id for n in ast.walk(loop) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    used = {n.id for n in ast.walk(hit.call) if isinstance(n, ast.Name)}
    stores = [n for n in ast.walk(loop) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
              and n.id == stmt.targets[0].id]
    if used & loop_bound or len(stores) != 1:
        return None
    lines = ctx.module.lines
    first, last = block.start + stmt.lineno - 1, block.start + (stmt.end_lineno or stmt.lineno) - 1
    loop_line = block.start + loop.lineno - 1
    head = lines[first][:char_col(lines[first], stmt.col_offset)]
    tail = lines[last][char_col(lines[last], stmt.end_col_offset or 0):].strip()
    loop_indent = lines[loop_line][:char_col(lines[loop_line], loop.col_offset)]
    if head.strip() or loop_indent.strip() or (tail and not tail.startswith("#")):
        return None
    depth = len(head) - len(loop_indent)
    moved = []
    for line in lines[first:last + 1]:
        if line.strip() and line[:depth].strip():
            return None
        moved.append(line[depth:] if line.strip() else "")
    edits = (Edit(Span(loop_line, 0, loop_line, 0), "\n".join(moved) + "\n"),
             Edit(Span(first, 0, last + 1, 0), ""))
    return Fix("Build the loss once, before the loop", "safe" if not hit.local_class else "unsafe", edits)


RULE = Rule(
    code="LL407",
    name="loss-rebuilt-per-step",
    severity="warning",
    summary="A Loss object constructed inside a training loop, `train_step` or `tf.function` and called there",
    why=(
        "A loss object built inside the loop body or the step function is a new object on every step. "
        "Whatever it keeps between calls (variables, running statistics, step counters, a warm-up schedule) "
        "starts from scratch each time, so the behaviour its author wrote never happens, silently. A `Loss` "
        "that creates variables in `__init__` cannot be built inside a `tf.function` step (or a `train_step`, "
        "which `fit` runs as a graph) at all: TensorFlow stops with \"tf.function only supports singleton "
        "tf.Variables created on the first call\" (measured on TF 2.21), reported as an error. Built-in Keras "
        "losses hold no state: for them this is only wasted work, reported as information."
    ),
    example=(
        "import keras\n"
        "import tensorflow as tf\n\n\n"
        "class NormalisedMSE(keras.losses.Loss):\n"
        "    \"\"\"Divides the error by a running mean of past errors.\"\"\"\n\n"
        "    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.running = tf.Variable(1.0, trainable=False)\n\n"
        "    def call(self, y_true, y_pred):\n"
        "        err = tf.reduce_mean(tf.square(y_true - y_pred))\n"
        "        self.running.assign(0.99 * self.running + 0.01 * tf.stop_gradient(err))\n"
        "        return err / self.running\n\n\n"
        "def train(model, optimizer, dataset):\n"
        "    for x, y in dataset:\n"
        "        loss_fn = NormalisedMSE()\n"
        "        with tf.GradientTape() as tape:\n"
        "            loss = loss_fn(y, model(x, training=True))\n"
        "        grads = tape.gradient(loss, model.trainable_variables)\n"
        "        optimizer.apply_gradients(zip(grads, model.trainable_variables))\n"
    ),
    fixed=(
        "import keras\n"
        "import tensorflow as tf\n\n\n"
        "class NormalisedMSE(keras.losses.Loss):\n"
        "    \"\"\"Divides the error by a running mean of past errors.\"\"\"\n\n"
        "    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.running = tf.Variable(1.0, trainable=False)\n\n"
        "    def call(self, y_true, y_pred):\n"
        "        err = tf.reduce_mean(tf.square(y_true - y_pred))\n"
        "        self.running.assign(0.99 * self.running + 0.01 * tf.stop_gradient(err))\n"
        "        return err / self.running\n\n\n"
        "def train(model, optimizer, dataset):\n"
        "    loss_fn = NormalisedMSE()\n"
        "    for x, y in dataset:\n"
        "        with tf.GradientTape() as tape:\n"
        "            loss = loss_fn(y, model(x, training=True))\n"
        "        grads = tape.gradient(loss, model.trainable_variables)\n"
        "        optimizer.apply_gradients(zip(grads, model.trainable_variables))\n"
    ),
    fix_title="Build the loss once, before the loop (or in `__init__` for a `train_step`)",
    check_module=check_module,
    scope="module",
)
