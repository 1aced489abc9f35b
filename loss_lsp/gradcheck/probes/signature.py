"""Probe `signature`: call the bare function the way `compile(loss=f)` does, with only
(y_true, y_pred) (LL404). A required third parameter raises TypeError at the call."""

from __future__ import annotations

from typing import Any

from loss_lsp.gradcheck.probes.subject import USER_ERRORS, Context, Subject, reraise_fatal


def probe_signature(ctx: Context) -> dict[str, Any]:
    if not ctx.bare:
        return {"ok": False, "skipped": "no bare function to call"}
    try:
        function = ctx.evaluate(ctx.bare)
    except USER_ERRORS as exc:
        reraise_fatal(exc)
        return {"ok": False, "skipped": f"cannot evaluate {ctx.bare}: {type(exc).__name__}"}
    subject = Subject(function, "compile", ctx.subject.user_files)
    y_true, y_pred = ctx.first_inputs
    out = subject.run(y_true, y_pred, gradient=False)
    if out.error is not None:
        return {"ok": True, "raised": subject.describe_error(out.error), "callee": ctx.bare}
    return {"ok": True, "raised": None, "callee": ctx.bare}
