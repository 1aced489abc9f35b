"""Probe `config`: does a `Loss` subclass survive `get_config()` / `from_config()` (LL409)?

The class is built with its numeric hyper-parameters changed from their defaults, then
rebuilt from its config the way `load_model` does; a parameter that comes back with its
default was lost on saving.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from loss_lsp.gradcheck.probes.subject import USER_ERRORS, Context, reraise_fatal


def _changed(default: Any) -> Any:
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return None
    return default * 2 + 3 if isinstance(default, int) else float(default) * 2.0 + 0.5


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.all(np.asarray(a) == np.asarray(b)))
    except (TypeError, ValueError):
        return a is b


def probe_config(ctx: Context) -> dict[str, Any]:
    cls = type(ctx.subject.obj)
    if not ctx.subject.loss_object:
        return {"ok": False, "skipped": "not a keras.losses.Loss"}
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return {"ok": False, "skipped": "no inspectable __init__"}
    changes = {name: _changed(p.default) for name, p in parameters.items()
               if name != "self" and p.default is not inspect.Parameter.empty and _changed(p.default) is not None}
    if not changes:
        return {"ok": True, "changed": {}, "lost": []}
    try:
        original = cls(**changes)
        config = original.get_config()
    except USER_ERRORS as exc:
        reraise_fatal(exc)
        return {"ok": False, "skipped": f"cannot build {cls.__name__}({changes}): {type(exc).__name__}: {exc}"}
    try:
        clone = cls.from_config(config)
    except USER_ERRORS as exc:
        reraise_fatal(exc)
        return {"ok": True, "changed": changes, "from_config_error": f"{type(exc).__name__}: {exc}"[:300],
                "lost": []}
    lost = []
    for name, value in changes.items():
        for attribute, held in vars(original).items():
            if _same(held, value) and attribute in vars(clone) and not _same(vars(clone)[attribute], value):
                lost.append({"parameter": name, "attribute": attribute, "given": value,
                             "restored": _plain(vars(clone)[attribute])})
                break
    return {"ok": True, "changed": changes, "lost": lost, "cls": cls.__name__}


def _plain(value: Any) -> Any:
    try:
        return float(np.asarray(value)) if np.asarray(value).size == 1 else repr(value)[:40]
    except (TypeError, ValueError):
        return repr(value)[:40]
