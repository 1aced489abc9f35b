"""Fault injection for tests/server/test_faults.py (loaded only by that test's server, via PYTHONPATH).

* LOSS_LSP_TEST_BROKEN_RULE=LL102: that rule's check raises, as a rule with a bug would.
* LOSS_LSP_TEST_NO_GRADCHECK=1: the gradient check's implementation cannot be imported,
  as in an installation without it.
* LOSS_LSP_TEST_NO_TENSORFLOW=1: TensorFlow is not installed for the server's Python.
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

if os.environ.get("LOSS_LSP_TEST_NO_TENSORFLOW"):
    sys.modules["tensorflow"] = None  # find_spec() answers None, import raises ImportError

if os.environ.get("LOSS_LSP_TEST_BROKEN_RULE"):
    import dataclasses

    from loss_lsp.rules import RULES

    def _broken(ctx):
        raise RuntimeError("injected fault in a rule")

    code = os.environ["LOSS_LSP_TEST_BROKEN_RULE"]
    RULES[code] = dataclasses.replace(RULES[code], check=_broken)

# * LOSS_LSP_TEST_BROKEN_LOSS=name: the engine raises while analysing the loss of that name, as an
#   engine bug on one loss would (the other losses of the file must still be reported).
# * LOSS_LSP_TEST_BROKEN_FILE=marker: the whole analysis of a file containing the marker raises.
if os.environ.get("LOSS_LSP_TEST_BROKEN_LOSS") or os.environ.get("LOSS_LSP_TEST_BROKEN_FILE"):
    import importlib

    _analyze_module = importlib.import_module("loss_lsp.engine.pipeline")

    _broken_loss = os.environ.get("LOSS_LSP_TEST_BROKEN_LOSS", "")
    _broken_file = os.environ.get("LOSS_LSP_TEST_BROKEN_FILE", "")
    _real_shapes_for, _real_build_module = _analyze_module._shapes_for, _analyze_module.build_module

    def _shapes_for(module, loss, settings):
        if loss.name == _broken_loss:
            raise RuntimeError(f"injected fault in the engine on {loss.name}")
        return _real_shapes_for(module, loss, settings)

    def _build_module(path, lines, blocks):
        if _broken_file and any(_broken_file in line for line in lines):
            raise RuntimeError("injected fault in the engine on the whole file")
        return _real_build_module(path, lines, blocks)

    _analyze_module._shapes_for = _shapes_for
    _analyze_module.build_module = _build_module
