"""The rule set: one module per rule, each declaring ``RULE`` (metadata + check).

``RULES`` maps codes to rules in code order; the engine, the docs generator, the
server's hover and the CLI all read it from here.
"""

from __future__ import annotations

import importlib
import pkgutil

from loss_lsp.rules.rule import Rule


def _load() -> dict[str, Rule]:
    found: dict[str, Rule] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("ll"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        rule: Rule = module.RULE
        if not info.name.startswith(rule.code.lower()):
            raise RuntimeError(f"rule module {info.name} declares {rule.code}")
        found[rule.code] = rule
    return dict(sorted(found.items()))


RULES: dict[str, Rule] = _load()

__all__ = ["RULES", "Rule"]
