"""The engine stays pure: importing and running it loads no rule module (the checker passes them in)."""

from __future__ import annotations

import subprocess
import sys


def test_the_engine_imports_no_rules() -> None:
    code = (
        "import sys, loss_lsp.engine, loss_lsp.engine.pipeline, loss_lsp.engine.context;"
        "from loss_lsp.engine.pipeline import run;"
        "analysis = run('def loss(y_true, y_pred):\\n    return y_pred\\n', 'x.py', None, None, {});"
        "print(len(analysis.losses), sorted(m for m in sys.modules if m.startswith('loss_lsp.rules')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "[]"]
