"""``loss-lsp rule [CODE]``: the rule's page in the terminal."""

from __future__ import annotations

import sys

from loss_lsp.rules import RULES
from loss_lsp.rules.docs import render


def show_rule(code: str | None) -> int:
    if code is None:
        for rule in RULES.values():
            print(f"{rule.code}  {rule.name:<32} {rule.summary}")
        return 0
    rule = RULES.get(code.upper())
    if rule is None:
        print(f"loss-lsp: unknown rule {code!r} (run `loss-lsp rule` for the list)", file=sys.stderr)
        return 2
    print(render(rule))
    return 0
