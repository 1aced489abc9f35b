"""``GradientChecker``: the server-side entry point of the gradient check (no TensorFlow here).

    checker = GradientChecker(settings)
    result = checker.check(source, path, analysis, loss_names=None, on_progress=cb, cancelled=cb)
    result.findings  # every static finding of the checked losses, with verdict/evidence/probe,
                     # plus LL901-LL905 findings at the loss definitions
    result.losses    # one LossReport per loss: name, status, reason, seconds
    checker.close()  # stops the worker

``check`` blocks (call it from a thread); it never raises for anything the user's code does.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from loss_lsp.engine.chunks import split_blocks, split_lines
from loss_lsp.engine.findings import Analysis, Finding, LossInfo
from loss_lsp.engine.suppression import is_suppressed
from loss_lsp.gradcheck import verdicts
from loss_lsp.gradcheck.cases import loss_constraints, shape_cases
from loss_lsp.gradcheck.client import WorkerClient
from loss_lsp.gradcheck.lifting import Lifted, LiftError, in_unit, lift
from loss_lsp.gradcheck.protocol import PROBES_VERSION
from loss_lsp.gradcheck.registry import NUMERIC_RULES, ON_DEMAND_CODES
from loss_lsp.gradcheck.slicer import LossSlice, SliceError, slice_loss
from loss_lsp.settings import Settings, find_root

log = logging.getLogger(__name__)

LossStatus = Literal["checked", "cached", "not_run"]
UNTRUSTED = "workspace not trusted"
NOT_IN_A_LOSS = "not inside a loss the check can run (no runtime probe)"
NOT_LIFTED = "training code that cannot be lifted into a loss of (targets, predictions)"


@dataclass(frozen=True)
class LossReport:
    name: str
    status: LossStatus  # checked: ran now; cached: same slice/shapes/TF as a previous run; not_run: see reason
    reason: str = ""
    seconds: float = 0.0


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    losses: list[LossReport] = field(default_factory=list)

    def by_code(self, code: str) -> list[Finding]:
        return [f for f in self.findings if f.code == code]


def loss_ranges(source: str, losses: list[LossInfo]) -> dict[str, tuple[int, int]]:
    """First and last line (0-based) of each loss's definition (the class for Loss subclasses)."""
    headers = {loss.span.start_line: loss.name for loss in losses}
    ranges: dict[str, tuple[int, int]] = {}
    for block in split_blocks(split_lines(source)):
        if block.tree is None:
            continue
        for node in ast.walk(block.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                first = block.start + node.lineno - 1
                name = headers.get(first)
                if name is not None and name not in ranges:
                    ranges[name] = (first, block.start + (node.end_lineno or node.lineno) - 1)
    return ranges


def attach_findings(source: str, analysis: Analysis, losses: list[LossInfo]) -> tuple[dict[str, list[Finding]],
                                                                                      list[Finding]]:
    """The static findings of each loss: by its name, its class's name, or its definition's lines."""
    static: dict[str, list[Finding]] = {loss.name: [] for loss in losses}
    ranges = loss_ranges(source, losses)
    by_name = {loss.name: loss.name for loss in losses}
    for loss in losses:
        if loss.kind == "loss_class":
            by_name.setdefault(loss.name.split(".", 1)[0], loss.name)
    unattached = []
    for finding in analysis.findings:
        owner = by_name.get(finding.loss) if finding.loss else None
        if owner is None and not finding.loss:
            line = finding.span.start_line
            inside = [(last - first, name) for name, (first, last) in ranges.items() if first <= line <= last]
            owner = min(inside)[1] if inside else None
        if owner is not None:
            static[owner].append(finding)
        elif not finding.loss or finding.loss not in {info.name for info in analysis.losses}:
            unattached.append(finding)
    return static, unattached


class _Cache:
    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: str, reply: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = reply
            if len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)




class GradientChecker:
    def __init__(self, settings: Settings | None = None,
                 read_source: Callable[[str], str | None] | None = None) -> None:
        """``read_source(path)`` returns an open editor buffer for a workspace module (else disk is read)."""
        self._settings = settings or Settings()
        self.read_source = read_source
        self._client = self._new_client(self._settings)
        self._cache = _Cache()
        self._lock = threading.Lock()

    @staticmethod
    def _new_client(settings: Settings) -> WorkerClient:
        return WorkerClient(settings.interpreter, settings.gradient_memory_mb, settings.worker_idle_timeout)

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        old = self._settings
        self._settings = value
        if (old.interpreter, old.gradient_memory_mb, old.worker_idle_timeout) != \
                (value.interpreter, value.gradient_memory_mb, value.worker_idle_timeout):
            self._client.close()
            self._client = self._new_client(value)

    @property
    def client(self) -> WorkerClient:
        return self._client

    def close(self) -> None:
        self._client.close()

    # -- the check ---------------------------------------------------------------------------------------
    def check(self, source: str, path: str, analysis: Analysis, loss_names: list[str] | None = None,
              on_progress: Callable[[str, int, int], None] | None = None,
              cancelled: Callable[[], bool] | None = None) -> CheckResult:
        losses = [loss for loss in analysis.losses if loss_names is None or loss.name in loss_names]
        static, unattached = attach_findings(source, analysis, losses)
        result = CheckResult()
        if not self._settings.trusted:
            for loss in losses:
                untrusted = verdicts.Verdict("not_run", UNTRUSTED, "")
                result.findings += [verdicts.apply(f, untrusted) for f in static[loss.name]]
                result.losses.append(LossReport(loss.name, "not_run", UNTRUSTED))
            if loss_names is None:
                result.findings += [verdicts.apply(f, verdicts.Verdict("not_run", UNTRUSTED, "")) for f in unattached]
            result.findings.sort(key=Finding.sort_key)
            return result
        with self._lock:
            lines = split_lines(source)
            root = find_root(Path(path))
            total = len(losses)
            for index, loss in enumerate(losses):
                if cancelled is not None and cancelled():
                    for rest in losses[index:]:
                        result.findings += [verdicts.apply(f, verdicts.Verdict("not_run", "cancelled", ""))
                                            for f in static[rest.name]]
                        result.losses.append(LossReport(rest.name, "not_run", "cancelled"))
                    break
                if on_progress is not None:
                    on_progress(f"checking {loss.name}", index, total)
                try:
                    report, findings = self._check_loss(source, path, lines, root, loss, static[loss.name],
                                                        cancelled)
                except Exception as exc:  # a bug of ours on one loss must not hide the others
                    log.exception("gradient check of %s failed", loss.name)
                    reason = f"internal error in the gradient check: {exc!r}"
                    failed = verdicts.Verdict("not_run", reason, "")
                    report = LossReport(loss.name, "not_run", reason)
                    findings = [verdicts.apply(f, failed) for f in static[loss.name]]
                result.losses.append(report)
                result.findings += findings
            if on_progress is not None:
                on_progress("done", total, total)
        if loss_names is None:  # a whole-file check returns every finding, so it can replace them all
            result.findings += [verdicts.apply(f, verdicts.Verdict("not_run", NOT_IN_A_LOSS, "")) for f in unattached]
        result.findings.sort(key=Finding.sort_key)
        return result

    def _check_loss(self, source: str, path: str, lines: list[str], root: Path, loss: LossInfo,
                    findings: list[Finding], cancelled: Callable[[], bool] | None) -> tuple[LossReport, list[Finding]]:
        if loss.kind == "computation":  # found from its sink (issue 10): lifted into (y_true, y_pred) functions
            return self._check_computation(source, path, lines, root, loss, findings, cancelled)
        return self._run(source, path, lines, root, loss, findings, cancelled)

    def _check_computation(self, source: str, path: str, lines: list[str], root: Path, loss: LossInfo,
                           findings: list[Finding], cancelled: Callable[[], bool] | None,
                           ) -> tuple[LossReport, list[Finding]]:
        """Each differentiated value that lifts is run on its own, with the findings on its path."""
        try:
            lifts, errors = lift(source, path, loss)
        except LiftError as exc:
            reason = f"{NOT_LIFTED}: {exc}"
            return LossReport(loss.name, "not_run", reason), [
                verdicts.apply(f, verdicts.Verdict("not_run", reason, "")) for f in findings]
        shares: list[list[Finding]] = [[] for _ in lifts]
        decided: list[Finding] = []
        for finding in findings:
            line = finding.span.start_line
            owner = next((i for i, lifted in enumerate(lifts) if line in lifted.lines), None)
            if owner is None and not in_unit(lifts[0], line):
                owner = 0  # in a helper the training code calls
            if owner is None:
                reason = f"{NOT_LIFTED}: " + (errors[0] if errors else "this line is not on the path from the "
                                              "model's output to the differentiated value")
                decided.append(verdicts.apply(finding, verdicts.Verdict("not_run", reason, "")))
            else:
                shares[owner].append(finding)
        reports = []
        for lifted, share in zip(lifts, shares):
            report, found = self._run(lifted.source, path, lines, root, lifted.loss(loss), share, cancelled,
                                      lifted=lifted)
            reports.append(report)
            decided += found
        ran = [r for r in reports if r.status != "not_run"]
        status: LossStatus = "not_run" if not ran else "cached" if all(r.status == "cached" for r in ran) else "checked"
        reason = next((r.reason for r in reports if r.reason), "")
        return LossReport(loss.name, status, reason, sum(r.seconds for r in reports)), decided

    def _run(self, source: str, path: str, lines: list[str], root: Path, loss: LossInfo, findings: list[Finding],
             cancelled: Callable[[], bool] | None, lifted: Lifted | None = None) -> tuple[LossReport, list[Finding]]:
        """Run one loss (or one lifted computation, whose findings and report stay on the training code)."""
        constraints_source, constraints_loss = source, loss
        if lifted is not None:
            constraints_loss = replace(loss, span=lifted.header_span())
        started = time.perf_counter()
        cases = shape_cases(loss, self._settings, loss_constraints(constraints_source, constraints_loss))
        bare = loss.name if loss.kind == "function" and lifted is None and "LL404" in {f.code for f in findings} else ""
        codes = sorted({f.code for f in findings})
        runs: list[verdicts.LossRun] = []
        cached = True
        failure = ""
        loss_slice: LossSlice | None = None
        try:
            loss_slice = slice_loss(source, path, loss, root, self.read_source, extra_roots=(bare,) if bare else ())
        except SliceError as exc:
            failure = str(exc)
        except (OSError, RecursionError, ValueError) as exc:
            failure = f"cannot slice the module: {exc}"
        for case in cases:
            run = verdicts.LossRun(loss, path, case.shapes, case.stated, origin=case.origin)
            runs.append(run)
            if loss_slice is None:
                run.failure = failure
                break
            self._describe_slice(run, loss_slice)
            request = self._request(loss, loss_slice, case.shapes, case.stated, codes)
            request["bare"] = bare
            run.reply, hit = self._reply(request, run, cancelled)
            cached = cached and hit
            if verdicts.not_run_reason(run):
                break  # an import error, a timeout or a crash: the other shapes would not fare better
            if not self._worth_another_case(run, findings, lines, loss, path):
                break  # nothing to confirm at this shape: nothing can be confirmed at every shape
        numeric = {f.code for f in findings if f.code in NUMERIC_RULES}
        decided = [verdicts.apply(finding, verdicts.decide_all(finding, runs, numeric)) for finding in findings]
        confirmed = {f.code for f in decided if f.verdict == "confirmed"}
        where = f"; {lifted.describe(path)}" if lifted is not None else ""

        def make(code: str, evidence: str, probe: str, line: int | None) -> Finding:
            return self._gradient_finding(code, evidence, probe, line, loss, path, lines, where)

        if lifted is not None:  # the evidence names the lines the loss was lifted from
            decided = [replace(f, evidence=f.evidence + where) if f.verdict != "not_run" or f.evidence else f
                       for f in decided]
        decided += [f for f in verdicts.new_findings_all(runs, confirmed, make)
                    if self._settings.enabled(f.code) and not is_suppressed(f, lines)]
        status: LossStatus = "cached" if cached else "checked"
        reason = verdicts.not_run_reason(runs[0])
        if reason:
            status = "not_run"
        elif reason := verdicts.call_error_reason(runs):
            if not any(f.verdict == "confirmed" for f in decided):
                status = "not_run"  # it raised, and that explains nothing the rules or the check report
        report = LossReport(loss.name, status, reason + (where if reason else ""),
                            time.perf_counter() - started)
        return report, decided

    def _worth_another_case(self, run: verdicts.LossRun, findings: list[Finding], lines: list[str], loss: LossInfo,
                            path: str) -> bool:
        """Another shape case can change the outcome only if this one confirmed something, or raised
        (a shape the program may not use)."""
        if verdicts.call_error_reason([run]):
            return True
        numeric = {f.code for f in findings if f.code in NUMERIC_RULES}
        if any(verdicts.decide(f, run, numeric).verdict == "confirmed" for f in findings):
            return True
        confirmed: set[str] = set()

        def make(code: str, evidence: str, probe: str, line: int | None) -> Finding:
            return self._gradient_finding(code, evidence, probe, line, loss, path, lines)

        return bool(verdicts.new_findings(run, confirmed, make))

    @staticmethod
    def _describe_slice(run: verdicts.LossRun, loss_slice: LossSlice) -> None:
        run.omitted = {name: reason for m in loss_slice.modules for name, reason in m.omitted}
        broken = [(m, line) for m in loss_slice.modules for line in m.syntax_errors]
        if broken:
            module, line = broken[0]
            run.syntax_note = (f"{Path(module.path).name} has a syntax error at line {line + 1}; "
                               "that part of the file is not in the slice")

    def _reply(self, request: dict[str, Any], run: verdicts.LossRun,
               cancelled: Callable[[], bool] | None) -> tuple[dict[str, Any] | None, bool]:
        """The worker's reply (from the cache when the same request ran before), and whether it was cached."""
        key = self._key(request)
        reply = self._cache.get(key) if key else None
        if reply is not None:
            return reply, True
        answer = self._client.request(request, self._settings.gradient_timeout, cancelled)
        if answer.failure:
            run.failure = answer.failure
            return None, False
        reply = answer.message
        if reply is not None and "probes" in reply:
            key = key or self._key(request)
            if key:
                self._cache.put(key, reply)
        return reply, False

    def _gradient_finding(self, code: str, evidence: str, probe: str, line: int | None, loss: LossInfo, path: str,
                          lines: list[str], where: str = "") -> Finding:
        from loss_lsp.rules import RULES

        rule = RULES[code]
        evidence = verdicts._one_line(evidence) + where  # the lifted lines are never cut off
        severity = self._settings.severity_for(code, rule.severity)
        related = verdicts.related_line(path, lines, line, "the gradient check points here")
        return Finding(code=code, name=rule.name, message=f"{rule.summary}: {evidence}", severity=severity,  # type: ignore[arg-type]
                       span=loss.span, loss=loss.name, path=path, related=related, url=rule.url,
                       verdict="confirmed", evidence=evidence, probe=probe)

    def _request(self, loss: LossInfo, loss_slice: LossSlice, shapes: dict[str, Any], stated: bool,
                 codes: list[str]) -> dict[str, Any]:
        return {
            "op": "check",
            "main": loss_slice.main,
            "modules": [m.to_json() for m in loss_slice.modules],
            "workspace": loss_slice.workspace,
            "sys_path": list(loss_slice.sys_path),
            "construct": loss_slice.construct,
            "call_path": loss.call_path if loss.call_path != "unknown" else "direct",
            "shapes": shapes,
            "codes": codes,
            "stated": stated,
            "seed": 0,
        }

    def _key(self, request: dict[str, Any]) -> str:
        """Hash of the slice, the shapes, the probes asked for and the TensorFlow version ("" if unknown)."""
        versions = self._client.versions
        if not versions:
            return ""
        relevant = {k: v for k, v in request.items() if k not in ("codes", "id")}
        relevant["codes"] = [c for c in request["codes"] if c in ON_DEMAND_CODES]
        relevant["versions"] = versions
        relevant["interpreter"] = self._client.interpreter
        relevant["probes_version"] = PROBES_VERSION
        return hashlib.blake2b(json.dumps(relevant, sort_keys=True).encode("utf-8", "surrogatepass"),
                               digest_size=20).hexdigest()

    @property
    def cache_size(self) -> int:
        return len(self._cache)


__all__ = ["CheckResult", "GradientChecker", "LossReport"]
