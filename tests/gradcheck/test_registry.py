"""The gradient check's rule table: every rule of loss-lsp has an entry, and every entry names a
probe the worker has and a decision the verdicts know."""

from __future__ import annotations

import pytest

from loss_lsp.gradcheck import verdicts
from loss_lsp.gradcheck.registry import ON_DEMAND_CODES, RULES, on_demand_probes
from loss_lsp.rules import RULES as STATIC_RULES


def test_every_rule_has_an_entry() -> None:
    assert set(STATIC_RULES) <= set(RULES), sorted(set(STATIC_RULES) - set(RULES))
    assert set(RULES) <= set(STATIC_RULES), sorted(set(RULES) - set(STATIC_RULES))


@pytest.mark.parametrize("code", sorted(RULES))
def test_entry_is_consistent(code: str) -> None:
    from loss_lsp.gradcheck.probes import CORE, ON_DEMAND, PROBE_NAMES  # imports TensorFlow

    rule = RULES[code]
    assert rule.decide in verdicts.DECIDERS
    if rule.decide == "none":
        assert not rule.probe and rule.reason  # the user is told why nothing ran
    else:
        assert rule.probe in PROBE_NAMES
    if rule.on_demand:
        assert rule.probe in ON_DEMAND or rule.probe == "variables"
        assert code in ON_DEMAND_CODES and rule.probe in on_demand_probes({code})
    elif rule.probe:
        assert rule.probe in CORE  # always run, so no cache key needs the code
