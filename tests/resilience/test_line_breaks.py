"""Characters that ``str.splitlines`` / ``str.split`` treat as line breaks or whitespace but Python and
LSP do not: a line holding only one of them once crashed the block splitter (IndexError). Each must give
findings on the right lines, a clear syntax error where Python has one, and working fixes and suppressions.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from loss_lsp.checker import analyze
from loss_lsp.engine.fixes import apply_fixes
from loss_lsp.engine.suppression import suppress_comment

# Every character str.splitlines() breaks at besides \n and \r, plus the unit separator (\x1f), which
# str.split() takes for whitespace.
ODD = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\u2028", "\u2029"]
HEAD = "import tensorflow as tf\n"
LOSS = "\n\ndef loss(y_true, y_pred):\n    return tf.reduce_mean(tf.math.log(y_pred))\n"
LOG_LINE = 4  # 0-based line of the return once one odd line sits between HEAD and LOSS


def python_accepts(source: str) -> bool:
    try:
        compile(source, "<odd>", "exec")
    except SyntaxError:
        return False
    return True


@pytest.mark.parametrize("char", ODD, ids=[f"U+{ord(c):04X}" for c in ODD])
@pytest.mark.parametrize("where", ["alone", "leading", "trailing", "in-comment", "in-string"])
def test_odd_character_keeps_findings_on_their_lines(char: str, where: str) -> None:
    odd_line = {"alone": char, "leading": char + "x = 1", "trailing": "x = 1" + char,
                "in-comment": "# a" + char + "b", "in-string": f'x = "a{char}b"'}[where]
    source = HEAD + odd_line + LOSS
    analysis = analyze(source, "odd.py")
    assert [(f.code, f.span.start_line) for f in analysis.findings] == [("LL201", LOG_LINE)]
    syntax_errors = [e for e in analysis.errors if "syntax error" in e.message]
    assert bool(syntax_errors) != python_accepts(source), [e.message for e in analysis.errors]
    for error in syntax_errors:  # the error names the odd line, not a neighbour
        assert error.span is not None and error.span.start_line == 1
    fixed, count = apply_fixes(source, analysis.findings)
    assert count == 1 and odd_line in fixed.split("\n")
    assert analyze(fixed, "odd.py").findings == []
    lines = source.split("\n")
    lines[LOG_LINE] = suppress_comment(lines[LOG_LINE], "LL201")
    assert analyze("\n".join(lines), "odd.py").findings == []


def test_a_line_of_only_odd_characters_between_statements_of_a_function() -> None:
    source = "import tensorflow as tf\n\ndef loss(y_true, y_pred):\n    a = y_pred\n\x0b\x1c\n" \
             "    return tf.reduce_mean(tf.math.log(a))\n\n\ndef other(y_true, y_pred):\n" \
             "    return tf.reduce_mean(tf.math.log(y_pred))\n"
    analysis = analyze(source, "odd.py")
    # The function cut short by the error may also get LL402 (no return), as with any column-0 garbage.
    assert ("LL201", 9) in [(f.code, f.span.start_line) for f in analysis.findings]  # after the error
    assert any("syntax error" in e.message and "line 5" in e.message for e in analysis.errors)


def test_cli_reports_the_odd_line_and_checks_the_rest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a_odd.py").write_text(HEAD + "\x0b" + LOSS, encoding="utf-8")
    (tmp_path / "b_fs.py").write_text(HEAD + "\x1c" + LOSS, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "loss_lsp", "check", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr
    assert result.returncode == 2
    assert result.stdout.count(": LL201") == 2
    assert "U+000B" in result.stderr and "U+001C" in result.stderr
