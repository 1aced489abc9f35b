"""The engine on hostile and half-typed sources: findings or a clean error, never an exception."""

from __future__ import annotations

import random
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loss_lsp.checker import analyze

from loss_lsp.engine import Analysis
from tests.expectations import FIXTURES, fixture_files

SOURCES = [p.read_text(encoding="utf-8") for p in fixture_files()]
TRIED = {"count": 0}


def check(source: str) -> Analysis:
    TRIED["count"] += 1
    started = time.monotonic()
    analysis = analyze(source, "fuzzed.py")
    assert time.monotonic() - started < 30, "analysis must stay within its budget"
    assert all(e.message for e in analysis.errors)
    return analysis


def test_truncated_at_every_character() -> None:
    source = (FIXTURES / "discovery" / "compile_forms.py").read_text(encoding="utf-8")
    for end in range(len(source) + 1):
        check(source[:end])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SOURCES))), st.randoms(use_true_random=False))
def test_random_token_deletions_and_insertions(which: int, rng: random.Random) -> None:
    tokens = SOURCES[which].replace("(", " ( ").replace(")", " ) ").split(" ")
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(tokens))
        if rng.random() < 0.5:
            del tokens[at]
        else:
            tokens.insert(at, rng.choice(["(", ")", ":", "\n", "    ", "y_pred", "tf.math.log(", "lambda",
                                          "def", "return", "**", "[", "'", '"""', "\\", "\t", "\r"]))
    check(" ".join(tokens))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
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
