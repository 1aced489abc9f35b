"""The engine on hostile and half-typed sources: findings or a clean error, never an exception."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loss_lsp.checker import analyze

from loss_lsp.engine import Analysis
from tests.expectations import FIXTURES, fixture_files
from tests.resilience.mutations import ODD_CHARS, TOKENS, mutate, odd_lines

# Hypothesis runs derandomised here (tests/conftest.py): the same examples on every run. Every input
# that ever crashed the engine is kept in this file and checked first.
CORPUS = json.loads((Path(__file__).parent / "fuzz_corpus.json").read_text(encoding="utf-8"))
SOURCES = [p.read_text(encoding="utf-8") for p in fixture_files()]
TRIED = {"count": 0}


def check(source: str) -> Analysis:
    """The engine's contract: findings or clear errors, never an exception (its time budget is its own)."""
    TRIED["count"] += 1
    analysis = analyze(source, "fuzzed.py")
    assert all(e.message for e in analysis.errors)
    return analysis


@pytest.mark.parametrize("case", CORPUS, ids=[c["found"][:60] for c in CORPUS])
def test_every_input_that_ever_crashed(case: dict[str, str]) -> None:
    check(case["input"])


def test_truncated_at_every_character() -> None:
    source = (FIXTURES / "discovery" / "compile_forms.py").read_text(encoding="utf-8")
    for end in range(len(source) + 1):
        check(source[:end])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SOURCES))), st.randoms(use_true_random=False))
def test_mutated_fixtures(which: int, rng: random.Random) -> None:
    check(mutate(SOURCES[which], rng))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SOURCES))), st.randoms(use_true_random=False))
def test_odd_lines_in_fixtures_keep_the_findings_python_keeps(which: int, rng: random.Random) -> None:
    """A form feed line is blank to Python: the findings stay the same, moved down by the added lines."""
    source = SOURCES[which]
    lines = source.split("\n")
    at = rng.randrange(len(lines) + 1)
    if at and lines[at - 1].endswith("\\"):
        return  # a backslash continues into the next line, blank or not
    odd = "\n".join(lines[:at] + ["\x0c"] + lines[at:])
    before = {(f.code, f.span.start_line + (f.span.start_line >= at)) for f in check(source).findings}
    assert {(f.code, f.span.start_line) for f in check(odd).findings} == before
    check(odd_lines(source, rng, 2))


# Text from code tokens and every character str.splitlines/str.split disagree with Python about, mixed
# with any other character.
PIECES = st.one_of(st.sampled_from(TOKENS + ODD_CHARS + ["\n", "\r\n", "\r"]), st.characters())


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=120).map("".join))
@example("x = 1\n\x0b\n")  # issue 11 item 9: IndexError in the block splitter
@example("x = 1\n\x1c\n")
def test_arbitrary_text(text: str) -> None:
    check(text)


LOSS = "import tensorflow as tf\n\n\ndef loss(y_true, y_pred):\n    return {}\n"


def test_deep_nesting() -> None:
    for depth in (100, 300, 1000, 5000):
        check(LOSS.format("(" * depth + "y_pred" + ")" * depth))
        check(LOSS.format("tf.abs(" * depth + "y_pred" + ")" * depth))
        check(LOSS.format(" + ".join(["y_pred"] * depth)))
        check(LOSS.format("[" * depth + "]" * depth))
    nested = "def loss(y_true, y_pred):\n" + "".join("    " * (i + 1) + "if y_pred:\n" for i in range(100))
    check(nested + "    " * 101 + "return y_pred\n")


def test_huge_literals_and_odd_bytes() -> None:
    check(LOSS.format("tf.math.log(y_pred) * " + "9" * 100_000))
    check(LOSS.format("'" + "x" * 1_000_000 + "'"))
    check(LOSS.format("[" + ", ".join(["1.0"] * 50_000) + "]"))
    check("\ufeff" + LOSS.format("tf.math.log(y_pred)"))
    check(LOSS.format("tf.math.log(y_pred)").replace("\n", "\r\n"))
    check(LOSS.format("tf.math.log(y_pred)").replace("\n", "\r"))
    check(LOSS.format("tf.math.log(y_pred)").replace("    ", "\t", 1))
    check(LOSS.format("tf.math.log(y_pred)") + "\x00garbage")
    check("def ľoss(y_true, y_pred):\n    ŷ = y_pred\n    return tf.math.log(ŷ)\n")
    check("\n" * 10_000 + LOSS.format("y_pred"))


def test_bom_crlf_and_lone_cr_keep_their_findings() -> None:
    base = LOSS.format("tf.math.log(y_pred)")
    for variant in (base, "\ufeff" + base, base.replace("\n", "\r\n"), base.replace("\n", "\r")):
        [finding] = check(variant).findings
        assert (finding.code, finding.span.start_line, finding.span.start_col) == ("LL201", 4, 11)


def test_report_how_many_inputs_were_tried() -> None:
    # Runs last in this module: the figure goes to the test log (-rA / -s) for the closing note.
    print(f"\nfuzzed sources analysed in this module: {TRIED['count']}")
    assert TRIED["count"] > 500


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_fixes_keep_a_parsing_file_parsing(newline: str) -> None:
    """Every fix of every fixture, safe and unsafe, applied together, in each line-ending style."""
    import ast

    from loss_lsp.engine.fixes import apply_fixes

    applied = 0
    for path, source in zip(fixture_files(), SOURCES):
        text = ("\x0c\n" + source).replace("\n", newline)  # a page break first: blank to Python
        try:
            ast.parse(text)
        except SyntaxError:
            continue  # the fixtures of syntax errors
        fixed, count = apply_fixes(text, check(text).findings, unsafe=True)
        applied += count
        ast.parse(fixed, filename=str(path))
        assert newline == "\n" or "\n" not in fixed.replace(newline, "")  # no mixed line endings
    assert applied > 50
