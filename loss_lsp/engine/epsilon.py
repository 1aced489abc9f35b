"""Which epsilon an epsilon fix inserts: the one the code already has, in the file's own spelling.

Looked for from the fix's place outwards: a constant the loss assigns before it touches its inputs,
``self.epsilon`` set to a constant in the loss class's ``__init__``, then (in ``FileContext.eps``) a
module constant, an ``....epsilon()`` call the file already makes, the file's Keras backend or
``keras.config``; only a file with none of these gets the literal ``1e-7`` (Keras's default value).

A name is offered only where it is in scope at the fix (the loss's own body: a helper elsewhere cannot
see the loss's locals) and only where the dataflow already reads it as positive; otherwise the fixed
code would be flagged again. Factory parameters (``def focal(eps=1e-6)``) and ``self.eps = eps`` are
not read as positive yet (issue 11 item 3): once they are, ``_eps_parameter`` can offer them too.
"""

from __future__ import annotations

import ast
import re

from loss_lsp.engine.discovery import LossDef
from loss_lsp.engine.memo import on_node
from loss_lsp.engine.module import ModuleInfo, dotted

EPS_NAME = re.compile(r"^_?(eps|epsilon)$", re.IGNORECASE)  # not "smooth": a Dice smoothing term is a prior
_SMALL = 1e-2  # a literal above this is a hyper-parameter that happens to be called eps, not a guard

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda  # noqa: UP007 (a runtime alias)


def loss_epsilon(loss: LossDef, at: FunctionNode) -> str | None:
    """An epsilon the loss itself holds that is in scope inside ``at`` (None: the loss has none)."""
    if at is not loss.fn or isinstance(loss.fn, ast.Lambda):
        return None
    name = _eps_local(loss.fn, set(loss.params[:2]))
    if name:
        return name
    if loss.cls is not None and loss.fn.args.args:
        attr = _eps_attribute(loss.cls)
        if attr:
            return f"{loss.fn.args.args[0].arg}.{attr}"
    return None


def spelled_epsilon(module: ModuleInfo) -> str | None:
    """``<keras backend or config>.epsilon()`` as the file already writes it (e.g. ``tf.keras.backend``)."""
    for block in module.blocks:
        if block.tree is not None:
            found = on_node(block.tree, "spelled-epsilon", lambda tree=block.tree: _epsilon_call(module, tree))
            if found:
                return found
    return None


def _epsilon_call(module: ModuleInfo, tree: ast.Module) -> str | None:
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and not node.args and not node.keywords
                and isinstance(node.func, ast.Attribute) and node.func.attr == "epsilon"):
            path = module.resolve(node.func) or ""
            if "keras" in path and path.rsplit(".", 2)[-2] in ("backend", "config"):
                return f"{dotted(node.func)}()"
    return None


def _small_positive(node: ast.expr | None) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return 0 < node.value < _SMALL
    return isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)) and (
        (dotted(node.func) or "").endswith("epsilon"))


def _eps_local(fn: ast.FunctionDef | ast.AsyncFunctionDef, inputs: set[str]) -> str | None:
    """``eps = 1e-7`` among the statements before the first one that reads the loss's inputs
    (any fix is on a value computed from them, so after it), and never assigned again."""
    found = None
    for stmt in fn.body:
        if any(isinstance(n, ast.Name) and n.id in inputs for n in ast.walk(stmt)):
            break
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                and EPS_NAME.match(stmt.targets[0].id) and _small_positive(stmt.value)):
            found = stmt.targets[0].id
    if found is None:
        return None
    stores = [n for n in ast.walk(fn) if isinstance(n, ast.Name) and n.id == found and isinstance(n.ctx, ast.Store)]
    return found if len(stores) == 1 else None


def _eps_attribute(cls: ast.ClassDef) -> str | None:
    """``self.epsilon = 1e-7`` (or ``= K.epsilon()``) in ``__init__``."""
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None or not init.args.args:
        return None
    me = init.args.args[0].arg
    for node in ast.walk(init):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == me
                    and EPS_NAME.match(target.attr) and _small_positive(node.value)):
                return target.attr
    return None
