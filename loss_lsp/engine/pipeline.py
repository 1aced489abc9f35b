"""The pipeline: source text -> blocks -> module facts -> losses -> findings of the rules it is given.

The engine does not know the rule set: ``loss_lsp.checker`` (above both) passes it in, so the
engine imports nothing from ``loss_lsp.rules``.

Per-loss results are cached by everything they depend on (the loss's block text,
the helpers it calls, the module's imports and constants, its call context and the
settings), so after an edit only the losses whose inputs changed run again.
"""

from __future__ import annotations

import ast
import hashlib
from bisect import bisect_right
import logging
import time
from dataclasses import replace
from collections.abc import Mapping
from typing import TYPE_CHECKING

from loss_lsp.engine.chunks import PARSE_CACHE, split_blocks, split_lines
from loss_lsp.engine.context import FileContext, LossContext, ModuleContext, RuleChecks
from loss_lsp.engine.dataflow import Flow
from loss_lsp.engine.discovery import LossDef, discover, header_span
from loss_lsp.engine.limits import MAX_CHARS
from loss_lsp.engine.memo import PinnedCache, on_node, subtree
from loss_lsp.engine.shapes.wiring import forget_runs
from loss_lsp.engine.findings import Analysis, Finding, InputError, LossInfo, Related, Span
from loss_lsp.engine.module import ModuleInfo, build_module, called_names, module_text
from loss_lsp.engine import shapes as shape_context
from loss_lsp.engine.suppression import is_suppressed
from loss_lsp.engine.values import Val
from loss_lsp.settings import Settings

if TYPE_CHECKING:
    from loss_lsp.engine.workspace import Workspace

log = logging.getLogger(__name__)

MAX_LINE_NODES = 200_000  # AST nodes of one loss the dataflow will walk
BUDGET_SECONDS = 10.0  # per file: an editor must get an answer


def run(source: str, path: str, settings: Settings | None, workspace: Workspace | None,
        rules: Mapping[str, RuleChecks]) -> Analysis:
    """Analyse one module with these rules. Never raises on bad input: problems become ``Analysis.errors``."""
    settings = settings or Settings()
    analysis = Analysis(path)
    problem = _unreadable(source)
    if problem:
        analysis.errors.append(InputError(path, problem))
        return analysis
    if source.startswith("\ufeff"):
        source = source[1:]  # a BOM is not code (columns of line 1 shift by one; it never holds a loss)
    lines = split_lines(source)
    blocks = split_blocks(lines)
    PARSE_CACHE.pin(path, [block.text for block in blocks])
    for block in blocks:
        if block.tree is None:
            line = block.start + block.error_line
            analysis.errors.append(InputError(
                path, f"syntax error: {block.error} (line {line + 1}); the rest of the file was still checked",
                Span(line, 0, line, len(lines[line]) if line < len(lines) else 0)))
    module = build_module(path, lines, blocks)
    losses = discover(module, workspace.imported_loss_bases(path, module) if workspace is not None else frozenset())
    if workspace is not None:
        workspace.attach_external_sites(path, module, losses)
    file = FileContext(module, settings, path)
    module_fp = _module_fingerprint(module, settings, rules)
    findings: list[Finding] = []
    deadline = time.monotonic() + BUDGET_SECONDS
    for number, loss in enumerate(losses):
        if time.monotonic() > deadline:
            analysis.errors.append(InputError(path, f"analysis skipped for {len(losses) - number} more losses: "
                                                    f"file too complex (over {BUDGET_SECONDS:.0f} s)"))
            break
        try:
            shapes = _shapes_for(module, loss, settings)
            found, errors = _loss_findings(file, loss, shapes, module_fp, rules)
            info = _loss_info(module, loss, shapes)
        except Exception as exc:  # an engine bug on one loss must not hide the other losses' findings
            log.exception("analysis of %s in %s failed", loss.name, path)
            analysis.errors.append(InputError(path, f"internal error analysing {loss.name}: {exc!r}"))
            continue
        if loss.external_sites:  # a loss compiled in another file: point at where it is used
            found = [replace(f, related=tuple(loss.external_sites)) for f in found]
        findings.extend(found)
        analysis.errors.extend(errors)
        analysis.losses.append(info)
    _CACHE.pin(path, file.cache_keys)
    functions = [loss for loss in losses if loss.kind != "computation"]  # the module rules judge loss functions
    found, errors = _module_findings(ModuleContext(file, functions), rules)
    findings.extend(found)
    analysis.errors.extend(errors)
    unique: dict[tuple[str, Span], Finding] = {}
    for finding in findings:
        if settings.enabled(finding.code) and not is_suppressed(finding, lines):
            unique.setdefault((finding.code, finding.span), finding)
    analysis.findings = sorted(unique.values(), key=Finding.sort_key)
    return analysis


def forget(path: str) -> None:
    """The file was closed: its parsed blocks no longer need to stay cached."""
    PARSE_CACHE.forget(path)
    _CACHE.forget(path)
    forget_runs(path)


def clear_caches() -> None:
    """Forget every cached parse and result (benchmarks measure cold runs with it)."""
    from loss_lsp.engine import chunks

    chunks.PARSE_CACHE.clear()  # what is derived from the trees (engine.memo) goes with them
    _CACHE.clear()
    forget_runs()


def _unreadable(source: str) -> str:
    if "\x00" in source:
        return "binary file (contains NUL bytes): not analysed"
    if len(source) > MAX_CHARS:
        return f"file too large ({len(source) / 1e6:.1f} MB; the limit is {MAX_CHARS / 1e6:.0f} MB): not analysed"
    return ""


# --- one loss ------------------------------------------------------------------------------------
_CACHE: PinnedCache[tuple, list[tuple[str, int, Finding]]] = PinnedCache(spare_size=256)


def _seeds(loss: LossDef, shapes: shape_context.Shapes) -> dict[str, Val]:
    if loss.kind == "computation":
        return loss.seeds
    params = loss.params
    if len(params) < 2:
        return {}
    y_true, y_pred = shape_context.as_received(shapes.y_true, shapes.y_pred, loss.call_path)
    true_rank = len(y_true) if y_true is not None else None
    pred_rank = len(y_pred) if y_pred is not None else None
    # Loss.__call__ (and so compile) converts y_true to the loss dtype; only direct calls see int labels.
    integer = shape_context.is_int_dtype(shapes.y_true_dtype) and loss.call_path in ("direct", "unknown")
    return {
        params[0]: Val(data=True, true=True, tensor=True, rank=true_rank, integer=integer),
        params[1]: Val(pred=True, data=True, tensor=True, rank=pred_rank),
    }


def _loss_findings(file: FileContext, loss: LossDef, shapes: shape_context.Shapes, module_fp: str,
                   rules: Mapping[str, RuleChecks]) -> tuple[list[Finding], list[InputError]]:
    module = file.module
    helper_texts = _helper_block_texts(module, loss)
    key = (file.path, module_fp, loss.block.text, loss.name, helper_texts, loss.call_path, shapes,
           tuple(loss.external_sites), tuple(sorted(loss.seeds.items())), loss.construct, len(loss.bare_compile_exprs),
           tuple(site.call.lineno for site in loss.compile_sites))
    file.cache_keys.append(key)
    cached = _CACHE.get(key)
    if cached is not None:
        starts = file.block_starts()
        return [_reanchor(finding, text, start, starts) for text, start, finding in cached], []
    errors: list[InputError] = []
    if len(subtree(loss.fn)) > MAX_LINE_NODES:
        return [], [InputError(file.path, f"analysis skipped: {loss.name} is too complex")]
    enclosing = list(loss.enclosing) or ([loss.factory] if loss.factory is not None else [])
    computation = loss.kind == "computation"
    try:
        flow = Flow(module, loss.fn, _seeds(loss, shapes), loss.block.start, cls=loss.cls, enclosing=enclosing,
                    outputs=loss.outputs, sources=computation)
    except RecursionError:
        return [], [InputError(file.path, f"analysis skipped: {loss.name} is nested too deeply")]
    ctx = LossContext(file, loss, flow, shapes)
    found: list[Finding] = []
    for rule in rules.values():
        if rule.check is None or not file.settings.enabled(rule.code):
            continue
        if computation and not rule.checks_computations:
            continue
        try:
            found.extend(rule.check(ctx))
        except Exception as exc:  # one broken rule must not hide the others
            log.exception("rule %s failed on %s", rule.code, loss.name)
            errors.append(InputError(file.path, f"internal error in {rule.code} on {loss.name}: {exc!r}"))
    if computation:
        found = [replace(f, sink=loss.sink_description) for f in found]
    if not errors:
        _CACHE.put(key, [(*_anchor(module, finding), finding) for finding in found])
    return found, errors


def _anchor(module: ModuleInfo, finding: Finding) -> tuple[str, int]:
    """The block a finding lies in, by text, and the block's first line (the blocks are in line order)."""
    line = finding.span.start_line
    starts = on_node(module, "block_starts", lambda: [block.start for block in module.blocks])  # type: ignore[arg-type]
    index = bisect_right(starts, line) - 1
    if index >= 0:
        block = module.blocks[index]
        if line < block.start + block.text.count("\n") + 1:
            return block.text, block.start
    return "", 0


def _reanchor(finding: Finding, text: str, old_start: int, starts: dict[str, int]) -> Finding:
    """Move a cached finding along with its block when lines above it were added or removed.

    Fix edits outside the block (an import added at the top) stay where they are: their place is
    part of the cache key.
    """
    if not text or text not in starts or starts[text] == old_start:
        return finding
    delta = starts[text] - old_start
    end = old_start + text.count("\n")
    fix = finding.fix
    if fix is not None:
        fix = replace(fix, edits=tuple(e.shifted(delta) if old_start <= e.span.start_line <= end else e
                                       for e in fix.edits))
    return replace(finding, span=finding.span.shifted(delta), fix=fix)


def _import_line(module: ModuleInfo) -> int:
    last = -1
    for index, line in enumerate(module.lines[:400]):
        if line.startswith(("import ", "from ")):
            last = index
    return last


def _helper_block_texts(module: ModuleInfo, loss: LossDef) -> tuple[str, ...]:
    if loss.block.tree is not None and not called_names(loss.block.tree) & module.functions.keys():
        return ()  # most losses call none of the module's functions
    texts = []
    seen = {loss.block.text}
    frontier = [loss.block] if loss.block.tree is not None else [
        b for b in module.blocks if b.text in set(loss.extra_texts)]  # module-level code: its own blocks
    while frontier:
        current = frontier.pop()
        names = called_names(current.tree) & module.functions.keys() if current.tree is not None else set()
        for name in sorted(names):
            if name in module.functions:
                other = module.functions[name][1]
                if other.text not in seen:
                    seen.add(other.text)
                    texts.append(other.text)
                    frontier.append(other)
    return tuple(texts)


def _module_fingerprint(module: ModuleInfo, settings: Settings, rules: Mapping[str, RuleChecks]) -> str:
    """What every loss's result depends on besides its own code; the rule set too (one string in each
    per-loss key rather than a tuple of codes hashed again for every loss)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(" ".join(rules).encode())
    digest.update(repr(sorted(module.imports.items())).encode())
    digest.update(repr(sorted(module.classes)).encode())
    digest.update(repr((sorted(module.functions), module.uses_keras_ops, sorted(module.metric_names))).encode())
    digest.update(str(_import_line(module)).encode())  # where fixes insert a missing import
    digest.update(repr(settings).encode())
    seen: set[int] = set()
    for value, block in module.assignments.values():
        blocks = [block]
        # ``encoder = build_encoder()``: what the value is depends on that function's body too (LL405)
        blocks += [module.functions[name][1] for name in _called_by_name(value) if name in module.functions]
        for dependency in blocks:
            if id(dependency) not in seen:
                seen.add(id(dependency))
                digest.update(dependency.text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _called_by_name(value: ast.expr) -> tuple[str, ...]:
    """The names an expression calls as ``name(...)`` (kept with the tree: most assignments never change)."""
    return on_node(value, "called_by_name", lambda: tuple(
        node.func.id for node in ast.walk(value) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)))


# --- module-level rules --------------------------------------------------------------------------
def _module_findings(ctx: ModuleContext, rules: Mapping[str, RuleChecks]) -> tuple[list[Finding], list[InputError]]:
    found: list[Finding] = []
    errors: list[InputError] = []
    for rule in rules.values():
        if rule.check_module is None or not ctx.file.settings.enabled(rule.code):
            continue
        try:
            found.extend(rule.check_module(ctx))
        except Exception as exc:
            log.exception("rule %s failed on %s", rule.code, ctx.file.path)
            errors.append(InputError(ctx.file.path, f"internal error in {rule.code}: {exc!r}"))
    return found, errors


# --- what the engine reports about each loss ---------------------------------------------------
_NO_SHAPES = shape_context.Shapes()


def _shapes_for(module: ModuleInfo, loss: LossDef, settings: Settings) -> shape_context.Shapes:
    if loss.kind == "computation":
        return _NO_SHAPES  # no y_true/y_pred pair: the shape rules see ranks only where the code states them
    hint_lines: list[str] = []
    if on_node(module, "hints", lambda: "loss-lsp" in module_text(module)):  # type: ignore[arg-type]
        # only then: most files have no hints, and no lines to look through for each loss
        first = loss.block.start + loss.fn.lineno - 1
        last = loss.block.start + (loss.fn.end_lineno or loss.fn.lineno) - 1
        hint_lines = [line for line in module.lines[max(first - 3, 0):last + 1] if "loss-lsp" in line]
    shapes = shape_context.for_loss(module, loss, hint_lines, settings.default_shapes)
    if loss.external_shapes is not None and not shapes.known:
        y_true, y_pred, dtype = loss.external_shapes
        shapes = replace(shapes, y_true=shapes.y_true or y_true, y_pred=shapes.y_pred or y_pred,
                         y_true_dtype=shapes.y_true_dtype or dtype, source=shapes.source or "context")
    return shapes


def _loss_info(module: ModuleInfo, loss: LossDef, shapes: shape_context.Shapes) -> LossInfo:
    lines = module.lines
    sites = []
    for site in loss.compile_sites:
        line = site.block_start + site.call.lineno - 1
        text = lines[line] if line < len(lines) else ""
        start = len(text) - len(text.lstrip())
        sites.append(Related(module.path, Span(line, start, line, len(text)), "compiled here"))
    return LossInfo(
        name=loss.name, kind=loss.kind, span=header_span(loss, lines),  # type: ignore[arg-type]
        call_path=loss.call_path, compile_sites=(*sites, *loss.external_sites), construct=loss.construct,
        y_true_shape=shapes.y_true, y_pred_shape=shapes.y_pred, y_true_dtype=shapes.y_true_dtype,
        y_true_domain=shapes.y_true_domain, y_pred_range=shapes.y_pred_range, source=shapes.source,
        sink=loss.sink_description,
    )
