"""The entry point: each value a unit's sinks differentiate, lifted on its own (a TF1 graph-building
function handed to ``minimize`` is lifted from its return), with the reasons for the ones that cannot be."""

from __future__ import annotations

import ast

from loss_lsp.engine.chunks import split_blocks, split_lines
from loss_lsp.engine.findings import LossInfo
from loss_lsp.engine.module import ModuleInfo, build_module
from loss_lsp.engine.sinks import Sink, Unit, find_units
from loss_lsp.gradcheck.lifting.lifted import Lifted, LiftError
from loss_lsp.gradcheck.lifting.syntax import assigned_name, walk_local
from loss_lsp.gradcheck.lifting.walk_back import Lifter

_GRAPH_SINKS = ("minimize", "compute_gradients", "tf.gradients", "get_updates")  # a value, not a callable: TF1


def lift(source: str, path: str, loss: LossInfo) -> tuple[list[Lifted], list[str]]:
    """The computation ``loss`` (kind "computation") as functions of (y_true, y_pred), one per value its
    sinks differentiate, and why the others could not be lifted. Raises LiftError when none can."""
    lines = split_lines(source)
    module = build_module(path, lines, split_blocks(lines))
    unit = next((u for u in find_units(module) if u.name == loss.name
                 and u.block.start + (u.cls or u.fn).lineno - 1 == loss.span.start_line), None)
    if unit is None:
        raise LiftError("the code that differentiates it is in another file")
    lifted: list[Lifted] = []
    errors: list[str] = []
    done: set[str] = set()
    for sink in unit.sinks:
        key = ast.dump(sink.target) if sink.target is not None else ""
        if key in done:
            continue
        done.add(key)
        # TF1 graph code: a value (not a callable) handed to minimize / tf.gradients; a tape is TF2's.
        graph = sink.kind in _GRAPH_SINKS and sink.target is not None and not isinstance(sink.target, ast.Lambda)
        built = _graph_builder(module, unit, sink)
        if built is not None:  # minimize(build_graph(x, y)): the loss is what the graph-building function returns
            builder, arguments = built
            try:
                lifted.append(Lifter(module, builder, builder.sinks[0], graph, arguments).run())
                continue
            except LiftError:
                pass
        try:
            lifted.append(Lifter(module, unit, sink, graph).run())
        except LiftError as exc:
            errors.append(str(exc))
    if not lifted:
        raise LiftError(errors[0] if errors else "nothing is differentiated")
    return lifted, errors


def _graph_builder(module: ModuleInfo, unit: Unit, sink: Sink) -> tuple[Unit, dict[str, ast.expr]] | None:
    """The module function whose return value the sink differentiates (``minimize(build_graph(x, y))``, or
    ``loss = build_graph(x, y)`` then ``minimize(loss)``), as a unit of its own: its parameters are data."""
    target = sink.target
    if isinstance(target, ast.Name):
        values = [n.value for n in walk_local(unit.fn) if assigned_name(n) == target.id]  # type: ignore[attr-defined]
        target = values[0] if len(values) == 1 else None
    if not (isinstance(target, ast.Call) and isinstance(target.func, ast.Name)
            and target.func.id in module.functions):
        return None
    fn, block = module.functions[target.func.id]
    if not fn.body or not isinstance(fn.body[-1], ast.Return):
        return None
    params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    arguments = dict(zip(params, target.args))  # build_graph(X, Y): the placeholders X and Y
    arguments.update({k.arg: k.value for k in target.keywords if k.arg})
    return Unit(fn.name, fn, block, None, [], [Sink(sink.kind, sink.line, None)], {}), arguments
