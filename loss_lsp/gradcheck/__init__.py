"""Background TensorFlow gradient check: confirms or refutes every static finding.

The language server never imports TensorFlow. ``GradientChecker.check`` slices each loss
out of its module (imports, constants, helpers, the loss; never the training script), sends
the slice to a long-lived worker process (``python -m loss_lsp.gradcheck.worker``) that
imports TensorFlow once, and turns what the probes saw into verdicts:

    confirmed        the run shows the problem (evidence: "gradient is None", "NaN at y_pred=0")
    not_reproduced   the probe ran and the problem did not appear
    not_run          the probe could not run (reason: timeout, import error, untrusted workspace)

Problems the run finds that no static rule flagged become LL901-LL905 findings at the loss.

Protocol (JSON lines over the worker's stdin/stdout, moved to private descriptors at start;
fd 0 and 1 then point at /dev/null so user prints cannot corrupt it) -- details in
docs/gradcheck-protocol.md:

    worker -> server  {"event": "ready", "protocol": 1, "pid": 123, "tensorflow": "2.21.0", ...}
    server -> worker  {"id": 7, "op": "check", "main": "train", "modules": [...], "construct": "focal(2.0)",
                       "call_path": "compile", "shapes": {...}, "codes": ["LL201"], "stated": true, ...}
    worker -> server  {"id": 7, "probes": {"call": {...}, "gradient": {...}, ...}, "seconds": 0.09}
                      or {"id": 7, "load_error": {...}} / {"construct_error": {...}} / {"fatal": "..."}
    server -> worker  {"id": 8, "op": "ping"} | {"id": 9, "op": "shutdown"}

A reply with "fatal" is followed by the worker exiting; end of file without a reply means the
loss killed the process (os._exit, a crash); no reply within the per-loss timeout means the
server kills it. The server starts a fresh worker for the next loss in every case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loss_lsp.gradcheck.checker import CheckResult, GradientChecker, LossReport

__all__ = ["CheckResult", "GradientChecker", "LossReport"]


def __getattr__(name: str) -> Any:
    # Lazy: the worker imports this package too, and must not pull in the engine.
    if name in __all__:
        from loss_lsp.gradcheck import checker

        return getattr(checker, name)
    raise AttributeError(name)
