"""How Keras pairs losses, model outputs and labels: one loss, a list by position, a dict by output name."""

from __future__ import annotations

import ast

from loss_lsp.engine.shapes.values import KT, DictV, Tup


def loss_structure(node: ast.Call) -> object:
    """What compile got as ``loss=``: the expression node, or a Tup/DictV of nodes."""
    value = next((kw.value for kw in node.keywords if kw.arg == "loss"), None)
    if value is None and len(node.args) >= 2:
        value = node.args[1]
    if value is None:
        return None
    if isinstance(value, (ast.List, ast.Tuple)):
        return Tup(tuple(value.elts))
    if isinstance(value, ast.Dict):
        if all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in value.keys):
            return DictV(tuple((k.value, v) for k, v in zip(value.keys, value.values)))  # type: ignore[union-attr]
        return None
    return value


def _output_list(outputs: object) -> list[object] | None:
    if isinstance(outputs, Tup):
        return list(outputs.items)
    if isinstance(outputs, DictV):
        return [v for _, v in outputs.items]
    return None


def _named(outputs: object) -> dict[str, object]:
    if isinstance(outputs, DictV):
        return dict(outputs.items)
    return {o.name: o for o in (_output_list(outputs) or []) if isinstance(o, KT) and o.name}


def pairs(losses: object, outputs: object) -> list[tuple[ast.AST, object]]:
    return [(expr, output) for expr, output, _ in triples(losses, outputs, None)]


def triples(losses: object, outputs: object, targets: object) -> list[tuple[ast.AST, object, object]]:
    """(loss expression, the output it gets, the labels it gets), following Keras's matching rules."""
    if losses is None:
        return []
    out_list = _output_list(outputs)
    if isinstance(losses, ast.AST):
        if out_list is None:  # one output (or unknown): the labels are y itself
            target = targets if not isinstance(targets, (Tup, DictV)) else None
            return [(losses, outputs if isinstance(outputs, KT) else None, target)]
        # one loss for several outputs: applied to each; shapes may differ, the join keeps what agrees
        target_list = _target_list(targets, outputs, len(out_list))
        return [(losses, o, t) for o, t in zip(out_list, target_list)]
    if isinstance(losses, Tup):
        exprs = list(losses.items)
        outs = out_list if out_list is not None and len(out_list) == len(exprs) else [None] * len(exprs)
        if isinstance(outputs, KT) and exprs:  # one output: Keras pairs it with the first loss (measured)
            target = targets if not isinstance(targets, (Tup, DictV)) else None
            return [(exprs[0], outputs, target)]
        target_list = _target_list(targets, outputs, len(exprs))
        return [(e, o, t) for e, o, t in zip(exprs, outs, target_list)]  # type: ignore[misc]
    if isinstance(losses, DictV):
        named = _named(outputs)
        order = [key for key, _ in outputs.items] if isinstance(outputs, DictV) else [
            o.name if isinstance(o, KT) else None for o in (out_list or [])]
        found = []
        for key, expr in losses.items:
            output = named.get(key)
            if isinstance(targets, DictV):
                target = targets.get(key)
            elif isinstance(targets, Tup) and key in order and len(targets.items) == len(order):
                target = targets.items[order.index(key)]
            else:
                target = None
            found.append((expr, output, target))
        return found  # type: ignore[return-value]
    return []


def _target_list(targets: object, outputs: object, count: int) -> list[object]:
    if isinstance(targets, Tup) and len(targets.items) == count:
        return list(targets.items)
    if isinstance(targets, DictV):
        names = [o.name if isinstance(o, KT) else None for o in (_output_list(outputs) or [])]
        return [targets.get(n) if n else None for n in names] if len(names) == count else [None] * count
    return [None] * count
