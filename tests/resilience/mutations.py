"""Hostile variants of real loss code, shared by the fuzz tests and ``benchmarks/fuzz_engine.py``.

Everything is drawn from a ``random.Random`` handed in, so a run is reproduced from its seed (the
tests get theirs from Hypothesis, derandomised; the benchmark prints its own).
"""

from __future__ import annotations

import random

# Where str.splitlines() / str.split() disagree with Python and LSP about lines and whitespace.
LINE_SEPARATORS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
CONTROL = [chr(c) for c in range(0x01, 0x20) if chr(c) not in "\n\r"] + ["\x7f"] + [chr(c) for c in range(0x80, 0xa0)]
ODD_CHARS = LINE_SEPARATORS + CONTROL + ["\ufeff", "\u200b", "\u00a0", "\u3000", "\ud800", "\udcff", "\U0001f600"]
NEWLINES = ["\n", "\r\n", "\r"]
TOKENS = ["(", ")", ":", "    ", "\t", "y_pred", "y_true", "tf.math.log(", "lambda", "def", "class", "return",
          "**", "[", "]", "{", "}", "'", '"', '"""', "\\", ",", "=", "@", "#", "if", "else:", "tf.where(",
          "keras.ops.", "1e-7", "0", "-", "/", ".numpy()", "async", "yield", "match", "case"]


def odd_character(rng: random.Random) -> str:
    return rng.choice(ODD_CHARS)


def token_edits(source: str, rng: random.Random, edits: int) -> str:
    """Delete or insert ``edits`` tokens (code tokens, newlines, odd characters) in ``source``."""
    tokens = source.replace("(", " ( ").replace(")", " ) ").split(" ")
    for _ in range(edits):
        at = rng.randrange(len(tokens))
        roll = rng.random()
        if roll < 0.4:
            del tokens[at]
        elif roll < 0.75:
            tokens.insert(at, rng.choice(TOKENS))
        elif roll < 0.9:
            tokens.insert(at, rng.choice(NEWLINES))
        else:
            tokens.insert(at, odd_character(rng))
    return " ".join(tokens)


def odd_lines(source: str, rng: random.Random, count: int) -> str:
    """Insert lines holding odd characters (alone, leading, trailing) between the lines of ``source``."""
    lines = source.split("\n")
    for _ in range(count):
        at = rng.randrange(len(lines) + 1)
        char = odd_character(rng)
        neighbour = lines[min(at, len(lines) - 1)]
        lines.insert(at, rng.choice([char, char * rng.randint(2, 4), char + neighbour, neighbour + char]))
    return "\n".join(lines)


def mutate(source: str, rng: random.Random) -> str:
    """One hostile variant: token edits, odd lines, a truncation or a changed line ending, or several."""
    out = source
    if rng.random() < 0.6:
        out = token_edits(out, rng, rng.randint(1, 8))
    if rng.random() < 0.5:
        out = odd_lines(out, rng, rng.randint(1, 3))
    if rng.random() < 0.2:
        out = out[:rng.randrange(len(out) + 1)]
    if rng.random() < 0.2:
        out = out.replace("\n", rng.choice(NEWLINES))
    return out
