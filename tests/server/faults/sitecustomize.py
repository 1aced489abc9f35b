"""Fault injection for tests/server/test_faults.py (loaded only by that test's server, via PYTHONPATH).

* LOSS_LSP_TEST_BROKEN_RULE=LL102: that rule's check raises, as a rule with a bug would.
* LOSS_LSP_TEST_NO_GRADCHECK=1: the gradient check's implementation cannot be imported,
  as in an installation without it.
"""

import importlib.abc
import os
import sys

if os.environ.get("LOSS_LSP_TEST_NO_GRADCHECK"):

    class _NoGradientCheck(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "loss_lsp.gradcheck.checker":
                raise ImportError("loss_lsp.gradcheck.checker is not installed (test fault)")

    sys.meta_path.insert(0, _NoGradientCheck())

if os.environ.get("LOSS_LSP_TEST_BROKEN_RULE"):
    import dataclasses

    from loss_lsp.rules import RULES

    def _broken(ctx):
        raise RuntimeError("injected fault in a rule")

    code = os.environ["LOSS_LSP_TEST_BROKEN_RULE"]
    RULES[code] = dataclasses.replace(RULES[code], check=_broken)
